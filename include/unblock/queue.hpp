/// \file queue.hpp
/// `queue<Value>`: asyncio.Queue (with Python 3.13's shutdown) for the tasks of one loop.
#pragma once

#include "detail/loop/cancellable_wait.hpp"
#include "detail/sync/waiter_list.hpp"
#include "errors.hpp"

#include <coroutine>
#include <cstddef>
#include <deque>
#include <optional>
#include <type_traits>
#include <utility>

namespace unblock {

template <class Value>
class queue;

namespace detail {

/// `co_await q.get()`. Takes an item at once if there is one; otherwise waits
/// first-in first-out and is handed the next item put. Cancellable per
/// detail::cancellable_wait: a getter cancelled after an item was handed to it,
/// before it resumed, gives the item back (to the next getter, else to the
/// front of the queue), so no item is lost.
template <class Value>
class queue_get_awaiter final : public waiter_node, cancellable_wait {
public:
    explicit queue_get_awaiter(queue<Value>& owner) noexcept : m_queue(&owner) {}
    queue_get_awaiter(queue_get_awaiter&& other) noexcept : m_queue(other.m_queue) {}
    queue_get_awaiter& operator=(queue_get_awaiter&&) = delete;

    bool await_ready() { return m_queue->try_get_into(m_item, "unblock::queue::get()"); }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
        task_state* task = task_of(awaiting);
        m_queue->m_getters.push(*this, awaiting, task);
        begin_wait(task);
    }

    Value await_resume() {
        end_wait();
        throw_if_cancelled();
        if (!m_item) throw queue_shut_down_error(); // woken by shutdown()
        return std::move(*m_item);
    }

private:
    friend class queue<Value>;

    void on_cancel() noexcept override {
        if (waiter_list::withdraw(m_queue->m_binding.loop(), *this)) return;
        if (m_item) {
            m_queue->give_back(std::move(*m_item));
            m_item.reset();
        }
    }

    queue<Value>* m_queue;
    std::optional<Value> m_item;
};

/// `co_await q.put(x)`. Puts at once if there is room (or hands the item to a
/// waiting getter); otherwise waits first-in first-out for a slot, which is
/// reserved for it when granted. Cancellable per detail::cancellable_wait: a
/// putter cancelled after a slot was granted, before it resumed, passes the
/// slot to the next putter and puts nothing.
template <class Value>
class queue_put_awaiter final : public waiter_node, cancellable_wait {
public:
    queue_put_awaiter(queue<Value>& owner, Value item) : m_queue(&owner), m_item(std::move(item)) {}
    queue_put_awaiter(queue_put_awaiter&& other) noexcept(
        std::is_nothrow_move_constructible_v<Value>)
        : m_queue(other.m_queue), m_item(std::move(other.m_item)) {}
    queue_put_awaiter& operator=(queue_put_awaiter&&) = delete;

    bool await_ready() {
        m_resumed_ready = m_queue->try_put_from(m_item, "unblock::queue::put()");
        return m_resumed_ready;
    }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
        task_state* task = task_of(awaiting);
        m_queue->m_putters.push(*this, awaiting, task);
        begin_wait(task);
    }

    void await_resume() {
        end_wait();
        if (m_has_slot) {
            m_has_slot = false;
            --m_queue->m_reserved;
        }
        throw_if_cancelled();
        if (m_queue->m_shut_down) throw queue_shut_down_error();
        if (m_resumed_ready) return;
        m_queue->deliver(std::move(m_item));
        m_queue->serve_putters(); // handed to a getter: the reserved slot is free again
    }

private:
    friend class queue<Value>;

    void on_cancel() noexcept override {
        if (waiter_list::withdraw(m_queue->m_binding.loop(), *this)) return;
        if (m_has_slot) {
            m_has_slot = false;
            --m_queue->m_reserved;
            m_queue->serve_putters();
        }
    }

    queue<Value>* m_queue;
    Value m_item;
    bool m_has_slot = false;      ///< granted a reserved slot, not resumed yet
    bool m_resumed_ready = false; ///< put without suspending (await_ready)
};

/// `co_await q.join()`: waits until every item put has been marked done.
template <class Value>
class queue_join_awaiter final : waiter_node, cancellable_wait {
public:
    explicit queue_join_awaiter(queue<Value>& owner) noexcept : m_queue(&owner) {}
    queue_join_awaiter(queue_join_awaiter&& other) noexcept : m_queue(other.m_queue) {}
    queue_join_awaiter& operator=(queue_join_awaiter&&) = delete;

    bool await_ready() {
        m_queue->m_binding.check("unblock::queue::join()");
        return m_queue->m_unfinished == 0;
    }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
        task_state* task = task_of(awaiting);
        m_queue->m_joiners.push(*this, awaiting, task);
        begin_wait(task);
    }

    void await_resume() {
        end_wait();
        throw_if_cancelled();
    }

private:
    void on_cancel() noexcept override {
        waiter_list::withdraw(m_queue->m_binding.loop(), *this); // nothing to pass on
    }

    queue<Value>* m_queue;
};

} // namespace detail

/// A first-in first-out queue between the tasks of one event loop (asyncio.Queue).
///
/// `maxsize` 0 means unbounded. `co_await put(x)` waits while the queue is
/// full, `co_await get()` while it is empty; waiting putters and getters are
/// served first-in first-out (a getter is handed the next item; a putter is
/// granted the next free slot, which `full()` counts as taken). A task
/// cancelled while waiting leaves the queue, and loses no item: an item handed
/// to a getter cancelled before it resumed goes to the next getter or back to
/// the front. `task_done()` and `co_await join()` track the items processed.
/// `shutdown(immediate)` is Python 3.13's: puts then throw
/// `queue_shut_down_error`, as do gets once the queue is empty; `immediate`
/// also discards the items left (marking them done) and wakes every getter.
/// No OS lock: calls are made on the loop's thread; the queue binds to the
/// loop that first uses it, and a call from another thread or loop throws
/// `invalid_state_error`. Giving an item back from a cancelled getter must not
/// fail: `Value`'s move constructor should not throw (if it does, or memory
/// runs out there, the program terminates). Like every primitive, the queue
/// must outlive the tasks waiting on it.
///
///     unblock::queue<int> jobs(10);
///     co_await jobs.put(1);            // producer
///     int job = co_await jobs.get();   // consumer
///     jobs.task_done();
template <class Value>
class queue {
public:
    explicit queue(std::size_t maxsize = 0) : m_maxsize(maxsize) {}
    queue(const queue&) = delete;
    queue& operator=(const queue&) = delete;

    /// Puts `item`, waiting for room; throws `queue_shut_down_error` after shutdown().
    [[nodiscard]] detail::queue_put_awaiter<Value> put(Value item) {
        return detail::queue_put_awaiter<Value>(*this, std::move(item));
    }
    /// Takes the first item, waiting for one; throws `queue_shut_down_error`
    /// once the queue is shut down and empty.
    [[nodiscard]] detail::queue_get_awaiter<Value> get() noexcept {
        return detail::queue_get_awaiter<Value>(*this);
    }

    /// Puts `item` now; throws `queue_full_error` if there is no room.
    void put_nowait(Value item) {
        if (!try_put_from(item, "unblock::queue::put_nowait()")) throw queue_full_error();
    }
    /// Takes the first item now; throws `queue_empty_error` if there is none.
    Value get_nowait() {
        std::optional<Value> item;
        if (!try_get_into(item, "unblock::queue::get_nowait()")) throw queue_empty_error();
        return std::move(*item);
    }

    /// Marks one item taken by get() as processed; throws `invalid_state_error`
    /// if called more often than items were put.
    void task_done() {
        event_loop& loop = m_binding.check("unblock::queue::task_done()");
        if (m_unfinished == 0) {
            throw invalid_state_error(
                "unblock::queue::task_done(): called more times than there were items put; "
                "call it once per item taken with get()");
        }
        if (--m_unfinished == 0) wake_all(m_joiners, loop);
    }
    /// Waits until every item put has been marked with task_done().
    [[nodiscard]] detail::queue_join_awaiter<Value> join() noexcept {
        return detail::queue_join_awaiter<Value>(*this);
    }

    /// Stops the queue (Python 3.13): later puts throw `queue_shut_down_error`,
    /// waiting putters too; gets throw once the queue is empty, waiting getters
    /// at once. `immediate`: the items left are discarded and marked done.
    void shutdown(bool immediate = false) {
        event_loop& loop = m_binding.check("unblock::queue::shutdown()");
        m_shut_down = true;
        if (immediate) {
            while (!m_items.empty()) {
                m_items.pop_front();
                if (m_unfinished > 0) --m_unfinished;
            }
            if (m_unfinished == 0) wake_all(m_joiners, loop);
        }
        wake_all(m_getters, loop);
        wake_all(m_putters, loop);
    }

    /// Items in the queue.
    [[nodiscard]] std::size_t qsize() const noexcept { return m_items.size(); }
    /// The bound given to the constructor (0: none).
    [[nodiscard]] std::size_t maxsize() const noexcept { return m_maxsize; }
    /// True when no item is in the queue.
    [[nodiscard]] bool empty() const noexcept { return m_items.empty(); }
    /// True when a put would wait (slots granted to waiting putters count as taken).
    [[nodiscard]] bool full() const noexcept {
        return m_maxsize > 0 && m_items.size() + m_reserved >= m_maxsize;
    }

private:
    friend class detail::queue_get_awaiter<Value>;
    friend class detail::queue_put_awaiter<Value>;
    friend class detail::queue_join_awaiter<Value>;

    /// Moves the first item into `out` if there is one (freeing a slot for a putter).
    bool try_get_into(std::optional<Value>& out, const char* what) {
        m_binding.check(what);
        if (m_items.empty()) {
            if (m_shut_down) throw queue_shut_down_error();
            return false;
        }
        out.emplace(std::move(m_items.front()));
        m_items.pop_front();
        serve_putters();
        return true;
    }

    /// Puts `item` (to a waiting getter, else at the back) if there is room.
    bool try_put_from(Value& item, const char* what) {
        m_binding.check(what);
        if (m_shut_down) throw queue_shut_down_error();
        if (m_getters.empty() && full()) return false;
        deliver(std::move(item));
        return true;
    }

    /// A new item: to the first waiting getter, else to the back.
    void deliver(Value&& item) {
        ++m_unfinished;
        if (!hand_to_getter(item)) m_items.push_back(std::move(item));
    }

    /// An item a cancelled getter was handed: to the next getter, else back to the front.
    void give_back(Value&& item) noexcept {
        if (!hand_to_getter(item)) m_items.push_front(std::move(item));
    }

    bool hand_to_getter(Value& item) {
        detail::waiter_node* first = m_getters.grant_first(m_binding.loop());
        if (first == nullptr) return false;
        static_cast<detail::queue_get_awaiter<Value>*>(first)->m_item.emplace(std::move(item));
        return true;
    }

    /// Grants free slots to waiting putters, first come first.
    void serve_putters() noexcept {
        while (!m_shut_down && !full()) {
            detail::waiter_node* first = m_putters.grant_first(m_binding.loop());
            if (first == nullptr) return;
            static_cast<detail::queue_put_awaiter<Value>*>(first)->m_has_slot = true;
            ++m_reserved;
        }
    }

    static void wake_all(detail::waiter_list& waiters, event_loop& loop) noexcept {
        while (waiters.grant_first(loop)) {
        }
    }

    std::deque<Value> m_items;
    std::size_t m_maxsize;
    std::size_t m_reserved = 0;   ///< slots granted to putters that have not resumed yet
    std::size_t m_unfinished = 0; ///< items put and not yet marked task_done()
    bool m_shut_down = false;
    detail::waiter_list m_getters;
    detail::waiter_list m_putters;
    detail::waiter_list m_joiners;
    detail::loop_binding m_binding;
};

} // namespace unblock
