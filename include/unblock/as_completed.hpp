/// \file as_completed.hpp
/// `as_completed`: tasks handed back in the order they finish (asyncio.as_completed).
#pragma once

#include "detail/loop/cancellable_wait.hpp"
#include "detail/loop/loop_node.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "join_handle.hpp"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

namespace unblock {

/// Tasks handed back as they finish; made by `as_completed`.
///
///     auto finished = unblock::as_completed(std::move(tasks));
///     while (auto task = co_await finished.next()) {
///         use(task->result()); // a finished join_handle: result() returns or rethrows
///     }
///
/// Nothing is lost: a cancelled `next()` leaves every task where it was, and
/// the next call hands it back. Tasks not handed back when the object is
/// destroyed are cancelled and run on to their end detached (as_completed
/// is not a scope: use `with_task_group` or `gather` to wait for them).
/// Loop thread only; not movable (the tasks report to its address).
template <class Value>
class as_completed_tasks final : detail::completion_listener {
public:
    explicit as_completed_tasks(std::vector<join_handle<Value>> handles) {
        m_pending.reserve(handles.size());
        m_done.reserve(handles.size()); // so that a finishing task never allocates
        for (auto& handle : handles) {
            detail::task_state* state = detail::loop_access::state_of(handle);
            if (state == nullptr) {
                throw invalid_state_error(
                    "unblock::as_completed: an empty join_handle (moved-from or default) can "
                    "never finish; pass handles of tasks");
            }
            if (state->m_listener != nullptr) {
                throw invalid_state_error(
                    "unblock::as_completed: a task is already being awaited elsewhere; a task "
                    "can be awaited by one coroutine");
            }
        }
        for (auto& handle : handles) {
            if (handle.done()) {
                m_done.push_back(std::move(handle));
            } else {
                detail::loop_access::state_of(handle)->m_listener = this;
                m_pending.push_back(std::move(handle));
            }
        }
    }

    as_completed_tasks(const as_completed_tasks&) = delete;
    as_completed_tasks& operator=(const as_completed_tasks&) = delete;

    ~as_completed_tasks() {
        for (auto& handle : m_pending) {
            detail::task_state* state = detail::loop_access::state_of(handle);
            state->m_listener = nullptr;
            state->request_cancel(); // and the handle's destructor detaches it
        }
    }

    /// Tasks not yet handed back by `next()`.
    [[nodiscard]] std::size_t size() const noexcept {
        return m_pending.size() + (m_done.size() - m_taken);
    }

    /// Hands back the tasks not yet handed back, finished or not, and stops
    /// watching them (nothing is cancelled).
    [[nodiscard]] std::vector<join_handle<Value>> release() {
        std::vector<join_handle<Value>> rest;
        rest.reserve(size());
        for (std::size_t i = m_taken; i != m_done.size(); ++i)
            rest.push_back(std::move(m_done[i]));
        for (auto& handle : m_pending) {
            detail::loop_access::state_of(handle)->m_listener = nullptr;
            rest.push_back(std::move(handle));
        }
        m_taken = m_done.size();
        m_pending.clear();
        return rest;
    }

    /// `co_await next()`: the next task to finish (a finished join_handle), or
    /// an empty optional once all have been handed back. Cancellable.
    class next_awaiter final : detail::cancellable_wait {
    public:
        explicit next_awaiter(as_completed_tasks& owner) noexcept : m_owner(owner) {}
        /// Movable until awaited (e.g. into wait_for).
        next_awaiter(next_awaiter&& other) noexcept : m_owner(other.m_owner) {}

        bool await_ready() const {
            if (m_owner.m_waiter != nullptr) {
                throw invalid_state_error(
                    "unblock::as_completed: next() is already being awaited; take the tasks "
                    "one at a time from one coroutine");
            }
            return m_owner.m_taken != m_owner.m_done.size() || m_owner.m_pending.empty();
        }

        template <class Promise>
        void await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
            m_resume.m_coroutine = awaiting;
            m_owner.m_waiter = this;
            begin_wait(detail::task_of(awaiting));
        }

        std::optional<join_handle<Value>> await_resume() {
            end_wait();
            throw_if_cancelled(); // a task that finished meanwhile stays for the next call
            if (m_owner.m_taken == m_owner.m_done.size()) return std::nullopt;
            return std::optional<join_handle<Value>>(std::move(m_owner.m_done[m_owner.m_taken++]));
        }

    private:
        friend class as_completed_tasks;

        void on_cancel() noexcept override {
            m_owner.m_waiter = nullptr; // a task finishing now no longer resumes us
            detail::loop_access::schedule(*waiter()->m_loop, &m_resume);
        }

        as_completed_tasks& m_owner;
        detail::resume_node m_resume;
    };

    [[nodiscard]] next_awaiter next() noexcept { return next_awaiter(*this); }

private:
    std::coroutine_handle<> task_finished(detail::task_state& task) noexcept override {
        const auto it = std::find_if(m_pending.begin(), m_pending.end(), [&](auto& handle) {
            return detail::loop_access::state_of(handle) == &task;
        });
        m_done.push_back(std::move(*it)); // reserved: never allocates
        m_pending.erase(it);
        if (next_awaiter* waiter = std::exchange(m_waiter, nullptr)) {
            return waiter->m_resume.m_coroutine;
        }
        return std::noop_coroutine();
    }

    std::vector<join_handle<Value>> m_pending; ///< not finished; this listens to each
    std::vector<join_handle<Value>> m_done;    ///< finished, in completion order
    std::size_t m_taken = 0;                   ///< m_done[0, m_taken) were handed back
    next_awaiter* m_waiter = nullptr;
};

/// Hands `handles`' tasks back in the order they finish (asyncio.as_completed);
/// see `as_completed_tasks`.
template <class Value>
[[nodiscard]] as_completed_tasks<Value> as_completed(std::vector<join_handle<Value>> handles) {
    return as_completed_tasks<Value>(std::move(handles));
}

/// Starts each awaitable as a task and hands the tasks back in the order they
/// finish; see `as_completed_tasks`.
template <class Awaitable>
    requires detail::awaitable<Awaitable>
[[nodiscard]] as_completed_tasks<detail::await_result_t<Awaitable>>
as_completed(std::vector<Awaitable> awaitables) {
    std::vector<join_handle<detail::await_result_t<Awaitable>>> handles;
    handles.reserve(awaitables.size());
    for (Awaitable& awaitable : awaitables)
        handles.push_back(create_task(std::move(awaitable)));
    return as_completed_tasks<detail::await_result_t<Awaitable>>(std::move(handles));
}

} // namespace unblock
