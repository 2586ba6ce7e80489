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

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <functional>
#include <optional>
#include <stop_token>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

namespace unblock {

namespace detail {

/// An executor as run_in_executor accepts it: `execute(f)` runs the nullary
/// `f` exactly once, on some thread (f fits std::function<void()>).
template <class Executor>
concept executor = requires(Executor& e, std::function<void()> f) {
    e.execute(std::move(f));
};

/// An executor that builds run_in_executor's future itself, because its calls
/// cross a process boundary (process_pool_executor, through process_pool.hpp).
template <class Executor>
concept makes_own_future = requires {
    typename Executor::process_executor_tag;
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

    /// `pool` null: the running loop's default executor.
    offload_awaiter(Call&& call, thread_pool_executor* pool)
        : operation(std::move(call), &on_complete), m_target(pool) {}

    bool await_ready() const noexcept { return false; }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) {
        task_state* waiter = task_of(awaiting);
        event_loop& loop = (waiter && waiter->m_loop) ? *waiter->m_loop : get_running_loop();
        m_awaiting = awaiting;
        this->m_task = waiter; // debug mode names the task this completion resumes
        offload_token in_flight(loop);
        operation::start(m_target ? *m_target : loop.default_executor(),
                         loop); // never completes inline
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
    thread_pool_executor* m_target;
};

template <class Function, class... Args>
using call_for = bound_call<std::decay_t<Function>, std::decay_t<Args>...>;

/// Checks an offloaded call before anything names its result type, so that the
/// message saying what to do is the first error; returns whether it is valid.
/// Callers instantiate nothing else when it is not (`if constexpr`).
template <class Function, class... Args>
constexpr bool check_offloadable() {
    using function = std::decay_t<Function>;
    constexpr bool callable = bindable_v<function, std::decay_t<Args>...>;
    constexpr bool stop_token_last =
        !callable && std::is_invocable_v<function, std::decay_t<Args>..., std::stop_token>;
    constexpr bool needs_lvalues =
        !callable && !stop_token_last &&
        (std::is_invocable_v<function, std::decay_t<Args>&...> ||
         std::is_invocable_v<function, std::stop_token, std::decay_t<Args>&...>);
    static_assert(callable || !stop_token_last,
                  "unblock: the function takes std::stop_token last; unblock passes the stop "
                  "token first: make std::stop_token the function's first parameter");
    static_assert(callable || !needs_lvalues,
                  "unblock: the function takes a non-const reference (such as std::string&), but "
                  "arguments are decay-copied like std::thread's and passed as rvalues: pass "
                  "std::ref(x) to let it change your object, or take the parameter by value or "
                  "const&");
    static_assert(
        callable || stop_token_last || needs_lvalues,
        "unblock: the function cannot be called with these arguments. Arguments are decay-copied "
        "like std::thread's: pass std::ref(x) for a reference parameter, or std::stop_token first "
        "if the function takes one");
    static_assert(std::is_move_constructible_v<function>, "unblock: the function must be movable");
    return callable && std::is_move_constructible_v<function>;
}

/// An executor `to_thread(executor, f, args...)` accepts: a thread pool, a
/// process pool, or any object with `execute(f)`.
template <class Executor>
concept any_executor = std::same_as<Executor, thread_pool_executor> || makes_own_future<Executor> ||
    executor<Executor>;

} // namespace detail

/// What `to_thread` returns: a lazy awaitable; nothing runs until it is awaited
/// (or handed to create_task). Awaitable once: the call and its arguments
/// move into the await, so a second `co_await` throws `invalid_state_error`.
template <class Call>
class [[nodiscard]] to_thread_awaitable {
public:
    /// `pool` null: the running loop's default executor.
    explicit to_thread_awaitable(Call call, thread_pool_executor* pool = nullptr)
        : m_call(std::move(call)), m_pool(pool) {}

    using awaiter = detail::offload_awaiter<Call>;

    awaiter operator co_await() && { return awaiter(take_call(), m_pool); }
    awaiter operator co_await() & { return awaiter(take_call(), m_pool); }

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
    thread_pool_executor* m_pool;
    bool m_awaited = false;
};

/// What `to_thread(executor, f, args...)` returns for an executor other than a
/// thread pool (a process pool, any object with `execute(f)`): lazy too; the
/// await starts the work as `run_in_executor` would and waits for its future,
/// so cancellation follows `future`'s rules. Awaitable once.
template <class Executor, class Function, class... Args>
class [[nodiscard]] executor_call_awaitable {
public:
    using future_type =
        decltype(std::declval<event_loop&>().run_in_executor(std::declval<Executor&>(),
                                                             std::declval<Function>(),
                                                             std::declval<Args>()...));

    template <class Callable, class... Given>
    executor_call_awaitable(Executor& executor, Callable&& f, Given&&... args)
        : m_executor(&executor),
          m_function(std::forward<Callable>(f)),
          m_arguments(std::forward<Given>(args)...) {}

    class awaiter {
    public:
        explicit awaiter(executor_call_awaitable& call) : m_call(&call) {}

        bool await_ready() {
            m_future.emplace(m_call->start());
            m_waiting.emplace(m_future->operator co_await());
            return m_waiting->await_ready();
        }
        template <class Promise>
        void await_suspend(std::coroutine_handle<Promise> awaiting) {
            m_waiting->await_suspend(awaiting);
        }
        decltype(auto) await_resume() { return m_waiting->await_resume(); }

    private:
        executor_call_awaitable* m_call;
        std::optional<future_type> m_future;
        std::optional<typename future_type::awaiter> m_waiting;
    };

    awaiter operator co_await() && { return awaiter(*this); }
    awaiter operator co_await() & { return awaiter(*this); }

private:
    future_type start() {
        if (m_awaited) {
            throw invalid_state_error(
                "unblock::to_thread(): this call was already awaited, and its arguments were moved "
                "into it; call to_thread(executor, f, args...) again to run f again");
        }
        m_awaited = true;
        return std::apply(
            [this](Args&... args) {
                return get_running_loop().run_in_executor(*m_executor, std::move(m_function),
                                                          std::move(args)...);
            },
            m_arguments);
    }

    Executor* m_executor;
    Function m_function;
    std::tuple<Args...> m_arguments;
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
template <class Function, class... Args>
    requires(!detail::any_executor<std::remove_cvref_t<Function>>)
auto to_thread(Function&& f, Args&&... args) {
    constexpr bool valid =
        detail::check_offloadable<Function, Args...>(); // first: its message leads
    if constexpr (valid) {
        using call = detail::call_for<Function, Args...>;
        return to_thread_awaitable<call>(
            call(std::forward<Function>(f), std::forward<Args>(args)...));
    }
}

/// `to_thread` on a chosen executor: lazy like `to_thread(f, args...)` —
/// nothing is submitted until it is awaited (or handed to create_task) —
/// where `run_in_executor(executor, f, args...)` (asyncio's
/// loop.run_in_executor) starts at once. `executor` is a
/// `thread_pool_executor` (the await allocates nothing, as with the default
/// executor), a `process_pool_executor` (its rules for `f` and the arguments
/// apply) or any object with `execute(f)`; it must outlive the await.
/// Result, exceptions and cancellation as for `to_thread` (a process pool
/// abandons a running call by replacing its worker, as `run_in_executor` does).
///
///     thread_pool_executor io(4);
///     std::string text = co_await unblock::to_thread(io, read_file, path);
template <class Executor, class Function, class... Args>
    requires detail::any_executor<Executor>
auto to_thread(Executor& executor, Function&& f, Args&&... args) {
    if constexpr (std::is_same_v<Executor, thread_pool_executor>) {
        constexpr bool valid = detail::check_offloadable<Function, Args...>();
        if constexpr (valid) {
            using call = detail::call_for<Function, Args...>;
            return to_thread_awaitable<call>(call(std::forward<Function>(f),
                                                  std::forward<Args>(args)...),
                                             &executor);
        }
    } else if constexpr (detail::makes_own_future<Executor>) {
        // The process pool checks f and the arguments itself (process_pool.hpp).
        return executor_call_awaitable<Executor, std::decay_t<Function>, std::decay_t<Args>...>(
            executor, std::forward<Function>(f), std::forward<Args>(args)...);
    } else {
        constexpr bool valid = detail::check_offloadable<Function, Args...>();
        if constexpr (valid) {
            return executor_call_awaitable<Executor, std::decay_t<Function>, std::decay_t<Args>...>(
                executor, std::forward<Function>(f), std::forward<Args>(args)...);
        }
    }
}

namespace detail {

/// The executor a run_in_executor argument names: a reference or a pointer to one.
template <class Executor>
decltype(auto) dereference(Executor&& executor) noexcept {
    if constexpr (std::is_pointer_v<std::remove_cvref_t<Executor>>) {
        return *executor;
    } else {
        return (executor);
    }
}

} // namespace detail

template <class Executor, class Function, class... Args>
auto event_loop::run_in_executor(Executor&& executor, Function&& f, Args&&... args) {
    using executor_type = std::remove_cvref_t<std::remove_pointer_t<std::remove_cvref_t<Executor>>>;
    check_usable_here("run_in_executor");

    if constexpr (detail::makes_own_future<executor_type>) {
        // The process pool sends the function and its arguments, not a
        // closure; its own rules (process_pool.hpp) decide the result type.
        return detail::dereference(executor).start_future(*this, std::forward<Function>(f),
                                                          std::forward<Args>(args)...);
    } else if constexpr (!detail::check_offloadable<Function, Args...>()) {
        return; // the static_assert above said what to do; nothing more to report
    } else {
        using call = detail::call_for<Function, Args...>;
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
                call(std::forward<Function>(f), std::forward<Args>(args)...));
            return detail::start_future<result>(*this, state,
                                                [&] { return state->start(target, *this); });
        } else {
            static_assert(detail::executor<executor_type>,
                          "unblock::run_in_executor: the executor needs a member execute(f) that "
                          "runs the nullary callable f exactly once on some thread (or pass "
                          "nullptr for the loop's default executor)");
            executor_type& target = detail::dereference(executor);
            auto* state = new detail::future_operation<detail::executor_operation<call>>(
                call(std::forward<Function>(f), std::forward<Args>(args)...));
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
template <class Executor, class Function, class... Args>
auto run_in_executor(Executor&& executor, Function&& f, Args&&... args) {
    return get_running_loop().run_in_executor(std::forward<Executor>(executor),
                                              std::forward<Function>(f),
                                              std::forward<Args>(args)...);
}

} // namespace unblock
