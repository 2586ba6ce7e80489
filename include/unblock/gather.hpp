/// \file gather.hpp
/// `gather`: run several awaitables concurrently and collect their results.
#pragma once

#include "detail/loop/cancellable_wait.hpp"
#include "event_loop.hpp"

#include <array>
#include <exception>
#include <span>
#include <tuple>
#include <variant>
#include <vector>

namespace unblock {

/// Tag: `gather(return_exceptions, ...)` returns each outcome instead of throwing.
struct return_exceptions_t {
    explicit return_exceptions_t() = default;
};
inline constexpr return_exceptions_t return_exceptions{};

/// The value of a finished operation, or the exception it ended with.
template <class Value>
class outcome {
public:
    explicit outcome(std::exception_ptr error) noexcept : m_state(std::move(error)) {}
    template <class Other>
    explicit outcome(std::in_place_t, Other&& value)
        : m_state(std::in_place_index<0>, std::forward<Other>(value)) {}

    [[nodiscard]] bool has_value() const noexcept { return m_state.index() == 0; }
    /// The exception, or nullptr when there is a value.
    [[nodiscard]] std::exception_ptr error() const noexcept {
        return has_value() ? nullptr : std::get<1>(m_state);
    }
    /// The value; rethrows the exception if there is none.
    Value& value() & {
        if (!has_value()) std::rethrow_exception(std::get<1>(m_state));
        return std::get<0>(m_state);
    }
    Value&& value() && { return std::move(value()); }

private:
    std::variant<Value, std::exception_ptr> m_state;
};

namespace detail {

/// What gather yields for one awaitable: its result, `std::monostate` for void.
template <class Awaitable>
using gather_value_t = std::conditional_t<std::is_void_v<await_result_t<Awaitable>>, std::monostate,
                                          std::remove_cvref_t<await_result_t<Awaitable>>>;

/// When a gather_awaiter cancels the children that are still running.
enum class cancel_siblings {
    never,              ///< gather(return_exceptions, ...)
    on_failure,         ///< gather: the first failure stops the rest
    on_first_completion ///< when_any: the first to finish, however, stops the rest
};

/// Waits until every task of a gather (or a when_any) has finished.
///
/// The first child to fail, or to finish, makes the others cancelled as
/// `policy` says. If the gathering task is cancelled, every child is
/// cancelled. Either way the awaiter resumes only when all children have
/// finished, so none outlives what it references.
class gather_awaiter final : cancellable_wait, completion_listener {
public:
    gather_awaiter(std::span<task_state* const> children, cancel_siblings policy) noexcept
        : m_children(children), m_policy(policy) {}

    bool await_ready() noexcept {
        for (task_state* child : m_children) {
            if (!child->m_done) {
                ++m_remaining;
            } else {
                note_finished(*child);
            }
        }
        return m_remaining == 0;
    }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
        m_awaiting = awaiting;
        for (task_state* child : m_children) {
            if (!child->m_done) child->m_listener = this;
        }
        begin_wait(task_of(awaiting));
    }

    void await_resume() {
        end_wait();
        throw_if_cancelled();
    }

    /// The first child that failed, in completion order, or nullptr.
    [[nodiscard]] task_state* first_failure() const noexcept { return m_first_failure; }
    /// The first child that finished (value, exception or cancellation), in
    /// completion order; children already done when awaited count in their order.
    [[nodiscard]] task_state* first_finished() const noexcept { return m_first_finished; }

private:
    void note_finished(task_state& child) noexcept {
        if (!m_first_finished) {
            m_first_finished = &child;
            if (m_policy == cancel_siblings::on_first_completion) cancel_children();
        }
        if (!child.m_exception || m_first_failure) return;
        m_first_failure = &child;
        if (m_policy == cancel_siblings::on_failure) cancel_children();
    }

    std::coroutine_handle<> task_finished(task_state& child) noexcept override {
        note_finished(child);
        return --m_remaining == 0 ? m_awaiting : std::noop_coroutine();
    }

    void on_cancel() noexcept override { cancel_children(); }

    /// Last child first: of calls queued in one executor, the later ones are
    /// withdrawn before an earlier, running one is asked to stop, so its
    /// thread cannot pick up a sibling that is about to be cancelled.
    void cancel_children() noexcept {
        for (auto child = m_children.rbegin(); child != m_children.rend(); ++child)
            (*child)->request_cancel();
    }

    std::span<task_state* const> m_children;
    cancel_siblings m_policy;
    std::size_t m_remaining = 0;
    task_state* m_first_failure = nullptr;
    task_state* m_first_finished = nullptr;
    std::coroutine_handle<> m_awaiting;
};

/// The value of a finished child for a gather that throws on failure.
template <class Result, class Value>
Result take_value(join_handle<Value>& handle) {
    if constexpr (std::is_void_v<Value>) {
        handle.result();
        return std::monostate{};
    } else {
        return handle.result();
    }
}

/// The outcome of a finished child for a gather(return_exceptions, ...).
template <class Result, class Value>
outcome<Result> take_outcome(join_handle<Value>& handle) {
    try {
        return outcome<Result>(std::in_place, take_value<Result>(handle));
    } catch (...) {
        return outcome<Result>(std::current_exception());
    }
}

template <class Value>
task_state* state_pointer(join_handle<Value>& handle) noexcept {
    return loop_access::state_of(handle);
}

[[noreturn]] inline void rethrow_failure(task_state& failed) {
    failed.m_exception_retrieved = true;
    std::rethrow_exception(failed.m_exception);
}

} // namespace detail

namespace detail {

/// The one body of both variadic gathers: each awaitable runs as its own
/// task; with `collect`, each result is an `outcome`, otherwise the first
/// failure cancels the rest and is rethrown once they have stopped.
template <bool collect, class... Awaitable>
auto gather_all(Awaitable... awaitables)
    -> task<std::conditional_t<collect, std::tuple<outcome<gather_value_t<Awaitable>>...>,
                               std::tuple<gather_value_t<Awaitable>...>>> {
    // Braced initialisation: tasks are created (and so start) in argument order.
    std::tuple<join_handle<await_result_t<Awaitable>>...> handles{
        create_task(std::move(awaitables))...};
    const auto children =
        std::apply([](auto&... h) { return std::array{state_pointer(h)...}; }, handles);
    gather_awaiter waiting(children,
                           collect ? cancel_siblings::never : cancel_siblings::on_failure);
    co_await waiting;
    if constexpr (collect) {
        co_return std::apply(
            [](auto&... h) {
                return std::tuple<outcome<gather_value_t<Awaitable>>...>{
                    take_outcome<gather_value_t<Awaitable>>(h)...};
            },
            handles);
    } else {
        if (task_state* failed = waiting.first_failure()) rethrow_failure(*failed);
        co_return std::apply(
            [](auto&... h) {
                return std::tuple<gather_value_t<Awaitable>...>{
                    take_value<gather_value_t<Awaitable>>(h)...};
            },
            handles);
    }
}

} // namespace detail

/// Runs the awaitables concurrently (each as its own task) and returns their
/// results as a tuple, in argument order; a void result becomes `std::monostate`.
///
/// If one fails, the others are cancelled, gather waits until they have
/// stopped, and then rethrows the first exception (asyncio leaves the others
/// running; we do not, so nothing outlives the caller's frame). Other
/// failures go to the loop's exception handler. Cancelling the gather cancels
/// every child.
///
///     auto [a, b] = co_await unblock::gather(fetch(1), fetch(2));
template <class... Awaitable>
    requires(sizeof...(Awaitable) > 0 && (detail::awaitable<Awaitable> && ...))
auto gather(Awaitable... awaitables) -> task<std::tuple<detail::gather_value_t<Awaitable>...>> {
    return detail::gather_all<false>(std::move(awaitables)...);
}

/// Like `gather(a...)`, but never throws for a child: each result is an
/// `outcome` holding the value or the exception (asyncio's return_exceptions=True).
template <class... Awaitable>
    requires(sizeof...(Awaitable) > 0 && (detail::awaitable<Awaitable> && ...))
auto gather(return_exceptions_t, Awaitable... awaitables)
    -> task<std::tuple<outcome<detail::gather_value_t<Awaitable>>...>> {
    return detail::gather_all<true>(std::move(awaitables)...);
}

namespace detail {

/// Awaitables started as tasks, and the tasks' states for a gather_awaiter.
template <class Awaitable>
struct started_tasks {
    std::vector<join_handle<await_result_t<Awaitable>>> handles;
    std::vector<task_state*> children;
};

/// Starts each of `awaitables` as a task, in order, and empties the vector.
template <class Awaitable>
started_tasks<Awaitable> start_each(std::vector<Awaitable>& awaitables) {
    started_tasks<Awaitable> started;
    started.handles.reserve(awaitables.size());
    started.children.reserve(awaitables.size());
    for (Awaitable& awaitable : awaitables) {
        started.handles.push_back(create_task(std::move(awaitable)));
        started.children.push_back(state_pointer(started.handles.back()));
    }
    awaitables.clear();
    return started;
}

/// The one body of both vector gathers, the counterpart of gather_all: each
/// awaitable runs as its own task; with `collect`, each result is an
/// `outcome`, otherwise the first failure cancels the rest and is rethrown
/// once they have stopped.
template <bool collect, class Awaitable>
auto gather_each(std::vector<Awaitable> awaitables) -> task<std::vector<
    std::conditional_t<collect, outcome<gather_value_t<Awaitable>>, gather_value_t<Awaitable>>>> {
    using value = gather_value_t<Awaitable>;
    auto [handles, children] = start_each(awaitables);
    gather_awaiter waiting(children,
                           collect ? cancel_siblings::never : cancel_siblings::on_failure);
    co_await waiting;
    if constexpr (!collect) {
        if (task_state* failed = waiting.first_failure()) rethrow_failure(*failed);
    }
    std::vector<std::conditional_t<collect, outcome<value>, value>> results;
    results.reserve(handles.size());
    for (auto& handle : handles) {
        if constexpr (collect) {
            results.push_back(take_outcome<value>(handle));
        } else {
            results.push_back(take_value<value>(handle));
        }
    }
    co_return results;
}

} // namespace detail

/// Runs every awaitable of `awaitables` concurrently (each as its own task:
/// `task<T>`s, `to_thread(...)` calls, futures, join_handles, sleeps) and
/// returns their results in order; a void result becomes `std::monostate`.
/// Failure and cancellation behave as in the variadic `gather`: cancelling
/// the gather cancels every child (a future's work, a join_handle's task).
///
///     std::vector<decltype(unblock::to_thread(hash, path))> calls;
///     for (auto& p : paths) calls.push_back(unblock::to_thread(hash, p));
///     std::vector<digest> digests = co_await unblock::gather(std::move(calls));
template <class Awaitable>
    requires detail::awaitable<Awaitable>
auto gather(std::vector<Awaitable> awaitables)
    -> task<std::vector<detail::gather_value_t<Awaitable>>> {
    return detail::gather_each<false>(std::move(awaitables));
}

/// Like `gather(vector)`, but never throws for a child: each result is an
/// `outcome` holding the value or the exception (asyncio's return_exceptions=True).
template <class Awaitable>
    requires detail::awaitable<Awaitable>
auto gather(return_exceptions_t, std::vector<Awaitable> awaitables)
    -> task<std::vector<outcome<detail::gather_value_t<Awaitable>>>> {
    return detail::gather_each<true>(std::move(awaitables));
}

} // namespace unblock
