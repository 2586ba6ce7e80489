/// \file detail/loop/task_state.hpp
/// What a running task knows about itself: its loop, its name, how to cancel
/// what it is waiting on, and who waits for it to finish.
#pragma once

#include "../intrusive_list.hpp"

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>

namespace unblock {
class event_loop;
} // namespace unblock

namespace unblock::detail {

class task_state;

/// What a task suspended in a cancellable awaiter calls to cancel it.
/// Implemented once, by `cancellable_wait` (cancellable_wait.hpp), which
/// holds the cancellation policy every awaiter follows.
class cancel_hook {
public:
    virtual void cancel() noexcept = 0;

protected:
    ~cancel_hook() = default;
};

/// Told when a task finishes; returns the coroutine to resume next (or `std::noop_coroutine()`).
class completion_listener {
public:
    virtual std::coroutine_handle<> task_finished(task_state& task) noexcept = 0;

protected:
    ~completion_listener() = default;
};

/// The state of one task scheduled with `create_task` (asyncio's Task), shared
/// by every coroutine of the chain it runs. It lives in the promise of the
/// task's outermost coroutine. Loop thread only. It is linked into its
/// loop's list of tasks until destroyed, so its frame never has to reach the
/// loop to leave it.
class task_state : public list_hook<task_state> {
public:
    task_state() = default;
    task_state(const task_state&) = delete;
    task_state& operator=(const task_state&) = delete;
    ~task_state() { unlink(); }

    /// The task is suspended in `hook` from now on. A cancellation that came
    /// while it was not (pending) is delivered to `hook` at once.
    void begin_wait(cancel_hook& hook) noexcept {
        m_waiting_on = &hook;
        if (m_cancel_pending) {
            m_cancel_pending = false;
            hook.cancel();
        }
    }

    /// The awaiter the task was suspended in has resumed it.
    void end_wait() noexcept { m_waiting_on = nullptr; }

    /// asyncio's Task.cancel(): the awaiter the task is suspended in is
    /// cancelled now; if the task is not suspended in one, the next one it
    /// suspends in is. Returns false if the task already finished.
    bool request_cancel() noexcept {
        if (m_done) return false;
        m_cancel_requested = true;
        if (m_waiting_on) {
            m_waiting_on->cancel();
        } else {
            m_cancel_pending = true;
        }
        return true;
    }

    /// "task-N" unless create_task was given a name (formatted only when asked for).
    [[nodiscard]] std::string name() const {
        return m_given_name ? *m_given_name : "task-" + std::to_string(m_id);
    }

    event_loop* m_loop = nullptr;
    std::uint64_t m_id = 0;                    ///< N of "task-N": creation order on its loop
    std::unique_ptr<std::string> m_given_name; ///< only named tasks pay for a string

    cancel_hook* m_waiting_on = nullptr;
    bool m_cancel_pending = false;   ///< cancel() came while not in a cancellable wait
    bool m_cancel_requested = false; ///< cancel() was ever called

    bool m_done = false;
    bool m_cancelled = false; ///< finished by cancelled_error
    bool m_detached = false;  ///< its join_handle is gone
    bool m_exception_retrieved = false;
    std::exception_ptr m_exception; ///< how it failed, if it did

    completion_listener* m_listener = nullptr;
};

/// Base of the promise types whose coroutines run inside a task.
struct promise_base {
    task_state* m_task = nullptr;
};

/// The task a coroutine runs in, or nullptr for a coroutine that is not ours.
template <class Promise>
[[nodiscard]] task_state* task_of(std::coroutine_handle<Promise> coroutine) noexcept {
    if constexpr (std::is_base_of_v<promise_base, Promise>) {
        return coroutine.promise().m_task;
    } else {
        return nullptr;
    }
}

/// `co_await current_task_state{}` yields the state of the task the awaiting
/// coroutine runs in (nullptr outside a task), without suspending.
struct current_task_state {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    bool await_suspend(std::coroutine_handle<Promise> self) noexcept {
        m_state = task_of(self);
        return false;
    }
    task_state* await_resume() const noexcept { return m_state; }

    task_state* m_state = nullptr;
};

} // namespace unblock::detail
