/// \file task_group.hpp
/// `task_group` and `with_task_group`: tasks that succeed or fail as one
/// (asyncio.TaskGroup).
#pragma once

#include "detail/loop/cancellable_wait.hpp"
#include "detail/loop/loop_node.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "join_handle.hpp"

#include <algorithm>
#include <concepts>
#include <exception>
#include <functional>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace unblock {

class task_group;

namespace detail {

/// What an awaitable made by `Factory` yields.
template <class Factory>
using factory_result_t = await_result_t<std::invoke_result_t<Factory&>>;

} // namespace detail

/// A set of tasks that succeed or fail as one (asyncio.TaskGroup), made by
/// `with_task_group`, which is its only way in and its only way out:
///
///     co_await unblock::with_task_group([&](unblock::task_group& group) -> unblock::task<> {
///         group.create_task(fetch(1));
///         group.create_task(fetch(2));
///         co_return;
///     });
///
/// - When a task of the group (or the body) fails, the others and the body
///   are cancelled; `with_task_group` then waits for all of them and throws
///   an `exception_group` holding every failure (also a single one, as
///   asyncio does). Cancellation is not a failure.
/// - Cancelling the task that awaits `with_task_group` cancels the body and
///   every task of the group, and waits for them.
/// - `with_task_group` returns only when every task of the group has ended,
///   whatever happened, so no task outlives what the body's frame holds.
///
/// Why a function and not an object the user awaits at the end of a scope:
/// C++ has no `async with`; a group object whose end must be awaited can be
/// left without awaiting it (an exception, an early `co_return`), and then
/// its tasks outlive the frame they reference. Here the group lives in
/// `with_task_group`'s own frame, the body gets a reference, and there is no
/// way to forget the wait or await the group twice.
///
/// Loop thread only.
class task_group {
public:
    task_group(const task_group&) = delete;
    task_group& operator=(const task_group&) = delete;

    /// Starts `awaitable` as a task of the group (starting in the next
    /// iteration) and returns its handle, which may be awaited or dropped
    /// (the group waits for the task either way). Throws
    /// `invalid_state_error` once the group is shutting down (a task failed,
    /// or the group was cancelled) or has ended, and when called from
    /// another thread than the group's loop.
    template <class Awaitable>
        requires detail::awaitable<Awaitable>
    auto create_task(Awaitable awaitable, std::string name = {})
        -> join_handle<detail::await_result_t<Awaitable>> {
        return start([awaitable = std::move(awaitable)]() mutable { return std::move(awaitable); },
                     std::move(name));
    }

    /// Starts `callable(args...)` (a coroutine lambda, a function returning a
    /// task) as a task of the group; the callable and decayed copies of the
    /// arguments live until the task ends. See the other overload.
    template <class Callable, class... Args>
        requires(!detail::awaitable<Callable>)
    &&std::invocable<std::decay_t<Callable>&, std::decay_t<Args>&...> auto
    create_task(Callable&& callable, Args&&... args) {
        return start([callable = std::forward<Callable>(callable),
                      ... args = std::forward<Args>(
                          args)]() mutable { return std::invoke(callable, args...); },
                     {});
    }

    /// `create_task` without the handle (Trio's and AnyIO's `start_soon`):
    /// the group still waits for the task and reports its failure. Use it
    /// where the handle would only be dropped (a `join_handle` is
    /// `[[nodiscard]]`, because outside a group a dropped handle detaches).
    template <class First, class... Rest>
    void start_soon(First&& first, Rest&&... rest) {
        create_task(std::forward<First>(first), std::forward<Rest>(rest)...).detach();
    }

    /// Tasks of the group (the body included) that have not ended.
    [[nodiscard]] std::size_t size() const noexcept { return m_running; }
    /// True once a task failed or the group was cancelled: it accepts no new tasks.
    [[nodiscard]] bool shutting_down() const noexcept { return m_state != state::open; }

private:
    template <class Body>
    friend auto with_task_group(Body body);

    enum class state { open, shutting_down, ended };

    explicit task_group(event_loop& loop) noexcept : m_loop(loop) {}

    /// Creates the task running `factory()`'s awaitable inside `member`.
    template <class Factory>
    auto start(Factory factory, std::string name) {
        check_accepting();
        m_members.reserve(m_members.size() + 1); // so that nothing throws once the task exists
        auto handle = m_loop.create_task(member(*this, std::move(factory)), std::move(name));
        m_members.push_back(detail::loop_access::state_of(handle));
        ++m_running;
        return handle;
    }

    /// with_task_group's coroutine.
    template <class Result, class Body>
    static task<Result> run(Body body) {
        task_group group(get_running_loop());
        auto body_task =
            group.start([&body, &group]() { return std::invoke(body, group); }, "task_group body");
        bool cancelled = false;
        while (group.m_running != 0) {
            end_awaiter ending(group);
            co_await ending;
            cancelled = cancelled || ending.cancel_requested();
        }
        group.m_state = state::ended;
        if (!group.m_errors.empty() || group.m_lost_errors) {
            if (group.m_lost_errors) {
                group.m_errors.push_back(std::make_exception_ptr(std::bad_alloc()));
            }
            throw exception_group(std::move(group.m_errors));
        }
        if (cancelled) throw cancelled_error();
        co_return body_task.result();
    }

    void check_accepting() const {
        if (detail::t_running_loop != &m_loop) {
            throw invalid_state_error(
                "unblock::task_group::create_task: called outside the group's event loop "
                "thread; create the group's tasks from its own loop (a coroutine of the body "
                "or of one of its tasks)");
        }
        if (m_state == state::shutting_down) {
            throw invalid_state_error(
                "unblock::task_group::create_task: the group is shutting down (a task failed "
                "or the group was cancelled), so it starts no new task; let the exception "
                "propagate out of with_task_group");
        }
        if (m_state == state::ended) {
            throw invalid_state_error(
                "unblock::task_group::create_task: the group has ended (with_task_group "
                "returned); start new tasks in a new group, or with unblock::create_task");
        }
    }

    /// The body of every task of the group: runs the awaitable, reports a
    /// failure to the group, and tells it when the task ends.
    template <class Factory>
    static auto member(task_group& group, Factory factory)
        -> task<detail::factory_result_t<Factory>> {
        detail::task_state* const self = co_await detail::current_task_state{};
        const member_scope scope{group, self};
        try {
            if constexpr (std::is_void_v<detail::factory_result_t<Factory>>) {
                co_await factory();
                co_return;
            } else {
                co_return co_await factory();
            }
        } catch (const cancelled_error&) {
            throw; // not a failure
        } catch (...) {
            group.member_failed(self, std::current_exception());
            throw;
        }
    }

    /// Ends a member when its coroutine body is left, however it is left.
    struct member_scope {
        task_group& group;
        detail::task_state* self;
        ~member_scope() { group.member_ended(self); }
    };

    void member_failed(detail::task_state* self, std::exception_ptr error) noexcept {
        // The group reports it (exception_group): not also the loop's
        // "exception never retrieved" handler when the handle was dropped.
        self->m_exception_retrieved = true;
        try {
            m_errors.push_back(std::move(error));
        } catch (...) {
            m_lost_errors = true; // out of memory: still fail the group
        }
        shut_down(self);
    }

    void member_ended(detail::task_state* self) noexcept {
        const auto it = std::find(m_members.begin(), m_members.end(), self);
        if (it != m_members.end()) m_members.erase(it);
        if (--m_running == 0 && m_waiting) {
            m_waiting = false;
            // Resume the waiter in the next iteration: this member's frame is
            // still unwinding now.
            detail::loop_access::schedule(m_loop, &m_wake);
        }
    }

    /// Stops accepting tasks and cancels every member but `except`.
    void shut_down(detail::task_state* except) noexcept {
        if (m_state == state::open) m_state = state::shutting_down;
        // request_cancel never resumes a task, so no member ends meanwhile.
        for (std::size_t i = 0; i < m_members.size(); ++i) {
            if (m_members[i] != except) m_members[i]->request_cancel();
        }
    }

    /// Waits until every member has ended; cancelling it shuts the group down.
    class end_awaiter final : detail::cancellable_wait {
    public:
        explicit end_awaiter(task_group& group) noexcept : m_group(group) {}
        bool await_ready() const noexcept { return m_group.m_running == 0; }
        template <class Promise>
        void await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
            m_group.m_wake.m_coroutine = awaiting;
            m_group.m_waiting = true;
            begin_wait(detail::task_of(awaiting));
        }
        void await_resume() noexcept { end_wait(); }
        using cancellable_wait::cancel_requested;

    private:
        void on_cancel() noexcept override { m_group.shut_down(nullptr); }
        task_group& m_group;
    };

    event_loop& m_loop;
    std::vector<detail::task_state*> m_members; ///< tasks not ended, for cancelling them
    std::size_t m_running = 0;
    state m_state = state::open;
    bool m_waiting = false; ///< with_task_group is suspended in end_awaiter
    bool m_lost_errors = false;
    std::vector<std::exception_ptr> m_errors;
    detail::resume_node m_wake;
};

/// Runs `body(group)` (a callable returning a task or another awaitable)
/// with a fresh `task_group`, waits for every task of the group, and returns
/// the body's value; see `task_group`. Throws `exception_group` if the body
/// or a task failed, `cancelled_error` if the awaiting task was cancelled
/// and nothing failed.
template <class Body>
auto with_task_group(Body body) {
    static_assert(std::invocable<Body&, task_group&>,
                  "unblock::with_task_group: the body must be callable with a task_group&, "
                  "e.g. [&](unblock::task_group& group) -> unblock::task<> { ... }");
    using awaitable_type = std::invoke_result_t<Body&, task_group&>;
    static_assert(detail::awaitable<awaitable_type>,
                  "unblock::with_task_group: the body must return an awaitable, e.g. "
                  "unblock::task<T>; declare the lambda's return type as -> unblock::task<T>");
    return task_group::run<detail::await_result_t<awaitable_type>>(std::move(body));
}

} // namespace unblock
