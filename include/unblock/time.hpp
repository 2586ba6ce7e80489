/// \file time.hpp
/// `sleep` and `wait_for`.
#pragma once

#include "event_loop.hpp"

#include <chrono>

namespace unblock {

namespace detail {

/// Suspends a task for a duration; `sleep(0s)` yields to the other ready tasks.
/// Cancellable: a cancelled sleep resumes in the next iteration and throws.
/// Awaitable once, like the coroutine asyncio.sleep returns: a second
/// `co_await` of the same object throws `invalid_state_error`.
///
/// Every sleeping task's frame holds one, so it is kept small (W5's bytes per
/// task): the loop and the task are not stored twice, and the delay waits in
/// the deadline field until `await_suspend` turns it into the deadline.
class sleep_awaiter final : timer_node, cancel_hook {
public:
    explicit sleep_awaiter(std::chrono::steady_clock::duration delay) noexcept : timer_node(&wake) {
        m_deadline = std::chrono::steady_clock::time_point(delay);
    }

    bool await_ready() const noexcept { return false; }

    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> awaiting) {
        if (m_awaiting) {
            throw invalid_state_error(
                "unblock::sleep(): this sleep was already awaited, and its delay is used up; "
                "await a new one: co_await unblock::sleep(d) inside the loop");
        }
        m_task = task_of(awaiting); // the waiting task, if it is ours (loop_node::m_task)
        event_loop& loop = loop_of(m_task);
        m_awaiting = awaiting;
        // The timer first: if it cannot be added, nothing refers to this awaiter yet.
        const auto delay = m_deadline.time_since_epoch();
        const bool timed = delay > std::chrono::steady_clock::duration::zero();
        if (timed) loop.add_timer(this, loop.time() + delay);
        if (m_task && !m_task->begin_wait(this)) {
            if (timed) loop.remove_timer(this);
            m_cancelled = true;
            return false;
        }
        if (!timed) loop.schedule(this);
        return true;
    }

    void await_resume() const {
        if (m_task) m_task->end_wait();
        if (m_cancelled) throw cancelled_error();
    }

private:
    static void wake(loop_node* node) noexcept {
        static_cast<sleep_awaiter*>(node)->m_awaiting.resume();
    }

    /// The loop of `task`, else this thread's running loop.
    static event_loop& loop_of(task_state* task) {
        return task && task->m_loop ? *task->m_loop : get_running_loop();
    }

    bool cancel() noexcept override {
        if (m_cancelled) return true;
        m_cancelled = true;
        // Still on the timer heap: resume now. Already in the ready queue: it
        // resumes anyway and sees the flag. Only a task cancels, so m_task is
        // set; its loop is null only once that loop is destroyed, and then
        // there is no heap to take the timer from.
        if (event_loop* loop = m_task->m_loop; loop && loop->remove_timer(this)) {
            loop->schedule(this);
        }
        return true;
    }

    std::coroutine_handle<> m_awaiting;
    bool m_cancelled = false;
};

} // namespace detail

/// Suspends the calling task for `delay` (asyncio.sleep). `sleep(0s)` lets the
/// other ready tasks run first. Throws `cancelled_error` if the task is cancelled.
///
///     co_await unblock::sleep(100ms);
template <class Rep, class Period>
[[nodiscard]] detail::sleep_awaiter sleep(std::chrono::duration<Rep, Period> delay) noexcept {
    return detail::sleep_awaiter(std::chrono::ceil<std::chrono::steady_clock::duration>(delay));
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
        std::chrono::ceil<std::chrono::steady_clock::duration>(timeout));
}

} // namespace unblock
