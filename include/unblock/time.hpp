/// \file time.hpp
/// `sleep` and `wait_for`.
#pragma once

#include "detail/deadline.hpp"
#include "detail/loop/cancellable_wait.hpp"
#include "event_loop.hpp"

#include <chrono>

namespace unblock {

namespace detail {

/// Suspends a task for a duration; `sleep(0s)` yields to the other ready tasks.
/// Cancellable (detail::cancellable_wait's policy): a cancelled sleep resumes
/// in the next iteration and throws. Awaitable once, like the coroutine
/// asyncio.sleep returns: a second `co_await` of the same object throws
/// `invalid_state_error`. Movable until awaited, so a sleep can be handed to
/// `create_task`, `wait_for` or `gather`.
///
/// Every sleeping task's frame holds one, so it is kept small: the loop and
/// the task are not stored twice, and the delay waits in the deadline field
/// until `await_suspend` turns it into the deadline.
class sleep_awaiter final : timer_node, cancellable_wait {
public:
    explicit sleep_awaiter(std::chrono::steady_clock::duration delay) noexcept : timer_node(&wake) {
        m_deadline = std::chrono::steady_clock::time_point(delay);
    }
    sleep_awaiter(sleep_awaiter&& other) noexcept : timer_node(&wake) {
        m_deadline = other.m_deadline;
        m_awaiting = other.m_awaiting; // a used-up sleep stays used up
    }
    sleep_awaiter& operator=(sleep_awaiter&&) = delete;

    bool await_ready() const noexcept { return false; }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) {
        if (m_awaiting) {
            throw invalid_state_error(
                "unblock::sleep(): this sleep was already awaited, and its delay is used up; "
                "await a new one: co_await unblock::sleep(d) inside the loop");
        }
        m_task = task_of(awaiting); // the waiting task, if it is ours (loop_node::m_task)
        event_loop& loop = loop_of(m_task);
        const auto delay = m_deadline.time_since_epoch();
        if (delay > std::chrono::steady_clock::duration::zero()) {
            // The timer first: if it cannot be added, nothing refers to this awaiter yet.
            loop_access::add_timer(loop, this, saturating_deadline(loop.time(), delay));
        } else {
            loop_access::schedule(loop, this);
        }
        m_awaiting = awaiting;
        begin_wait(m_task);
    }

    void await_resume() {
        end_wait();
        throw_if_cancelled();
    }

private:
    static void wake(loop_node* node) noexcept {
        static_cast<sleep_awaiter*>(node)->m_awaiting.resume();
    }

    /// The loop of `task`, else this thread's running loop.
    static event_loop& loop_of(task_state* task) {
        return task && task->m_loop ? *task->m_loop : get_running_loop();
    }

    void on_cancel() noexcept override {
        // Still on the timer heap: resume now. Already in the ready queue: it
        // resumes anyway and throws. Only a task cancels, so m_task is set;
        // its loop is null only once that loop is destroyed, and then there
        // is no heap to take the timer from.
        if (event_loop* loop = m_task->m_loop; loop && loop_access::remove_timer(*loop, this)) {
            loop_access::schedule(*loop, this);
        }
    }

    std::coroutine_handle<> m_awaiting;
};

} // namespace detail

/// Suspends the calling task for `delay` (asyncio.sleep). `sleep(0s)` lets the
/// other ready tasks run first. Throws `cancelled_error` if the task is cancelled.
///
///     co_await unblock::sleep(100ms);
template <class Rep, class Period>
[[nodiscard]] detail::sleep_awaiter sleep(std::chrono::duration<Rep, Period> delay) noexcept {
    return detail::sleep_awaiter(
        detail::saturating_ceil<std::chrono::steady_clock::duration>(delay));
}

/// Runs `awaitable` as its own task and waits at most `timeout` (asyncio.wait_for).
///
/// Returns its value or rethrows its exception. On timeout the inner work is
/// cancelled, `wait_for` waits until it has actually stopped (so nothing it
/// references is used after), then throws `timeout_error`. If the caller is
/// cancelled, the inner work is cancelled the same way and `cancelled_error`
/// propagates.
///
///     int v = co_await unblock::wait_for(fetch(), 2s);
template <class A, class Rep, class Period>
auto wait_for(A awaitable, std::chrono::duration<Rep, Period> timeout)
    -> task<detail::await_result_t<A>> {
    auto inner = create_task(std::move(awaitable));
    co_return co_await inner.wait_for(
        detail::saturating_ceil<std::chrono::steady_clock::duration>(timeout));
}

} // namespace unblock
