/// \file join_handle.hpp
/// Tasks scheduled on a loop: `join_handle<T>`, `create_task`, `run`,
/// and the event_loop members that start tasks. Included by `event_loop.hpp`.
#pragma once

#include "detail/loop/loop_core.hpp"

#include <chrono>
#include <cstdio>
#include <optional>

namespace unblock {

namespace detail {

/// The coroutine that runs any other awaitable (to_thread(...), a future) as a task.
template <class T, class A>
task<T> run_awaitable(A awaitable) {
    if constexpr (std::is_void_v<T>) {
        co_await std::move(awaitable);
    } else {
        co_return co_await std::move(awaitable);
    }
}

/// Reports a task's unretrieved exception when its loop no longer exists.
inline void report_without_loop(task_state& task) noexcept {
    if (!task.m_exception || task.m_cancelled || task.m_exception_retrieved) return;
    task.m_exception_retrieved = true;
    std::string what = "unknown exception";
    try {
        std::rethrow_exception(task.m_exception);
    } catch (const std::exception& e) {
        what = e.what();
    } catch (...) {
    }
    std::fprintf(stderr, "unblock: exception in a task was never retrieved (task '%s'): %s\n",
                 task.name().c_str(), what.c_str());
}

/// A finished task's value, or its exception rethrown (and marked retrieved).
template <class T>
T take_task_result(std::coroutine_handle<task_promise<T>> coroutine) {
    task_promise<T>& promise = coroutine.promise();
    if (promise.m_state.m_exception) promise.m_state.m_exception_retrieved = true;
    return promise.m_result.take();
}

/// Waits for a task to finish (optionally with a timeout that cancels it).
/// The awaiting task's cancellation is passed on to the awaited task.
template <class T>
class join_awaiter final : timer_node, cancel_hook, completion_listener {
public:
    using clock = std::chrono::steady_clock;

    join_awaiter(std::coroutine_handle<task_promise<T>> child,
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
    bool await_suspend(std::coroutine_handle<Promise> awaiting) {
        task_state& child = m_child.promise().m_state;
        // The timer first: if it cannot be added, nothing refers to this awaiter yet.
        if (m_timeout) child.m_loop->add_timer(this, clock::now() + *m_timeout);
        m_waiter = task_of(awaiting);
        if (m_waiter && !m_waiter->begin_wait(this)) {
            // A cancellation was pending: it reaches the awaited task as if it
            // came now, and this waits for that task to stop (as gather does).
            cancel();
            (void)m_waiter->begin_wait(this);
        }
        m_awaiting = awaiting;
        m_task = m_waiter;
        child.m_listener = this;
        m_listening = true;
        return true;
    }

    T await_resume() {
        if (m_waiter) m_waiter->end_wait();
        // If the handle was dropped while this awaited the task, the frame is this awaiter's to
        // free.
        const orphan_guard guard{m_listening ? m_child : nullptr};
        task_state& child = m_child.promise().m_state;
        if (m_cancelled || (m_timed_out && child.m_cancelled)) {
            if (child.m_exception && !child.m_cancelled) {
                child.m_exception_retrieved = true;
                std::rethrow_exception(child.m_exception); // a real failure is never hidden
            }
            if (child.m_cancelled) child.m_exception_retrieved = true;
            if (m_cancelled) throw cancelled_error();
            throw timeout_error(
                "unblock: wait_for timed out after " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(*m_timeout).count()) +
                " ms; the awaited work was cancelled");
        }
        return take_task_result(m_child);
    }

private:
    /// Frees the child's frame if its join_handle was dropped while awaited.
    struct orphan_guard {
        std::coroutine_handle<task_promise<T>> child;
        ~orphan_guard() {
            if (child && child.promise().m_state.m_detached) child.destroy();
        }
    };

    std::coroutine_handle<> task_finished(task_state& child) noexcept override {
        if (queued()) {
            child.m_loop->remove_timer(this);
        } else if (m_timeout && !m_timed_out) {
            // The timer already fired into this iteration's batch and will run
            // after us: resuming now would free the node it lives in. Let the
            // timer resume the coroutine instead.
            m_child_finished = true;
            return std::noop_coroutine();
        }
        return m_awaiting;
    }

    bool cancel() noexcept override {
        if (m_cancelled) return true;
        m_cancelled = true;
        m_child.promise().m_state.request_cancel();
        return true;
    }

    static void on_timeout(loop_node* node) noexcept {
        auto* self = static_cast<join_awaiter*>(node);
        if (self->m_child_finished) {
            self->m_awaiting.resume(); // the task finished first, in the same iteration
            return;
        }
        self->m_timed_out = true;
        self->m_child.promise().m_state.request_cancel();
    }

    std::coroutine_handle<task_promise<T>> m_child;
    std::optional<clock::duration> m_timeout;
    task_state* m_waiter = nullptr;
    std::coroutine_handle<> m_awaiting;
    bool m_cancelled = false;
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
template <class T>
class [[nodiscard]] join_handle {
public:
    join_handle() noexcept = default;
    explicit join_handle(std::coroutine_handle<detail::task_promise<T>> coroutine) noexcept
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

    detail::join_awaiter<T> operator co_await() const noexcept {
        return {m_coroutine, std::nullopt};
    }

    /// Waits like `co_await`, but cancels the task after `timeout` and throws `timeout_error`.
    detail::join_awaiter<T> wait_for(std::chrono::steady_clock::duration timeout) const noexcept {
        return {m_coroutine, timeout};
    }

    /// The result of a finished task; throws `invalid_state_error` if it has not finished.
    T result() {
        if (!m_coroutine || !done()) {
            throw invalid_state_error(
                "unblock: join_handle::result() called before the task finished; co_await the handle instead");
        }
        return detail::take_task_result(m_coroutine);
    }

    /// The task's state, for the library's combinators.
    [[nodiscard]] detail::task_state* state_pointer() noexcept {
        return m_coroutine ? &state() : nullptr;
    }

private:
    [[nodiscard]] const detail::task_state& state() const noexcept {
        return m_coroutine.promise().m_state;
    }
    [[nodiscard]] detail::task_state& state() noexcept { return m_coroutine.promise().m_state; }

    void release() noexcept {
        if (!m_coroutine) return;
        detail::task_state& task = state();
        if (task.m_done) {
            if (task.m_loop) {
                task.m_loop->report_if_unretrieved(task);
            } else {
                detail::report_without_loop(task); // the loop is gone: stderr, never silence
            }
            m_coroutine.destroy();
        } else {
            task.m_detached = true;
        }
        m_coroutine = {};
    }

    std::coroutine_handle<detail::task_promise<T>> m_coroutine;
};

template <class A>
auto event_loop::create_task(A awaitable, std::string name)
    -> join_handle<detail::await_result_t<A>> {
    static_assert(
        detail::awaitable<A>,
        "unblock::create_task needs an awaitable: a task<T>, to_thread(...), or an object with "
        "await_ready/await_suspend/await_resume");
    using result = detail::await_result_t<A>;
    std::coroutine_handle<detail::task_promise<result>> coroutine;
    if constexpr (std::is_same_v<A, task<result>>) {
        coroutine = awaitable.release(); // the task's own frame becomes the task: one allocation
    } else {
        coroutine = detail::run_awaitable<result>(std::move(awaitable)).release();
    }
    if (!coroutine || coroutine.done()) {
        throw invalid_state_error(
            "unblock::create_task: the task is empty or has already run (moved-from, "
            "default-constructed or awaited); create a new task");
    }
    detail::task_promise<result>& promise = coroutine.promise();
    promise.m_task = &promise.m_state;
    register_task(promise.m_state);
    promise.m_state.m_id = m_tasks_created;
    if (!name.empty())
        promise.m_state.m_given_name = std::make_unique<std::string>(std::move(name));
    promise.m_start.m_coroutine = coroutine;
    promise.m_start.m_task = &promise.m_state;
    schedule(&promise.m_start);
    return join_handle<result>(coroutine);
}

template <class T>
T event_loop::run_until_complete(task<T> main) {
    running_scope scope(*this);
    join_handle<T> handle = create_task(std::move(main), "main");
    while (!handle.done())
        run_once();
    return handle.result();
}

/// Schedules `awaitable` on the running loop; see `event_loop::create_task`.
template <class A>
auto create_task(A awaitable, std::string name = {}) -> join_handle<detail::await_result_t<A>> {
    return get_running_loop().create_task(std::move(awaitable), std::move(name));
}

/// asyncio.run: runs `main` on a new loop on this thread and returns its value
/// or rethrows its exception. Before returning, cancels the tasks still
/// pending and waits for them, then shuts the loop's default executor down.
/// Throws `invalid_state_error` when called on a thread that runs a loop.
template <class T>
T run(task<T> main, event_loop::options settings = {}) {
    if (detail::t_running_loop != nullptr) {
        throw invalid_state_error(
            "unblock::run() cannot be called while an event loop is running on this thread; "
            "inside a coroutine, co_await the task instead");
    }
    event_loop loop(settings);
    return loop.run_until_complete(std::move(main));
}

} // namespace unblock
