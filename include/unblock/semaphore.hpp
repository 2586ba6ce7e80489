/// \file semaphore.hpp
/// `semaphore` and `bounded_semaphore`: asyncio.Semaphore and
/// asyncio.BoundedSemaphore for the tasks of one loop.
#pragma once

#include "detail/sync/permit_pool.hpp"
#include "errors.hpp"

#include <cstddef>
#include <string>

namespace unblock {

/// A counter of permits for the tasks of one event loop (asyncio.Semaphore).
///
/// `co_await acquire()` takes a permit, waiting first-in first-out while none
/// is free; `release()` gives one back (also more than were taken). No OS
/// lock: every call is made on the loop's thread; the object binds to the
/// loop that first uses it, and a call from another thread or loop throws
/// `invalid_state_error`. A task cancelled while waiting leaves the queue and
/// holds no permit. `co_await scoped()` acquires and returns a
/// `release_guard` (asyncio's `async with sem:`).
///
///     unblock::semaphore slots(4);
///     auto guard = co_await slots.scoped(); // at most 4 tasks past this line
class semaphore {
public:
    explicit semaphore(std::size_t value = 1) noexcept : m_pool(value) {}
    semaphore(const semaphore&) = delete;
    semaphore& operator=(const semaphore&) = delete;

    /// Waits for a permit and takes it; throws `cancelled_error` holding none.
    [[nodiscard]] detail::acquire_awaiter<false> acquire() noexcept {
        return {m_pool, "unblock::semaphore::acquire()"};
    }
    /// Like acquire(), and yields a guard that releases the permit.
    [[nodiscard]] detail::acquire_awaiter<true> scoped() noexcept {
        return {m_pool, "unblock::semaphore::scoped()"};
    }
    /// Gives a permit back; the first waiter gets it.
    void release() {
        m_pool.binding().check("unblock::semaphore::release()");
        m_pool.give_back();
    }
    /// True when an acquire() would wait.
    [[nodiscard]] bool locked() const noexcept { return m_pool.free_permits() == 0; }
    /// The free permits.
    [[nodiscard]] std::size_t value() const noexcept { return m_pool.free_permits(); }

private:
    detail::permit_pool m_pool;
};

/// A semaphore that refuses to be released above its initial value
/// (asyncio.BoundedSemaphore): such a `release()` throws `invalid_state_error`,
/// as asyncio raises ValueError: it finds a release without an acquire.
class bounded_semaphore {
public:
    explicit bounded_semaphore(std::size_t value = 1) noexcept : m_pool(value), m_bound(value) {}
    bounded_semaphore(const bounded_semaphore&) = delete;
    bounded_semaphore& operator=(const bounded_semaphore&) = delete;

    /// Waits for a permit and takes it; throws `cancelled_error` holding none.
    [[nodiscard]] detail::acquire_awaiter<false> acquire() noexcept {
        return {m_pool, "unblock::bounded_semaphore::acquire()"};
    }
    /// Like acquire(), and yields a guard that releases the permit.
    [[nodiscard]] detail::acquire_awaiter<true> scoped() noexcept {
        return {m_pool, "unblock::bounded_semaphore::scoped()"};
    }
    /// Gives a permit back; throws `invalid_state_error` if none is taken.
    void release() {
        m_pool.binding().check("unblock::bounded_semaphore::release()");
        if (m_pool.free_permits() >= m_bound) {
            throw invalid_state_error(
                "unblock::bounded_semaphore::release(): released more often than acquired (all " +
                std::to_string(m_bound) +
                " permits are already free); call release() once per successful acquire(), or "
                "hold the permit in a release_guard (co_await sem.scoped())");
        }
        m_pool.give_back();
    }
    /// True when an acquire() would wait.
    [[nodiscard]] bool locked() const noexcept { return m_pool.free_permits() == 0; }
    /// The free permits.
    [[nodiscard]] std::size_t value() const noexcept { return m_pool.free_permits(); }

private:
    detail::permit_pool m_pool;
    std::size_t m_bound;
};

} // namespace unblock
