/// \file join_handle.hpp
/// `join_handle<T>`: a task running on a loop (asyncio's Task), as
/// `create_task` returns it, and how it is awaited.
#pragma once

#include "detail/deadline.hpp"
#include "detail/error_text.hpp"
#include "detail/loop/cancellable_wait.hpp"
#include "event_loop.hpp"

#include <chrono>
#include <cstdio>
#include <optional>

namespace unblock {

namespace detail {

/// Reports a task's unretrieved exception when its loop no longer exists.
inline void report_without_loop(task_state& task) noexcept {
    if (!task.m_exception || task.m_cancelled || task.m_exception_retrieved) return;
    task.m_exception_retrieved = true;
    std::fprintf(stderr, "unblock: exception in a task was never retrieved (task '%s'): %s\n",
                 task.name().c_str(), error_text(task.m_exception).c_str());
}

/// A finished task's value, or its exception rethrown (and marked retrieved).
template <class Value>
Value take_task_result(std::coroutine_handle<task_promise<Value>> coroutine) {
    task_promise<Value>& promise = coroutine.promise();
    if (promise.m_state.m_exception) promise.m_state.m_exception_retrieved = true;
    return promise.m_result.take();
}

/// Waits for a task to finish (optionally with a timeout that cancels it).
/// Cancelling the awaiting task cancels the awaited one and waits for it to
/// stop (detail::cancellable_wait's policy); a real failure of the awaited
/// task is never hidden behind `cancelled_error` or `timeout_error`.
template <class Value>
class join_awaiter final : timer_node, cancellable_wait, completion_listener {
public:
    using clock = std::chrono::steady_clock;

    join_awaiter(std::coroutine_handle<task_promise<Value>> child,
                 std::optional<clock::duration> timeout) noexcept
        : timer_node(&on_timeout), m_child(child), m_timeout(timeout) {}

    bool await_ready() const {
        if (!m_child)
            throw invalid_state_error(
                "unblock: awaiting an empty join_handle (moved-from or default)");
        const task_state& child = m_child.promise().m_state;
        if (child.m_loop != nullptr && child.m_loop != t_running_loop) {
            throw invalid_state_error(
                "unblock: this task belongs to another event loop; await it from a coroutine on its own loop");
        }
        if (child.m_listener != nullptr) {
            throw invalid_state_error(
                "unblock: this task is already being awaited; a join_handle can be awaited by one coroutine");
        }
        return child.m_done;
    }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) {
        task_state& child = m_child.promise().m_state;
        // The timer first: if it cannot be added, nothing refers to this awaiter yet.
        if (m_timeout) {
            m_started = clock::now();
            loop_access::add_timer(*child.m_loop, this, saturating_deadline(m_started, *m_timeout));
        }
        m_awaiting = awaiting;
        m_task = task_of(awaiting); // debug mode names the task the timer resumes
        child.m_listener = this;
        m_listening = true;
        begin_wait(m_task);
    }

    Value await_resume() {
        end_wait();
        // If the handle was dropped while this awaited the task, the frame is this awaiter's to
        // free.
        const orphan_guard guard{m_listening ? m_child : nullptr};
        task_state& child = m_child.promise().m_state;
        if (cancel_requested() || (m_timed_out && child.m_cancelled)) {
            if (child.m_exception && !child.m_cancelled) {
                child.m_exception_retrieved = true;
                std::rethrow_exception(child.m_exception); // a real failure is never hidden
            }
            if (child.m_cancelled) child.m_exception_retrieved = true;
            throw_if_cancelled();
            throw timeout_error(timeout_message());
        }
        return take_task_result(m_child);
    }

private:
    /// Frees the child's frame if its join_handle was dropped while awaited.
    struct orphan_guard {
        std::coroutine_handle<task_promise<Value>> child;
        ~orphan_guard() {
            if (child && child.promise().m_state.m_detached) child.destroy();
        }
    };

    /// What the timeout error says: the deadline, and the real wait when the
    /// work took longer than that to stop.
    std::string timeout_message() const {
        using std::chrono::milliseconds;
        const auto limit = std::chrono::duration_cast<milliseconds>(*m_timeout).count();
        const auto waited =
            std::chrono::duration_cast<milliseconds>(clock::now() - m_started).count();
        std::string text = "unblock: wait_for timed out after " + std::to_string(limit) +
                           " ms; the awaited work was cancelled";
        if (waited > limit + 10) {
            text += " and stopped " + std::to_string(waited) +
                    " ms after the wait began: a running to_thread call is waited for until it "
                    "returns (give it a std::stop_token parameter to let it stop sooner)";
        }
        return text;
    }

    std::coroutine_handle<> task_finished(task_state& child) noexcept override {
        if (queued()) {
            loop_access::remove_timer(*child.m_loop, this);
        } else if (m_timeout && !m_timed_out) {
            // The timer already fired into this iteration's batch and will run
            // after us: resuming now would free the node it lives in. Let the
            // timer resume the coroutine instead.
            m_child_finished = true;
            return std::noop_coroutine();
        }
        return m_awaiting;
    }

    void on_cancel() noexcept override { m_child.promise().m_state.request_cancel(); }

    static void on_timeout(loop_node* node) noexcept {
        auto* self = static_cast<join_awaiter*>(node);
        if (self->m_child_finished) {
            self->m_awaiting.resume(); // the task finished first, in the same iteration
            return;
        }
        self->m_timed_out = true;
        self->m_child.promise().m_state.request_cancel();
    }

    std::coroutine_handle<task_promise<Value>> m_child;
    std::optional<clock::duration> m_timeout;
    clock::time_point m_started{};
    std::coroutine_handle<> m_awaiting;
    bool m_timed_out = false;
    bool m_child_finished = false; ///< finished while the fired timer was still to run
    bool m_listening = false;      ///< registered as the child's listener
};

} // namespace detail

/// A task running on an event loop (asyncio's Task), returned by `create_task`.
///
/// `co_await handle` waits for the task and yields its value or rethrows its
/// exception; only one coroutine may await it, once. Cancelling the awaiting
/// coroutine cancels the task too. Destroying the handle before the task has
/// finished detaches it: the task keeps running, and an exception nobody
/// retrieved goes to the loop's exception handler. Loop thread only.
template <class Value>
class [[nodiscard]] join_handle {
public:
    join_handle() noexcept = default;
    explicit join_handle(std::coroutine_handle<detail::task_promise<Value>> coroutine) noexcept
        : m_coroutine(coroutine) {}
    join_handle(join_handle&& other) noexcept : m_coroutine(std::exchange(other.m_coroutine, {})) {}
    join_handle& operator=(join_handle&& other) noexcept {
        if (this != &other) {
            release();
            m_coroutine = std::exchange(other.m_coroutine, {});
        }
        return *this;
    }
    join_handle(const join_handle&) = delete;
    join_handle& operator=(const join_handle&) = delete;
    ~join_handle() { release(); }

    /// True once the task has finished (value, exception or cancellation).
    [[nodiscard]] bool done() const noexcept { return state().m_done; }
    /// True if the task finished by cancellation.
    [[nodiscard]] bool cancelled() const noexcept { return state().m_done && state().m_cancelled; }
    /// The task's name (given to create_task, or "task-N").
    [[nodiscard]] std::string name() const { return state().name(); }
    /// Requests cancellation (asyncio's Task.cancel()); returns false if the task already finished.
    bool cancel() noexcept { return m_coroutine && state().request_cancel(); }
    /// Lets the task run on without a handle.
    void detach() noexcept { release(); }

    detail::join_awaiter<Value> operator co_await() const noexcept {
        return {m_coroutine, std::nullopt};
    }

    /// Waits like `co_await`, but cancels the task after `timeout` and throws `timeout_error`.
    detail::join_awaiter<Value>
    wait_for(std::chrono::steady_clock::duration timeout) const noexcept {
        return {m_coroutine, timeout};
    }

    /// The result of a finished task; throws `invalid_state_error` if it has not finished.
    Value result() {
        if (!m_coroutine || !done()) {
            throw invalid_state_error(
                "unblock: join_handle::result() called before the task finished; co_await the handle instead");
        }
        return detail::take_task_result(m_coroutine);
    }

private:
    friend struct detail::loop_access; // the combinators reach the task's state through it

    [[nodiscard]] const detail::task_state& state() const noexcept {
        return m_coroutine.promise().m_state;
    }
    [[nodiscard]] detail::task_state& state() noexcept { return m_coroutine.promise().m_state; }

    void release() noexcept {
        if (!m_coroutine) return;
        detail::task_state& task = state();
        if (task.m_done) {
            if (task.m_loop) {
                detail::loop_access::report_if_unretrieved(*task.m_loop, task);
            } else {
                detail::report_without_loop(task); // the loop is gone: stderr, never silence
            }
            m_coroutine.destroy();
        } else {
            task.m_detached = true;
        }
        m_coroutine = {};
    }

    std::coroutine_handle<detail::task_promise<Value>> m_coroutine;
};

} // namespace unblock
