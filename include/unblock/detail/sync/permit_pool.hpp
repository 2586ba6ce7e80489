/// \file detail/sync/permit_pool.hpp
/// The counter of permits behind `semaphore`, `bounded_semaphore`, `lock` and
/// `capacity_limiter`, its `co_await acquire()` awaiter and `release_guard`.
#pragma once

#include "../../errors.hpp"
#include "../../event_loop.hpp"
#include "../loop/cancellable_wait.hpp"
#include "waiter_list.hpp"

#include <coroutine>
#include <cstddef>
#include <utility>

namespace unblock {

namespace detail {

/// Free permits and the FIFO of tasks waiting for one. A permit given back
/// goes to the first waiter at once (it is granted, not grabbed on wake-up),
/// so waiters are served strictly in order and a later `acquire()` that finds
/// waiters queues behind them. Loop thread only.
class permit_pool {
public:
    explicit permit_pool(std::size_t permits) noexcept : m_free(permits) {}
    permit_pool(const permit_pool&) = delete;
    permit_pool& operator=(const permit_pool&) = delete;

    /// Takes a permit if one is free and nobody waits; checks the loop (`what` names the call).
    bool try_take(const char* what) {
        m_binding.check(what);
        if (m_free == 0 || !m_waiters.empty()) return false;
        --m_free;
        return true;
    }

    /// Gives a permit back, granting it to the first waiter if there is one. Bound loop's thread.
    void give_back() noexcept {
        ++m_free;
        while (m_free > 0 && m_waiters.grant_first(m_binding.loop()))
            --m_free;
    }

    [[nodiscard]] std::size_t free_permits() const noexcept { return m_free; }
    loop_binding& binding() noexcept { return m_binding; }
    waiter_list& waiters() noexcept { return m_waiters; }

private:
    std::size_t m_free;
    waiter_list m_waiters;
    loop_binding m_binding;
};

} // namespace detail

/// Gives a permit back (`release()`) when destroyed: what `co_await x.scoped()`
/// returns for a `lock`, `semaphore` or `capacity_limiter`; C++'s counterpart of
/// asyncio's `async with x:`. Move-only; destroy it on the loop's thread.
///
///     {
///         auto guard = co_await mutex.scoped(); // async with mutex:
///         co_await write_both_files();
///     }                                         // released here, even on an exception
class [[nodiscard]] release_guard {
public:
    explicit release_guard(detail::permit_pool& pool) noexcept : m_pool(&pool) {}
    release_guard(release_guard&& other) noexcept : m_pool(std::exchange(other.m_pool, nullptr)) {}
    release_guard& operator=(release_guard&& other) noexcept {
        if (this != &other) {
            release();
            m_pool = std::exchange(other.m_pool, nullptr);
        }
        return *this;
    }
    ~release_guard() { release(); }

    /// Releases now rather than at destruction; does nothing the second time.
    void release() noexcept {
        if (m_pool != nullptr) std::exchange(m_pool, nullptr)->give_back();
    }

    /// True until released.
    [[nodiscard]] bool owns_permit() const noexcept { return m_pool != nullptr; }

private:
    detail::permit_pool* m_pool;
};

namespace detail {

/// `co_await x.acquire()` (`scoped` false) or `co_await x.scoped()` (true:
/// yields a `release_guard`). Does not suspend when a permit is free and
/// nobody waits (asyncio: no yield either). Cancellable per
/// detail::cancellable_wait: a cancelled waiter leaves the FIFO; one cancelled
/// after a permit was granted to it gives the permit to the next waiter; either
/// way the await throws `cancelled_error` and holds no permit.
template <bool scoped>
class acquire_awaiter final : waiter_node, cancellable_wait {
public:
    acquire_awaiter(permit_pool& pool, const char* what) noexcept : m_pool(&pool), m_what(what) {}
    acquire_awaiter(acquire_awaiter&& other) noexcept
        : m_pool(other.m_pool), m_what(other.m_what) {}
    acquire_awaiter& operator=(acquire_awaiter&&) = delete;

    bool await_ready() { return m_pool->try_take(m_what); }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
        task_state* task = task_of(awaiting);
        m_pool->waiters().push(*this, awaiting, task);
        begin_wait(task);
    }

    auto await_resume() {
        end_wait();
        throw_if_cancelled();
        if constexpr (scoped) return release_guard(*m_pool);
    }

private:
    void on_cancel() noexcept override {
        if (!waiter_list::withdraw(m_pool->binding().loop(), *this)) m_pool->give_back();
    }

    permit_pool* m_pool;
    const char* m_what;
};

} // namespace detail

} // namespace unblock
