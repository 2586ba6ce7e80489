/// \file future.hpp
/// `future<R>`: the result of work started with `run_in_executor`.
#pragma once

#include "detail/loop/cancellable_wait.hpp"
#include "detail/loop/frame_cache.hpp"
#include "detail/loop/loop_node.hpp"
#include "detail/loop/task_state.hpp"
#include "detail/result.hpp"
#include "errors.hpp"
#include "event_loop.hpp"

#include <coroutine>
#include <cstddef>
#include <utility>

namespace unblock {

namespace detail {

/// The loop-side state of one `run_in_executor` call, shared by the `future`
/// and the work in flight (two references, both dropped on the loop thread,
/// so the count needs no atomics).
template <class Result>
class future_state {
public:
    future_state() noexcept = default;
    future_state(const future_state&) = delete;
    future_state& operator=(const future_state&) = delete;

    /// Cancels: withdraws queued work at once, or requests the running
    /// callable's stop token (the future is cancelled when it returns).
    /// Returns false if the work already finished.
    bool cancel() noexcept {
        if (m_done) return false;
        if (m_cancel_requested) return true;
        m_cancel_requested = true;
        if (withdraw()) {
            finish();
            if (!completion_follows_withdrawal()) {
                m_in_flight.reset();
                release(); // the work's reference: it will never complete
            }
        } else {
            request_stop();
        }
        return true;
    }

    /// The work is over: it finished synchronously, or its completion node ran
    /// on the loop. Resumes an awaiting coroutine in the next iteration.
    void work_completed() noexcept {
        m_in_flight.reset();
        if (!m_done) finish(); // withdrawn earlier: already finished as cancelled
        release();
    }

    /// The work's completion node is running on the loop: resumes an awaiting
    /// coroutine right here, as to_thread does, instead of one iteration later.
    void work_completed_on_loop() noexcept {
        m_in_flight.reset();
        std::coroutine_handle<> awaiting;
        if (!m_done) { // else withdrawn earlier: already finished as cancelled
            mark_done();
            awaiting = m_wake.m_coroutine;
        }
        // Not the last reference while a coroutine awaits: its future holds one.
        release();
        if (awaiting) awaiting.resume();
    }

    void add_reference() noexcept { ++m_references; }
    void release() noexcept {
        if (--m_references == 0) delete this;
    }

    event_loop* m_event_loop = nullptr;
    offload_token m_in_flight; ///< held while the work may still complete
    bool m_done = false;
    bool m_cancelled = false;
    bool m_cancel_requested = false;
    resume_node m_wake; ///< resumes the coroutine awaiting the future, if any
    /// The node the work posts when it completes, if it resumes the awaiting
    /// coroutine itself: debug mode names the task it resumes.
    loop_node* m_completion = nullptr;

    virtual result_slot<Result>& result() noexcept = 0;

protected:
    virtual ~future_state() = default;
    virtual bool withdraw() noexcept = 0;
    virtual void request_stop() noexcept = 0;
    /// True if the completion is still posted after a successful withdraw()
    /// (a process pool reports a withdrawn or killed call like any other).
    virtual bool completion_follows_withdrawal() const noexcept { return false; }

private:
    void mark_done() noexcept {
        m_done = true;
        if (m_cancel_requested) {
            m_cancelled = true;
            result().set_exception(std::make_exception_ptr(cancelled_error()));
        }
    }
    void finish() noexcept {
        mark_done();
        if (m_wake.m_coroutine) loop_access::schedule(*m_event_loop, &m_wake);
    }

    int m_references = 2;
};

/// A future state that embeds the operation running its call.
template <class Operation>
class future_operation final : public future_state<typename Operation::result_type>,
                               public Operation {
public:
    using result_type = typename Operation::result_type;

    template <class Call>
    explicit future_operation(Call&& call) : Operation(std::forward<Call>(call), &on_complete) {
        this->m_completion = static_cast<Operation*>(this);
    }

    result_slot<result_type>& result() noexcept override { return Operation::m_result; }

    // From the frame cache, as task frames are: a busy loop reuses the memory
    // of finished calls instead of allocating (detail/loop/frame_cache.hpp).
    static void* operator new(std::size_t size) { return frame_cache::local().allocate(size); }
    static void operator delete(void* state, std::size_t size) noexcept {
        frame_cache::local().deallocate(state, size);
    }

private:
    bool withdraw() noexcept override { return Operation::withdraw(); }
    void request_stop() noexcept override { Operation::request_stop(); }

    static void on_complete(loop_node* node) noexcept {
        static_cast<future_operation*>(static_cast<Operation*>(node))->work_completed_on_loop();
    }
};

} // namespace detail

/// The result of `run_in_executor`: the work is submitted (see run_in_executor).
///
/// `co_await` yields the value or rethrows the exception (once). Dropping the
/// future does not stop the work. `cancel()` withdraws work still queued at
/// once (then `cancelled()` is true), or requests the stop token of a running
/// callable (the future becomes cancelled when it returns). Cancelling the
/// task that awaits the future cancels the future. Loop thread only.
template <class Result>
class future {
public:
    using value_type = Result;

    future() noexcept = default;
    explicit future(detail::future_state<Result>* state) noexcept : m_state(state) {}
    future(future&& other) noexcept : m_state(std::exchange(other.m_state, nullptr)) {}
    future& operator=(future&& other) noexcept {
        if (this != &other) {
            reset();
            m_state = std::exchange(other.m_state, nullptr);
        }
        return *this;
    }
    future(const future&) = delete;
    future& operator=(const future&) = delete;
    ~future() { reset(); }

    [[nodiscard]] bool valid() const noexcept { return m_state != nullptr; }
    /// True once the work finished (value, exception, or cancellation).
    [[nodiscard]] bool done() const noexcept { return m_state && m_state->m_done; }
    /// True if the future was cancelled.
    [[nodiscard]] bool cancelled() const noexcept { return m_state && m_state->m_cancelled; }
    /// See the class comment; returns false if the work already finished.
    bool cancel() noexcept { return m_state && m_state->cancel(); }

    /// The value of finished work, or its exception rethrown. Throws
    /// `invalid_state_error` if the work has not finished: waiting for it here
    /// would block the loop thread that has to deliver it.
    Result result() {
        if (!done()) {
            throw invalid_state_error(
                "unblock: future::result() called before the work finished; a blocking wait on the loop "
                "thread would deadlock. co_await the future instead");
        }
        return m_state->result().take();
    }

    /// Waits for the work; cancelling the awaiting task cancels the future
    /// (detail::cancellable_wait's policy).
    class awaiter final : detail::cancellable_wait {
    public:
        explicit awaiter(detail::future_state<Result>* state) noexcept : m_state(state) {}

        bool await_ready() const {
            if (!m_state)
                throw invalid_state_error(
                    "unblock: awaiting an empty future (moved-from or default)");
            if (m_state->m_event_loop != detail::t_running_loop) {
                throw invalid_state_error(
                    "unblock: this future belongs to another event loop; await it from a coroutine on its own loop");
            }
            if (m_state->m_wake.m_coroutine) {
                throw invalid_state_error(
                    "unblock: this future is already being awaited; a future can be awaited by one coroutine");
            }
            return m_state->m_done;
        }

        template <class Promise>
        void await_suspend(std::coroutine_handle<Promise> awaiting) {
            m_state->m_wake.m_coroutine = awaiting;
            m_state->m_wake.m_task = detail::task_of(awaiting);
            if (m_state->m_completion) m_state->m_completion->m_task = m_state->m_wake.m_task;
            begin_wait(m_state->m_wake.m_task);
        }

        Result await_resume() {
            end_wait();
            m_state->m_wake.m_coroutine = nullptr;
            throw_if_cancelled();
            return m_state->result().take();
        }

    private:
        void on_cancel() noexcept override { m_state->cancel(); }

        detail::future_state<Result>* m_state;
    };

    awaiter operator co_await() const noexcept { return awaiter{m_state}; }

private:
    void reset() noexcept {
        if (m_state) std::exchange(m_state, nullptr)->release();
    }

    detail::future_state<Result>* m_state = nullptr;
};

namespace detail {

/// Submits a future's operation with `start()`, which returns whether the work
/// already completed inline; the future owns one reference, the work the other.
/// `spin_for`: whether the loop may spin for its completion (offload_token).
template <class Result, class State, class Start>
future<Result> start_future(event_loop& loop, State* state, Start&& start, bool spin_for = true) {
    state->m_event_loop = &loop;
    future<Result> handle(state); // from here on the handle owns its reference
    state->m_in_flight = offload_token(loop, spin_for);
    bool completed = false;
    try {
        completed = start();
    } catch (...) {
        state->m_in_flight.reset();
        state->release(); // the work's reference: it never started
        throw;
    }
    if (completed) state->work_completed();
    return handle;
}

} // namespace detail

} // namespace unblock

// run_in_executor and to_thread, which make futures and need them defined.
#include "offload.hpp"
