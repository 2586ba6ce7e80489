/// \file lock.hpp
/// `lock`: asyncio.Lock for the tasks of one loop.
#pragma once

#include "detail/sync/permit_pool.hpp"
#include "errors.hpp"

namespace unblock {

/// Mutual exclusion between the tasks of one event loop (asyncio.Lock).
///
/// `co_await acquire()` waits first-in first-out until the lock is free and
/// takes it; `release()` frees it and hands it to the first waiter. No owner
/// is recorded (as in asyncio, any task may release). No OS lock: calls are
/// made on the loop's thread; the lock binds to the loop that first uses it,
/// and a call from another thread or loop throws `invalid_state_error`. A task
/// cancelled while waiting leaves the queue without the lock.
///
/// asyncio's `async with lock:` is `co_await lock.scoped()`, which returns a
/// `release_guard` that releases when it goes out of scope:
///
///     unblock::lock mutex;
///     {
///         auto guard = co_await mutex.scoped();
///         co_await update_shared_state();
///     } // released here, even if update_shared_state() threw
class lock {
public:
    lock() noexcept : m_pool(1) {}
    lock(const lock&) = delete;
    lock& operator=(const lock&) = delete;

    /// Waits until the lock is free and takes it; throws `cancelled_error` without it.
    [[nodiscard]] detail::acquire_awaiter<false> acquire() noexcept {
        return {m_pool, "unblock::lock::acquire()"};
    }
    /// Like acquire(), and yields a guard that releases the lock.
    [[nodiscard]] detail::acquire_awaiter<true> scoped() noexcept {
        return {m_pool, "unblock::lock::scoped()"};
    }
    /// Frees the lock (the first waiter gets it); throws `invalid_state_error` if it is not locked.
    void release() {
        m_pool.binding().check("unblock::lock::release()");
        if (!locked()) {
            throw invalid_state_error(
                "unblock::lock::release(): the lock is not locked; release it once per "
                "acquire(), or hold it in a release_guard (co_await lock.scoped())");
        }
        m_pool.give_back();
    }
    /// True while some task holds the lock.
    [[nodiscard]] bool locked() const noexcept { return m_pool.free_permits() == 0; }

private:
    detail::permit_pool m_pool;
};

} // namespace unblock
