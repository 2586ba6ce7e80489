/// \file detail/sync/waiter_list.hpp
/// The FIFO of tasks suspended in a synchronisation primitive of the loop
/// (semaphore, lock, event, capacity_limiter), and the check that binds a
/// primitive to one loop.
///
/// Design: a waiter is the awaiter in the waiting coroutine's frame; it is
/// both the node of the primitive's FIFO and the node the loop's ready queue
/// resumes it through, so waiting allocates nothing. Granting a waiter
/// (a permit, a wake-up) takes it out of the FIFO, marks it granted and
/// schedules it; a waiter cancelled while still in the FIFO leaves it and is
/// scheduled to throw; a waiter cancelled after it was granted but before it
/// resumed gives what it was granted back (its primitive passes it on), so
/// nothing is lost.
#pragma once

#include "../../errors.hpp"
#include "../../event_loop.hpp"
#include "../intrusive_list.hpp"
#include "../loop/loop_node.hpp"

#include <cassert>
#include <coroutine>
#include <string>

namespace unblock::detail {

/// A task suspended in a primitive: a node of the primitive's FIFO and of the
/// loop's ready queue.
class waiter_node : public list_hook<waiter_node>, public loop_node {
public:
    waiter_node() noexcept : loop_node(&wake) {}
    /// A waiter whose grant (or withdrawal) runs `on_scheduled` on the loop
    /// instead of resuming the coroutine (a limiter's call starts its work).
    explicit waiter_node(run_fn on_scheduled) noexcept : loop_node(on_scheduled) {}
    waiter_node(const waiter_node&) = delete;
    waiter_node& operator=(const waiter_node&) = delete;
    /// A frame destroyed while suspended (its loop torn down) leaves the FIFO.
    ~waiter_node() { list_hook<waiter_node>::unlink(); }

    [[nodiscard]] bool is_waiting() const noexcept { return list_hook<waiter_node>::is_linked(); }
    [[nodiscard]] bool is_granted() const noexcept { return m_granted; }

private:
    friend class waiter_list;

    static void wake(loop_node* node) noexcept {
        static_cast<waiter_node*>(node)->m_awaiting.resume();
    }

    std::coroutine_handle<> m_awaiting;
    bool m_granted = false;
};

/// The first-in first-out list of a primitive's waiters. Loop thread only.
class waiter_list {
public:
    waiter_list() noexcept = default;
    waiter_list(const waiter_list&) = delete;
    waiter_list& operator=(const waiter_list&) = delete;
    /// A primitive must outlive the tasks waiting on it: their awaiters point into this list.
    ~waiter_list() {
        assert(empty() && "an unblock synchronisation primitive was destroyed while a task waits "
                          "on it; keep it alive until every waiter has resumed");
    }

    [[nodiscard]] bool empty() const noexcept { return m_list.empty(); }

    /// Appends `waiter`, which resumes `awaiting` of task `task` when granted.
    void push(waiter_node& waiter, std::coroutine_handle<> awaiting, task_state* task) noexcept {
        waiter.m_awaiting = awaiting;
        waiter.m_task = task;
        waiter.m_granted = false;
        m_list.push_back(&waiter);
    }

    /// Grants the first waiter and schedules it on `loop` (it resumes in the
    /// next iteration, so the caller may still hand it something); returns it,
    /// or nullptr if none waits.
    waiter_node* grant_first(event_loop& loop) noexcept {
        waiter_node* first = m_list.pop_front();
        if (first == nullptr) return nullptr;
        first->m_granted = true;
        loop_access::schedule(loop, first);
        return first;
    }

    /// Takes a cancelled waiter out of the list and schedules it to resume
    /// (and throw). Returns false if it was no longer waiting: it was granted.
    static bool withdraw(event_loop& loop, waiter_node& waiter) noexcept {
        if (!waiter.is_waiting()) return false;
        waiter.list_hook<waiter_node>::unlink();
        loop_access::schedule(loop, &waiter);
        return true;
    }

private:
    intrusive_list<waiter_node> m_list;
};

/// Binds a primitive to the loop that first uses it (asyncio's
/// _LoopBoundMixin) and refuses use from any other thread or loop.
class loop_binding {
public:
    /// The loop this primitive belongs to, binding it to this thread's running
    /// loop on first use; throws `invalid_state_error` naming `what` otherwise.
    event_loop& check(const char* what) {
        event_loop* running = t_running_loop;
        if (running == nullptr) {
            throw invalid_state_error(
                std::string(what) +
                ": no event loop runs on this thread; the synchronisation primitives are "
                "loop-thread objects: use them from tasks of the loop that uses them, and reach "
                "that loop from other threads with event_loop::call_soon_threadsafe");
        }
        if (m_loop == nullptr) {
            m_loop = running;
        } else if (m_loop != running) {
            throw invalid_state_error(
                std::string(what) +
                ": this object belongs to another event loop (the first one that used it); "
                "create one per loop");
        }
        return *m_loop;
    }

    /// The bound loop; only after a successful `check`.
    [[nodiscard]] event_loop& loop() const noexcept { return *m_loop; }

private:
    event_loop* m_loop = nullptr;
};

} // namespace unblock::detail
