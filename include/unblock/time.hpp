/// \file time.hpp
/// `sleep`, `sleep_until` and `wait_for`.
#pragma once

#include "detail/deadline.hpp"
#include "detail/loop/cancellable_wait.hpp"
#include "event_loop.hpp"

#include <chrono>
#include <optional>
#include <type_traits>

namespace unblock {

namespace detail {

/// Suspends a task for a duration, or until a deadline with `absolute`;
/// `sleep(0s)` and a deadline already past let the other ready tasks run first.
/// Cancellable (detail::cancellable_wait's policy): a cancelled sleep resumes
/// in the next iteration and throws. Awaitable once, like the coroutine
/// asyncio.sleep returns: a second `co_await` of the same object throws
/// `invalid_state_error`. Movable until awaited, so a sleep can be handed to
/// `create_task`, `wait_for` or `gather`.
///
/// Every sleeping task's frame holds one, so it is kept small: the loop and
/// the task are not stored twice, and a relative delay waits in the deadline
/// field until `await_suspend` turns it into the deadline.
template <bool absolute>
class basic_sleep_awaiter final : timer_node, cancellable_wait {
public:
    /// A delay (`absolute` false) stored as a time point since the epoch, or the deadline.
    explicit basic_sleep_awaiter(std::chrono::steady_clock::time_point when) noexcept
        : timer_node(&wake) {
        m_deadline = when;
    }
    basic_sleep_awaiter(basic_sleep_awaiter&& other) noexcept : timer_node(&wake) {
        m_deadline = other.m_deadline;
        m_awaiting = other.m_awaiting; // a used-up sleep stays used up
    }
    basic_sleep_awaiter& operator=(basic_sleep_awaiter&&) = delete;

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
        if (const auto deadline = deadline_from(loop)) {
            // The timer first: if it cannot be added, nothing refers to this awaiter yet.
            loop_access::add_timer(loop, this, *deadline);
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
    /// The deadline to wait for, or nothing to just yield (no clock read for
    /// `sleep(0s)`). A deadline already past still goes through the timer heap,
    /// so due timers and callbacks run in deadline order however late the loop is.
    std::optional<std::chrono::steady_clock::time_point>
    deadline_from([[maybe_unused]] const event_loop& loop) const {
        if constexpr (absolute) {
            return m_deadline;
        } else {
            const auto delay = m_deadline.time_since_epoch();
            if (delay > std::chrono::steady_clock::duration::zero())
                return saturating_deadline(loop.time(), delay);
        }
        return std::nullopt;
    }

    static void wake(loop_node* node) noexcept {
        static_cast<basic_sleep_awaiter*>(node)->m_awaiting.resume();
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

using sleep_awaiter = basic_sleep_awaiter<false>;
using sleep_until_awaiter = basic_sleep_awaiter<true>;

} // namespace detail

/// Suspends the calling task for `delay` (asyncio.sleep). `sleep(0s)` lets the
/// other ready tasks run first. Throws `cancelled_error` if the task is cancelled.
///
///     co_await unblock::sleep(100ms);
template <class Rep, class Period>
[[nodiscard]] detail::sleep_awaiter sleep(std::chrono::duration<Rep, Period> delay) noexcept {
    return detail::sleep_awaiter(std::chrono::steady_clock::time_point(
        detail::saturating_ceil<std::chrono::steady_clock::duration>(delay)));
}

/// Suspends the calling task until `deadline`, a time point of the loop's
/// clock (`std::chrono::steady_clock`, `loop.time()`). A deadline already
/// past yields like `sleep(0s)`; `time_point::max()` means never. Throws
/// `cancelled_error` if the task is cancelled. A ticker that adds its period
/// to the previous deadline does not drift, however late each step wakes:
///
///     auto next = unblock::get_running_loop().time();
///     for (;;) { next += 100ms; co_await unblock::sleep_until(next); tick(); }
template <class Clock, class Duration>
[[nodiscard]] detail::sleep_until_awaiter
sleep_until(std::chrono::time_point<Clock, Duration> deadline) noexcept {
    static_assert(std::is_same_v<Clock, std::chrono::steady_clock>,
                  "unblock::sleep_until: the deadline must be a time point of the loop's clock, "
                  "std::chrono::steady_clock (event_loop::clock); loop.time() + d gives one");
    return detail::sleep_until_awaiter(std::chrono::steady_clock::time_point(
        detail::saturating_ceil<std::chrono::steady_clock::duration>(deadline.time_since_epoch())));
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
template <class Awaitable, class Rep, class Period>
auto wait_for(Awaitable awaitable, std::chrono::duration<Rep, Period> timeout)
    -> task<detail::await_result_t<Awaitable>> {
    auto inner = create_task(std::move(awaitable));
    co_return co_await inner.wait_for(
        detail::saturating_ceil<std::chrono::steady_clock::duration>(timeout));
}

} // namespace unblock
