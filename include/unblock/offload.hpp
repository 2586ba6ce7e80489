/// \file offload.hpp
/// `to_thread` and `run_in_executor`: hand a blocking call to another thread
/// and resume on the loop thread with its result.
#pragma once

#include "detail/bound_call.hpp"
#include "detail/loop/cancellable_wait.hpp"
#include "detail/threads/offload_operation.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "future.hpp"
#include "thread_pool.hpp"

#include <coroutine>
#include <cstddef>
#include <functional>
#include <thread>
#include <type_traits>
#include <utility>

namespace unblock {

namespace detail {

/// An executor as run_in_executor accepts it: `execute(f)` runs the nullary
/// `f` exactly once, on some thread (f fits std::function<void()>).
template <class E>
concept executor = requires(E& e, std::function<void()> f) {
    e.execute(std::move(f));
};

/// An executor that builds run_in_executor's future itself, because its calls
/// cross a process boundary (process_pool_executor, through process_pool.hpp).
template <class E>
concept makes_own_future = requires {
    typename E::process_executor_tag;
};

/// Awaits one call offloaded to the running loop's default executor. The
/// awaiter is the operation: in the coroutine frame it is the pool's queue
/// node on the way out and the loop's inbox node on the way back, so a round
/// trip allocates nothing.
///
/// Cancellation (cancellable_wait's policy): work still queued is withdrawn
/// (it never runs) and the coroutine resumes in the next iteration; running
/// work gets its stop token requested and the coroutine resumes only after
/// the callable returned, so arguments that refer to the frame are never used
/// after it is gone. Either way the await throws `cancelled_error`.
template <class Call>
class offload_awaiter final : public pool_operation<Call>, cancellable_wait {
    using operation = pool_operation<Call>;

public:
    using result_type = typename operation::result_type;

    explicit offload_awaiter(Call&& call) : operation(std::move(call), &on_complete) {}

    bool await_ready() const noexcept { return false; }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) {
        task_state* waiter = task_of(awaiting);
        event_loop& loop = (waiter && waiter->m_loop) ? *waiter->m_loop : get_running_loop();
        m_awaiting = awaiting;
        this->m_task = waiter; // debug mode names the task this completion resumes
        offload_token in_flight(loop);
        operation::start(loop.default_executor(), loop); // never completes inline
        m_in_flight = std::move(in_flight);
        begin_wait(waiter);
    }

    result_type await_resume() {
        end_wait();
        throw_if_cancelled();
        return this->m_result.take();
    }

private:
    static void on_complete(loop_node* node) noexcept {
        auto* self = static_cast<offload_awaiter*>(static_cast<operation*>(node));
        self->m_in_flight.reset();
        self->m_awaiting.resume();
    }

    void on_cancel() noexcept override {
        if (this->withdraw()) {
            // It never runs: resume in the next iteration, as its completion would.
            loop_access::schedule(*this->m_loop, static_cast<loop_node*>(this));
        } else {
            this->request_stop();
        }
    }

    std::coroutine_handle<> m_awaiting;
    offload_token m_in_flight;
};

template <class F, class... Args>
using call_for = bound_call<std::decay_t<F>, std::decay_t<Args>...>;

template <class F, class... Args>
constexpr void check_offloadable() {
    static_assert(
        bindable_v<std::decay_t<F>, std::decay_t<Args>...>,
        "unblock: the function cannot be called with these arguments. Arguments are decay-copied "
        "like std::thread's: pass std::ref(x) for a reference parameter, or std::stop_token first "
        "if the function takes one");
    static_assert(std::is_move_constructible_v<std::decay_t<F>>,
                  "unblock: the function must be movable");
}

} // namespace detail

/// What `to_thread` returns: a lazy awaitable; nothing runs until it is awaited
/// (or handed to create_task). Awaitable once: the call and its arguments
/// move into the await, so a second `co_await` throws `invalid_state_error`.
template <class Call>
class [[nodiscard]] to_thread_awaitable {
public:
    explicit to_thread_awaitable(Call call) : m_call(std::move(call)) {}

    using awaiter = detail::offload_awaiter<Call>;

    awaiter operator co_await() && { return awaiter(take_call()); }
    awaiter operator co_await() & { return awaiter(take_call()); }

private:
    Call&& take_call() {
        if (m_awaited) {
            throw invalid_state_error(
                "unblock::to_thread(): this call was already awaited, and its arguments were moved "
                "into it; call to_thread(f, args...) again to run f again");
        }
        m_awaited = true;
        return std::move(m_call);
    }

    Call m_call;
    bool m_awaited = false;
};

/// Runs `f(args...)` on the running loop's default executor and resumes the
/// awaiting coroutine on the loop thread with the result or the same exception
/// (asyncio.to_thread).
///
/// Arguments are decay-copied like std::thread's (std::ref passes a reference).
/// If `f` takes a `std::stop_token` first, it gets one that is requested when
/// the awaiting task is cancelled. Throws `executor_shutdown_error` after
/// `shutdown_default_executor()`.
///
/// The call reaches the pool at the end of the loop iteration in which it is
/// awaited, together with everything else submitted in that iteration (one
/// lock for all of them). Never block the loop thread waiting for it.
///
///     std::string text = co_await unblock::to_thread(read_file, path);
template <class F, class... Args>
auto to_thread(F&& f, Args&&... args) {
    detail::check_offloadable<F, Args...>();
    using call = detail::call_for<F, Args...>;
    return to_thread_awaitable<call>(call(std::forward<F>(f), std::forward<Args>(args)...));
}

namespace detail {

/// The executor a run_in_executor argument names: a reference or a pointer to one.
template <class E>
decltype(auto) dereference(E&& executor) noexcept {
    if constexpr (std::is_pointer_v<std::remove_cvref_t<E>>) {
        return *executor;
    } else {
        return (executor);
    }
}

} // namespace detail

template <class Executor, class F, class... Args>
auto event_loop::run_in_executor(Executor&& executor, F&& f, Args&&... args) {
    using executor_type = std::remove_cvref_t<std::remove_pointer_t<std::remove_cvref_t<Executor>>>;
    check_usable_here("run_in_executor");

    if constexpr (detail::makes_own_future<executor_type>) {
        // The process pool sends the function and its arguments, not a
        // closure; its own rules (process_pool.hpp) decide the result type.
        return detail::dereference(executor).start_future(*this, std::forward<F>(f),
                                                          std::forward<Args>(args)...);
    } else {
        detail::check_offloadable<F, Args...>();
        using call = detail::call_for<F, Args...>;
        using result = typename call::result_type;
        if constexpr (std::is_null_pointer_v<std::remove_cvref_t<Executor>> ||
                      std::is_same_v<executor_type, thread_pool_executor>) {
            thread_pool_executor* pool = nullptr;
            if constexpr (std::is_pointer_v<std::remove_cvref_t<Executor>>) {
                pool = executor;
            } else if constexpr (!std::is_null_pointer_v<std::remove_cvref_t<Executor>>) {
                pool = &executor;
            }
            thread_pool_executor& target = pool ? *pool : default_executor();
            auto* state = new detail::future_operation<detail::pool_operation<call>>(
                call(std::forward<F>(f), std::forward<Args>(args)...));
            return detail::start_future<result>(*this, state,
                                                [&] { return state->start(target, *this); });
        } else {
            static_assert(detail::executor<executor_type>,
                          "unblock::run_in_executor: the executor needs a member execute(f) that "
                          "runs the nullary callable f exactly once on some thread (or pass "
                          "nullptr for the loop's default executor)");
            executor_type& target = detail::dereference(executor);
            auto* state = new detail::future_operation<detail::executor_operation<call>>(
                call(std::forward<F>(f), std::forward<Args>(args)...));
            return detail::start_future<result>(*this, state,
                                                [&] { return state->start(target, *this); });
        }
    }
}

/// Submits `f(args...)` to `executor` and returns a `future` at once (asyncio's
/// loop.run_in_executor). `executor` is a `thread_pool_executor`, any object
/// with `execute(f)`, a pointer to one, or `nullptr` for the running loop's
/// default executor. The work runs even if the future is dropped.
///
/// On a thread pool, from the loop's own thread, the call reaches the pool at
/// the end of the current loop iteration — when the calling coroutine next
/// suspends — together with every other call submitted in it (one lock, one
/// wake-up); a `shutdown()` of the pool from the loop thread hands them over
/// first. Never block the loop thread waiting for the call to start.
///
///     auto f = unblock::run_in_executor(nullptr, blocking_task);
///     co_await f;
template <class Executor, class F, class... Args>
auto run_in_executor(Executor&& executor, F&& f, Args&&... args) {
    return get_running_loop().run_in_executor(std::forward<Executor>(executor), std::forward<F>(f),
                                              std::forward<Args>(args)...);
}

} // namespace unblock
