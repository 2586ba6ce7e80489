/// \file shield.hpp
/// `shield`: await something without letting a cancellation reach it (asyncio.shield).
#pragma once

#include "detail/loop/cancellable_wait.hpp"
#include "detail/loop/loop_node.hpp"
#include "event_loop.hpp"
#include "join_handle.hpp"

namespace unblock {

namespace detail {

/// Waits for a task; a cancel resumes the waiter at once and leaves the task
/// running, detached.
template <class Value>
class shield_awaiter final : cancellable_wait, completion_listener {
public:
    explicit shield_awaiter(join_handle<Value>& handle) noexcept : m_handle(handle) {}

    bool await_ready() const noexcept { return m_handle.done(); }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
        m_resume.m_coroutine = awaiting;
        m_child = loop_access::state_of(m_handle);
        m_child->m_listener = this;
        begin_wait(task_of(awaiting));
    }

    Value await_resume() {
        end_wait();
        if (cancel_requested()) {
            m_handle.detach(); // it runs on; an exception it ends with goes to the loop's handler
            throw cancelled_error();
        }
        return m_handle.result();
    }

private:
    std::coroutine_handle<> task_finished(task_state&) noexcept override {
        return m_resume.m_coroutine;
    }

    void on_cancel() noexcept override {
        // Not done (it would have resumed us): stop listening, resume soon.
        m_child->m_listener = nullptr;
        loop_access::schedule(*m_child->m_loop, &m_resume);
    }

    join_handle<Value>& m_handle;
    task_state* m_child = nullptr;
    resume_node m_resume;
};

} // namespace detail

/// Runs `awaitable` as its own task and waits for it, but a cancellation of
/// the awaiting task does not reach it (asyncio.shield): the await throws
/// `cancelled_error` at once and the inner task runs on to its end,
/// detached (an exception it ends with goes to the loop's exception
/// handler). Without a cancellation it returns the value or rethrows.
///
///     co_await unblock::shield(save_to_disk(record)); // a cancel does not interrupt the save
///
/// The inner task references what the awaitable references: it must stay
/// alive until the task ends, after the shield has returned.
template <class Awaitable>
    requires detail::awaitable<Awaitable>
auto shield(Awaitable awaitable) -> task<detail::await_result_t<Awaitable>> {
    auto handle = create_task(std::move(awaitable), "shielded");
    co_return co_await detail::shield_awaiter<detail::await_result_t<Awaitable>>(handle);
}

} // namespace unblock
