/// \file detail/loop/event_loop_impl.hpp
/// The member templates of `event_loop` that start tasks, and `run` /
/// `create_task`. Included at the bottom of event_loop.hpp (Asio's impl/
/// pattern): the class reads first, its templates after.
#pragma once

#include "../../event_loop.hpp"

#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <unistd.h>

namespace unblock {

namespace detail {

/// The coroutine that runs any other awaitable (to_thread(...), a future) as a task.
template <class Value, class Awaitable>
task<Value> run_awaitable(Awaitable awaitable) {
    if constexpr (std::is_void_v<Value>) {
        co_await std::move(awaitable);
    } else {
        co_return co_await std::move(awaitable);
    }
}

/// A callable that create_task can start: calling it yields an awaitable.
template <class Callable, class... Args>
concept task_factory =
    std::is_invocable_v<Callable&, Args...> && awaitable<std::invoke_result_t<Callable&, Args...>>;

/// The coroutine of create_task(callable, args...): its parameters keep the
/// callable (a lambda's captures) and the arguments alive while the task runs.
template <class Result, class Callable, class... Args>
task<Result> run_callable(Callable callable, Args... args) {
    if constexpr (std::is_void_v<Result>) {
        co_await std::invoke(callable, std::move(args)...);
    } else {
        co_return co_await std::invoke(callable, std::move(args)...);
    }
}

/// True on the process's main thread while SIGINT has its default action:
/// then run() may take SIGINT over (as asyncio.run does).
inline bool sigint_may_cancel_main() noexcept {
    struct sigaction current {};
    return ::getpid() == ::gettid() && ::sigaction(SIGINT, nullptr, &current) == 0 &&
           (current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_DFL;
}

/// run()'s main on the main thread: the first SIGINT cancels `main` and gives
/// SIGINT its default action back, so a second one ends the process.
template <class Value>
task<Value> cancel_main_on_sigint(task<Value> main) {
    event_loop& loop = get_running_loop();
    auto handle = loop.create_task(std::move(main), "main");
    bool interrupted = false;
    loop.add_signal_handler(SIGINT, [&interrupted, &handle] {
        interrupted = true;
        handle.cancel();
        get_running_loop().remove_signal_handler(SIGINT);
    });
    struct restore_sigint {
        event_loop& loop;
        ~restore_sigint() { loop.remove_signal_handler(SIGINT); }
    } restore{loop};
    try {
        if constexpr (std::is_void_v<Value>) {
            co_await handle;
            co_return;
        } else {
            co_return co_await handle;
        }
    } catch (const cancelled_error&) {
        if (interrupted) throw interrupted_error();
        throw;
    }
}

} // namespace detail

template <class Callable, class... Args>
    requires(!detail::awaitable<Callable>)
auto event_loop::create_task(Callable&& callable, Args&&... args) {
    using callable_type = std::decay_t<Callable>;
    constexpr bool callable_ok = detail::task_factory<callable_type, std::decay_t<Args>...>;
    static_assert(
        callable_ok,
        "unblock::create_task needs an awaitable (a task<T>, to_thread(...), an object with "
        "await_ready/await_suspend/await_resume) or a callable that returns one when called with "
        "the given arguments (decay-copied, passed as rvalues)");
    if constexpr (callable_ok) {
        using result =
            detail::await_result_t<std::invoke_result_t<callable_type&, std::decay_t<Args>...>>;
        return create_task(detail::run_callable<result, callable_type, std::decay_t<Args>...>(
            std::forward<Callable>(callable), std::forward<Args>(args)...));
    }
}

template <class Awaitable>
    requires detail::awaitable<Awaitable>
auto event_loop::create_task(Awaitable awaitable, std::string name)
    -> join_handle<detail::await_result_t<Awaitable>> {
    check_usable_here("create_task");
    using result = detail::await_result_t<Awaitable>;
    std::coroutine_handle<detail::task_promise<result>> coroutine;
    if constexpr (std::is_same_v<Awaitable, task<result>>) {
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

template <class Value>
Value event_loop::run_until_complete(task<Value> main) {
    running_scope scope(*this);
    join_handle<Value> handle = create_task(std::move(main), "main");
    while (!handle.done())
        iterate();
    return handle.result();
}

/// Schedules `awaitable` on the running loop; see `event_loop::create_task`.
template <class Awaitable>
    requires detail::awaitable<Awaitable>
auto create_task(Awaitable awaitable, std::string name = {})
    -> join_handle<detail::await_result_t<Awaitable>> {
    return get_running_loop().create_task(std::move(awaitable), std::move(name));
}

/// Schedules `callable(args...)` on the running loop, keeping the callable and
/// the arguments alive until the task ends; see `event_loop::create_task`.
///
///     auto h = unblock::create_task([&]() -> task<> { co_await work(state); });
template <class Callable, class... Args>
    requires(!detail::awaitable<Callable>)
auto create_task(Callable&& callable, Args&&... args) {
    return get_running_loop().create_task(std::forward<Callable>(callable),
                                          std::forward<Args>(args)...);
}

/// asyncio.run: runs `main` on a new loop on this thread and returns its value
/// or rethrows its exception. Before returning, cancels the tasks still
/// pending and waits for them, then shuts the loop's default executor down.
/// Throws `invalid_state_error` when called on a thread that runs a loop.
///
/// On the main thread, while SIGINT has its default action, the first SIGINT
/// (Ctrl-C) cancels `main` (its cleanup runs; offloaded calls are withdrawn
/// or asked to stop through their stop token) and run() throws
/// `interrupted_error`; SIGINT gets its default action back at once, so a
/// second one ends the process.
template <class Value>
Value run(task<Value> main, event_loop::options settings = {}) {
    if (detail::t_running_loop != nullptr) {
        throw invalid_state_error(
            "unblock::run() cannot be called while an event loop is running on this thread; "
            "inside a coroutine, co_await the task instead");
    }
    event_loop loop(settings);
    if (detail::sigint_may_cancel_main())
        return loop.run_until_complete(detail::cancel_main_on_sigint(std::move(main)));
    return loop.run_until_complete(std::move(main));
}

} // namespace unblock
