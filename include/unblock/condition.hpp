/// \file condition.hpp
/// `condition`: asyncio.Condition for the tasks of one loop.
#pragma once

#include "detail/loop/cancellable_wait.hpp"
#include "detail/sync/waiter_list.hpp"
#include "errors.hpp"
#include "lock.hpp"
#include "task.hpp"

#include <coroutine>
#include <cstddef>
#include <exception>
#include <string>
#include <type_traits>

namespace unblock {

class condition;

namespace detail {

/// The wait for a notification inside `condition::wait()`. Cancellable per
/// detail::cancellable_wait; a waiter notified and then cancelled before it
/// resumed passes the notification to the next waiter (as asyncio 3.13 does).
class condition_wait_awaiter final : waiter_node, cancellable_wait {
public:
    explicit condition_wait_awaiter(condition& owner) noexcept : m_condition(&owner) {}
    condition_wait_awaiter(const condition_wait_awaiter&) = delete;
    condition_wait_awaiter& operator=(const condition_wait_awaiter&) = delete;

    bool await_ready() const noexcept { return false; }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) noexcept;

    void await_resume() {
        end_wait();
        throw_if_cancelled();
    }

private:
    void on_cancel() noexcept override;

    condition* m_condition;
};

} // namespace detail

/// Lets tasks of one event loop wait until another notifies them, under a
/// `lock` (asyncio.Condition).
///
/// `co_await wait()` must be called holding the lock: it releases it, waits
/// for `notify()` (first-in first-out), and takes the lock again before it
/// returns or throws — also when the task is cancelled, so the caller holds
/// the lock in every case. `wait_for(pred)` waits until `pred()` is true.
/// `notify(n)` and `notify_all()` also need the lock held. Misuse throws
/// `invalid_state_error`. The condition uses its own lock, or one given to
/// the constructor (which must outlive it). Loop thread only, as every
/// primitive of the loop.
///
///     auto guard = co_await cond.scoped();
///     co_await cond.wait_for([&] { return !items.empty(); });
class condition {
public:
    /// A condition with a lock of its own.
    condition() noexcept : m_lock(&m_own_lock) {}
    /// A condition over `shared`, which several conditions may share.
    explicit condition(lock& shared) noexcept : m_lock(&shared) {}
    condition(const condition&) = delete;
    condition& operator=(const condition&) = delete;

    /// The lock's acquire(): see `lock`.
    [[nodiscard]] detail::acquire_awaiter<false> acquire() noexcept { return m_lock->acquire(); }
    /// The lock's scoped(): a `release_guard` (asyncio's `async with cond:`).
    [[nodiscard]] detail::acquire_awaiter<true> scoped() noexcept { return m_lock->scoped(); }
    /// The lock's release().
    void release() { m_lock->release(); }
    /// True while the lock is held.
    [[nodiscard]] bool locked() const noexcept { return m_lock->locked(); }

    /// Releases the lock, waits for a notification, takes the lock again.
    /// Throws `invalid_state_error` if the lock is not held, `cancelled_error`
    /// (holding the lock) if the task is cancelled.
    [[nodiscard]] task<> wait() {
        require_lock("unblock::condition::wait()");
        m_lock->release();
        std::exception_ptr failure;
        try {
            co_await detail::condition_wait_awaiter(*this);
        } catch (...) {
            failure = std::current_exception();
        }
        // Take the lock back whatever happened; a cancel arriving meanwhile is
        // kept for after it (asyncio does the same).
        for (;;) {
            try {
                co_await m_lock->acquire();
                break;
            } catch (const cancelled_error&) {
                if (!failure) failure = std::current_exception();
            }
        }
        if (failure) std::rethrow_exception(failure);
    }

    /// Waits until `predicate()` is true (checked first, then after each
    /// notification), holding the lock as for wait(); returns its last value.
    template <class Predicate>
    [[nodiscard]] task<std::invoke_result_t<Predicate&>> wait_for(Predicate predicate) {
        auto result = predicate();
        while (!result) {
            co_await wait();
            result = predicate();
        }
        co_return result;
    }

    /// Wakes up to `n` waiting tasks, first come first; needs the lock held.
    void notify(std::size_t n = 1) {
        event_loop& loop = require_lock("unblock::condition::notify()");
        grant(loop, n);
    }
    /// Wakes every waiting task; needs the lock held.
    void notify_all() {
        event_loop& loop = require_lock("unblock::condition::notify_all()");
        while (m_waiters.grant_first(loop)) {
        }
    }

private:
    friend class detail::condition_wait_awaiter;

    event_loop& require_lock(const char* what) {
        event_loop& loop = m_binding.check(what);
        if (!m_lock->locked()) {
            throw invalid_state_error(std::string(what) +
                                      ": the condition's lock is not held; take it first: "
                                      "auto guard = co_await cond.scoped();");
        }
        return loop;
    }

    void grant(event_loop& loop, std::size_t n) noexcept {
        for (; n > 0 && m_waiters.grant_first(loop); --n) {
        }
    }

    lock m_own_lock;
    lock* m_lock;
    detail::waiter_list m_waiters;
    detail::loop_binding m_binding;
};

namespace detail {

template <class Promise>
void condition_wait_awaiter::await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
    task_state* task = task_of(awaiting);
    m_condition->m_waiters.push(*this, awaiting, task);
    begin_wait(task);
}

inline void condition_wait_awaiter::on_cancel() noexcept {
    event_loop& loop = m_condition->m_binding.loop();
    if (!waiter_list::withdraw(loop, *this)) m_condition->grant(loop, 1); // pass it on
}

} // namespace detail

} // namespace unblock
