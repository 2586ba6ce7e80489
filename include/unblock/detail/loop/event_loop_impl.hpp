/// \file detail/loop/event_loop_impl.hpp
/// The member templates of `event_loop` that start tasks, and `run` /
/// `create_task`. Included at the bottom of event_loop.hpp (Asio's impl/
/// pattern): the class reads first, its templates after.
#pragma once

#include "../../event_loop.hpp"

#include <memory>
#include <string>
#include <type_traits>
#include <utility>

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

} // namespace detail

template <class A>
auto event_loop::create_task(A awaitable, std::string name)
    -> join_handle<detail::await_result_t<A>> {
    static_assert(
        detail::awaitable<A>,
        "unblock::create_task needs an awaitable: a task<T>, to_thread(...), or an object with "
        "await_ready/await_suspend/await_resume");
    check_usable_here("create_task");
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
