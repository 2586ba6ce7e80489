/// \file timeout.hpp
/// `timeout` / `timeout_at`: a deadline for a block of work that can be moved
/// while it runs (asyncio.timeout, asyncio.timeout_at; Trio's fail_after).
#pragma once

#include "detail/deadline.hpp"
#include "detail/loop/task_state.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "join_handle.hpp"

#include <chrono>
#include <concepts>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

namespace unblock {

class timeout_scope;

namespace detail {
template <class Result, class Body>
task<Result> run_timeout(std::chrono::steady_clock::time_point deadline, Body body);
} // namespace detail

/// The deadline of a running `timeout` / `timeout_at` body, given to it by
/// reference (asyncio's Timeout object). Loop thread only.
class timeout_scope {
public:
    using clock = event_loop::clock;

    timeout_scope(const timeout_scope&) = delete;
    timeout_scope& operator=(const timeout_scope&) = delete;

    /// The current deadline (`time_point::max()`: none).
    [[nodiscard]] clock::time_point when() const noexcept { return m_deadline; }
    /// True once the deadline passed and the body was cancelled.
    [[nodiscard]] bool expired() const noexcept { return m_expired; }

    /// Moves the deadline (earlier or later; `time_point::max()` removes it).
    /// Throws `invalid_state_error` once it has expired: the body is
    /// already being cancelled.
    void reschedule(clock::time_point deadline) {
        if (m_expired) {
            throw invalid_state_error(
                "unblock::timeout_scope::reschedule: the deadline has already passed and the "
                "body is being cancelled; reschedule before it expires (check expired())");
        }
        m_timer.cancel();
        m_deadline = deadline;
        arm();
    }

private:
    template <class Result, class Body>
    friend task<Result> detail::run_timeout(clock::time_point deadline, Body body);

    timeout_scope(event_loop& loop, clock::time_point deadline) noexcept
        : m_loop(loop), m_deadline(deadline) {}

    void arm() {
        if (m_deadline == clock::time_point::max()) return;
        m_timer = m_loop.call_at(m_deadline, [this] {
            m_expired = true;
            m_body->request_cancel();
        });
    }

    event_loop& m_loop;
    clock::time_point m_deadline;
    detail::task_state* m_body = nullptr;
    timer_handle m_timer;
    bool m_expired = false;
};

namespace detail {

/// timeout_at's coroutine: the body runs as its own task, which the timer cancels.
template <class Result, class Body>
task<Result> run_timeout(std::chrono::steady_clock::time_point deadline, Body body) {
    detail::task_state* const self = co_await detail::current_task_state{};
    const bool cancelled_before = self != nullptr && self->m_cancel_requested;
    const auto started = timeout_scope::clock::now();
    timeout_scope scope(get_running_loop(), deadline);
    auto handle = create_task([&body, &scope]() { return std::invoke(body, scope); });
    scope.m_body = detail::loop_access::state_of(handle);
    struct disarm {
        timeout_scope& scope;
        ~disarm() { scope.m_timer.cancel(); }
    } const guard{scope};
    scope.arm();
    try {
        co_return co_await handle; // waits for the body to end, also when cancelled
    } catch (const cancelled_error&) {
        const bool cancelled_from_outside =
            self != nullptr && self->m_cancel_requested && !cancelled_before;
        if (!scope.m_expired || !handle.cancelled() || cancelled_from_outside) throw;
    }
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        timeout_scope::clock::now() - started);
    throw timeout_error("unblock::timeout: the deadline passed and the body was cancelled (" +
                        std::to_string(waited.count()) +
                        " ms after it began); a running to_thread call is waited for until it "
                        "returns unless it takes a std::stop_token");
}

/// A timeout body made callable with a timeout_scope&: an awaitable is
/// awaited as it is (the scope unused).
template <class Body>
auto timeout_body(Body body) {
    if constexpr (awaitable<Body>) {
        return
            [awaitable = std::move(body)](timeout_scope&) mutable { return std::move(awaitable); };
    } else {
        static_assert(std::invocable<Body&, timeout_scope&>,
                      "unblock::timeout: the body must be an awaitable or callable with a "
                      "timeout_scope&, e.g. [&](unblock::timeout_scope& scope) -> "
                      "unblock::task<T> { ... }");
        static_assert(awaitable<std::invoke_result_t<Body&, timeout_scope&>>,
                      "unblock::timeout: the body must return an awaitable, e.g. "
                      "unblock::task<T>; declare the lambda's return type as -> unblock::task<T>");
        return body;
    }
}

} // namespace detail

/// Runs `body` with a deadline at `deadline` (asyncio.timeout_at): at the
/// deadline the body is cancelled, and once it has stopped, `timeout_error`
/// is thrown. `body` is an awaitable, or a callable taking the
/// `timeout_scope&` (to read or move the deadline) and returning one. Its
/// value is returned, its exception rethrown. Cancelling the awaiting task
/// cancels the body and throws `cancelled_error`.
///
///     co_await unblock::timeout_at(loop.time() + 2s, [&](unblock::timeout_scope& scope) -> task<>
///     {
///         co_await connect();
///         scope.reschedule(scope.when() + 5s); // connected: allow more time
///         co_await transfer();
///     });
template <class Body>
auto timeout_at(event_loop::clock::time_point deadline, Body body) {
    auto callable = detail::timeout_body(std::move(body));
    using result_type =
        detail::await_result_t<std::invoke_result_t<decltype(callable)&, timeout_scope&>>;
    return detail::run_timeout<result_type>(deadline, std::move(callable));
}

/// `timeout_at(now + delay, body)` (asyncio.timeout).
template <class Rep, class Period, class Body>
auto timeout(std::chrono::duration<Rep, Period> delay, Body body) {
    return timeout_at(
        detail::saturating_deadline(event_loop::clock::now(),
                                    detail::saturating_ceil<event_loop::clock::duration>(delay)),
        std::move(body));
}

} // namespace unblock
