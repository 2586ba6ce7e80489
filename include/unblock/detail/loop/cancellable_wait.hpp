/// \file detail/loop/cancellable_wait.hpp
/// The one way an awaiter waits inside a task so that the task can be cancelled.
#pragma once

#include "../../errors.hpp"
#include "task_state.hpp"

namespace unblock::detail {

/// Base of every awaiter in which a task can be cancelled.
///
/// The policy, written once here so that no awaiter can drift from it:
/// - A cancel reaches the awaiter through `on_cancel()`, once, on the loop
///   thread. `on_cancel()` stops what is awaited the way it can: withdraw work
///   that has not started, request the stop token of work that is running,
///   cancel child tasks, take a timer off the heap. It arranges for the
///   coroutine to be resumed (at once if nothing is left running, otherwise
///   when what runs has stopped); it never resumes the coroutine itself.
/// - A cancel that came while the task was not suspended in such an awaiter
///   (pending on the task) is delivered by `begin_wait` as if it had arrived
///   just after the awaiter suspended: the awaiter still suspends, and what it
///   started is stopped the same way. So "cancelled before it suspended"
///   and "cancelled while suspended" look the same to the program.
/// - A cancel that arrives after the awaited work completed but before the
///   coroutine resumed still wins, as in asyncio: the result is dropped and
///   the await throws `cancelled_error` (an awaiter may let a real failure
///   of what it waited for through instead, so that no error is hidden).
/// - The awaiter calls `end_wait()` first thing on resumption, and then
///   `throw_if_cancelled()` (or its own equivalent).
/// A coroutine that is not a task (no task_state) cannot be cancelled; then
/// every call here does nothing.
class cancellable_wait : cancel_hook {
public:
    /// True once a cancellation reached this awaiter.
    [[nodiscard]] bool cancel_requested() const noexcept { return m_cancel_requested; }

protected:
    cancellable_wait() noexcept = default;
    ~cancellable_wait() = default;

    /// Registers the awaiter as where `waiter` (null: not a task) is
    /// suspended. Call it in `await_suspend` once what is awaited has been
    /// started, so that a pending cancel can stop it.
    void begin_wait(task_state* waiter) noexcept {
        m_waiter = waiter;
        if (waiter) waiter->begin_wait(*this);
    }

    /// Unregisters; call first on resumption.
    void end_wait() noexcept {
        if (m_waiter) m_waiter->end_wait();
    }

    /// Throws `cancelled_error` if a cancellation reached this awaiter.
    void throw_if_cancelled() const {
        if (m_cancel_requested) throw cancelled_error();
    }

    /// The task waiting here, or nullptr.
    [[nodiscard]] task_state* waiter() const noexcept { return m_waiter; }

private:
    /// Stops what is awaited; see the class comment. Loop thread, at most once.
    virtual void on_cancel() noexcept = 0;

    void cancel() noexcept final {
        if (m_cancel_requested) return;
        m_cancel_requested = true;
        on_cancel();
    }

    task_state* m_waiter = nullptr;
    bool m_cancel_requested = false;
};

} // namespace unblock::detail
