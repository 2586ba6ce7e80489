/// \file task.hpp
/// `task<T>`: the lazy coroutine type unblock programs are written in.
#pragma once

#include "detail/loop/frame_cache.hpp"
#include "detail/loop/loop_node.hpp"
#include "detail/loop/task_state.hpp"
#include "detail/result.hpp"
#include "errors.hpp"

#include <coroutine>
#include <utility>

namespace unblock {

template <class Value = void>
class task;

class event_loop;

namespace detail {

/// A task's end as its loop sees it: counted as finished, and, with
/// `report_unretrieved`, an exception nobody retrieved reported. Defined in
/// event_loop.hpp, which this header includes at its bottom.
inline void task_ended_on_loop(event_loop& loop, task_state& task,
                               bool report_unretrieved) noexcept;

/// What every task promise has: where to go when done, whether the awaiting
/// coroutine actually suspended, and — used only when the coroutine is a
/// task's outermost one (create_task) — the task's state, so a task costs one
/// frame and one allocation.
///
/// A task is started inline by the coroutine that awaits it. If it completes
/// without suspending, the awaiter simply does not suspend — no recursion, so
/// a million synchronous awaits in a row use constant stack on every compiler
/// and optimisation level (GCC at -O0 and sanitizer builds do not turn
/// symmetric transfer into a tail call). If it suspended, `final_suspend`
/// transfers straight to the awaiting coroutine (symmetric transfer).
class task_promise_base : public promise_base {
public:
    std::suspend_always initial_suspend() noexcept { return {}; }

    struct final_awaiter {
        bool await_ready() noexcept { return false; }

        template <class Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
            task_promise_base& promise = self.promise();
            promise.m_finished = true;
            if (promise.is_task_root()) return finish_task(self);
            if (promise.m_awaiter_suspended) return promise.m_continuation;
            return std::noop_coroutine();
        }

        void await_resume() noexcept {}

    private:
        /// The task is over: tell the loop and whoever waits; a detached task
        /// reports an exception nobody retrieved and frees its frame.
        template <class Promise>
        static std::coroutine_handle<> finish_task(std::coroutine_handle<Promise> self) noexcept {
            auto& state = self.promise().m_state;
            state.m_done = true;
            state.m_waiting_on = nullptr;
            event_loop* loop = state.m_loop;
            std::coroutine_handle<> next = std::noop_coroutine();
            const bool awaited = state.m_listener != nullptr;
            // Detached and not awaited: nobody else will free the frame. (If it
            // was awaited, the awaiter frees it after taking the result.)
            const bool orphaned = state.m_detached && !awaited;
            if (loop) task_ended_on_loop(*loop, state, orphaned);
            if (awaited) next = std::exchange(state.m_listener, nullptr)->task_finished(state);
            if (orphaned) self.destroy();
            return next;
        }
    };
    final_awaiter final_suspend() noexcept { return {}; }

    /// Frames come from this thread's frame cache (detail/frame_cache.hpp).
    static void* operator new(std::size_t size) { return frame_cache::local().allocate(size); }
    static void operator delete(void* frame, std::size_t size) noexcept {
        frame_cache::local().deallocate(frame, size);
    }

    /// True if this coroutine is the outermost one of a task (create_task).
    [[nodiscard]] bool is_task_root() const noexcept { return m_task == &m_state; }

    /// Records how a task failed (for cancelled() and unretrieved-exception reports).
    void note_task_failure(const std::exception_ptr& error) noexcept {
        if (!is_task_root()) return;
        try {
            std::rethrow_exception(error);
        } catch (const cancelled_error&) {
            m_state.m_cancelled = true;
        } catch (...) {
        }
        m_state.m_exception = error;
    }

    std::coroutine_handle<> m_continuation;
    bool m_finished = false;
    bool m_awaiter_suspended = false;
    task_state m_state;  ///< the task's state, when this is its outermost coroutine
    resume_node m_start; ///< queues a task's first step
};

template <class Value>
class task_promise : public task_promise_base {
public:
    task<Value> get_return_object() noexcept;
    void unhandled_exception() noexcept {
        m_result.set_exception(std::current_exception());
        note_task_failure(m_result.exception());
    }

    template <class Other = Value>
        requires std::convertible_to<Other&&, Value>
    void return_value(Other&& value) { m_result.set_value(std::forward<Other>(value)); }

    result_slot<Value> m_result;
};

template <class Value>
class task_promise<Value&> : public task_promise_base {
public:
    task<Value&> get_return_object() noexcept;
    void unhandled_exception() noexcept {
        m_result.set_exception(std::current_exception());
        note_task_failure(m_result.exception());
    }
    void return_value(Value& value) noexcept { m_result.set_value(value); }

    result_slot<Value&> m_result;
};

template <>
class task_promise<void> : public task_promise_base {
public:
    task<void> get_return_object() noexcept;
    void unhandled_exception() noexcept {
        m_result.set_exception(std::current_exception());
        note_task_failure(m_result.exception());
    }
    void return_void() noexcept { m_result.set_value(); }

    result_slot<void> m_result;
};

} // namespace detail

/// A lazy coroutine that produces a `T` (or throws).
///
/// Nothing runs until the task is awaited (`co_await t`) or handed to
/// `run()` / `create_task()`. Move-only; destroying a task that was never
/// started destroys its frame. A task can be awaited once.
///
///     unblock::task<int> answer() { co_return 42; }
///     unblock::task<> main_task() { int x = co_await answer(); }
template <class Value>
class [[nodiscard]] task {
public:
    using promise_type = detail::task_promise<Value>;
    using value_type = Value;

    task() noexcept = default;
    explicit task(std::coroutine_handle<promise_type> coroutine) noexcept
        : m_coroutine(coroutine) {}
    task(task&& other) noexcept : m_coroutine(std::exchange(other.m_coroutine, {})) {}
    task& operator=(task&& other) noexcept {
        if (this != &other) {
            destroy();
            m_coroutine = std::exchange(other.m_coroutine, {});
        }
        return *this;
    }
    task(const task&) = delete;
    task& operator=(const task&) = delete;
    ~task() { destroy(); }

    /// True if this object holds a coroutine.
    [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(m_coroutine); }

    class awaiter {
    public:
        explicit awaiter(std::coroutine_handle<promise_type> coroutine) noexcept
            : m_coroutine(coroutine) {}

        bool await_ready() const {
            if (!m_coroutine) {
                throw invalid_state_error(
                    "unblock: awaiting an empty task (moved-from or default-constructed)");
            }
            return m_coroutine.done();
        }

        template <class Promise>
        bool await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
            promise_type& promise = m_coroutine.promise();
            promise.m_task = detail::task_of(awaiting);
            promise.m_continuation = awaiting;
            m_coroutine.resume();
            if (promise.m_finished)
                return false; // completed synchronously: go on without suspending
            promise.m_awaiter_suspended = true;
            return true;
        }

        Value await_resume() { return m_coroutine.promise().m_result.take(); }

    private:
        std::coroutine_handle<promise_type> m_coroutine;
    };

    /// Starts the task and waits for it; yields its value or rethrows its exception.
    awaiter operator co_await() const& noexcept { return awaiter{m_coroutine}; }
    awaiter operator co_await() const&& noexcept { return awaiter{m_coroutine}; }

    /// Gives up ownership of the coroutine.
    [[nodiscard]] std::coroutine_handle<promise_type> release() noexcept {
        return std::exchange(m_coroutine, {});
    }

private:
    void destroy() noexcept {
        if (m_coroutine) m_coroutine.destroy();
    }

    std::coroutine_handle<promise_type> m_coroutine;
};

namespace detail {

template <class Value>
task<Value> task_promise<Value>::get_return_object() noexcept {
    return task<Value>{std::coroutine_handle<task_promise<Value>>::from_promise(*this)};
}

template <class Value>
task<Value&> task_promise<Value&>::get_return_object() noexcept {
    return task<Value&>{std::coroutine_handle<task_promise<Value&>>::from_promise(*this)};
}

inline task<void> task_promise<void>::get_return_object() noexcept {
    return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}

} // namespace detail

} // namespace unblock

// A task finishes through its loop: the loop comes with every task.
#include "event_loop.hpp"
