/// \file event.hpp
/// `event`: asyncio.Event for the tasks of one loop.
#pragma once

#include "detail/loop/cancellable_wait.hpp"
#include "detail/sync/waiter_list.hpp"

#include <coroutine>

namespace unblock {

class event;

namespace detail {

/// `co_await ev.wait()`: does not suspend if the event is set; otherwise waits
/// in the event's FIFO. Cancellable per detail::cancellable_wait (a cancelled
/// waiter leaves the FIFO; one cancelled after set() woke it throws too).
class event_wait_awaiter final : waiter_node, cancellable_wait {
public:
    explicit event_wait_awaiter(event& owner) noexcept : m_event(&owner) {}
    event_wait_awaiter(event_wait_awaiter&& other) noexcept : m_event(other.m_event) {}
    event_wait_awaiter& operator=(event_wait_awaiter&&) = delete;

    bool await_ready();

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) noexcept;

    void await_resume() {
        end_wait();
        throw_if_cancelled();
    }

private:
    void on_cancel() noexcept override;

    event* m_event;
};

} // namespace detail

/// A flag tasks of one event loop can wait for (asyncio.Event).
///
/// `set()` wakes every waiting task (in the order they began waiting) and lets
/// later `wait()`s through until `clear()`. No OS lock: calls are made on the
/// loop's thread; the event binds to the loop that first uses it, and `wait()`
/// or `set()` from another thread or loop throws `invalid_state_error` (from
/// another thread, post the set: `loop.call_soon_threadsafe([&] { ev.set(); })`).
///
///     unblock::event ready;
///     // one task:   co_await ready.wait();
///     // another:    ready.set();
class event {
public:
    event() noexcept = default;
    event(const event&) = delete;
    event& operator=(const event&) = delete;

    /// Waits until the event is set; returns at once if it is.
    [[nodiscard]] detail::event_wait_awaiter wait() noexcept {
        return detail::event_wait_awaiter(*this);
    }

    /// Sets the flag and wakes every waiter.
    void set() {
        event_loop& loop = m_binding.check("unblock::event::set()");
        m_set = true;
        while (m_waiters.grant_first(loop)) {
        }
    }
    /// Resets the flag: later wait()s wait for the next set().
    void clear() noexcept { m_set = false; }
    /// True while set.
    [[nodiscard]] bool is_set() const noexcept { return m_set; }

private:
    friend class detail::event_wait_awaiter;

    detail::waiter_list m_waiters;
    detail::loop_binding m_binding;
    bool m_set = false;
};

namespace detail {

inline bool event_wait_awaiter::await_ready() {
    m_event->m_binding.check("unblock::event::wait()");
    return m_event->m_set;
}

template <class Promise>
void event_wait_awaiter::await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
    task_state* task = task_of(awaiting);
    m_event->m_waiters.push(*this, awaiting, task);
    begin_wait(task);
}

inline void event_wait_awaiter::on_cancel() noexcept {
    // Granted already: the wake-up is not consumed, so there is nothing to pass on.
    waiter_list::withdraw(m_event->m_binding.loop(), *this);
}

} // namespace detail

} // namespace unblock
