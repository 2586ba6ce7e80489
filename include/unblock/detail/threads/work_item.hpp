/// \file detail/threads/work_item.hpp
/// The intrusive node a thread pool queues: it lives in the awaiter that submits it.
#pragma once

#include "../intrusive_list.hpp"

#include <atomic>
#include <cstddef>
#include <exception>
#include <utility>

namespace unblock::detail {

/// A unit of work for a thread pool.
///
/// Exactly one of `run` (on a worker) or `abandon` (the pool will never run
/// it: shutdown with cancel_futures, or a broken pool) is called, once. Both
/// are noexcept; the owner keeps the item alive until one of them has been
/// called or it has withdrawn the item. `run` should call `work_done()` (below)
/// between the call's return and handing its result back.
struct work_item : list_hook<work_item> {
    using run_fn = void (*)(work_item*) noexcept;
    using abandon_fn = void (*)(work_item*, std::exception_ptr) noexcept;

    work_item(run_fn run, abandon_fn abandon) noexcept : m_run_work(run), m_abandon_work(abandon) {}
    work_item(const work_item&) = delete;
    work_item& operator=(const work_item&) = delete;

    run_fn m_run_work;
    abandon_fn m_abandon_work;
    /// The work_queue holding the item, if any. Each queue has its own owner
    /// (the loop, or the pool's mutex), and a queue only asks "is it me?", so a
    /// relaxed atomic suffices: no other queue can ever store that address.
    std::atomic<const void*> m_queue{nullptr};
};

/// What the worker running an item does once the item's call has returned
/// (the pool counts the worker idle). Installed by the pool around `run`.
struct work_done_hook {
    void (*m_on_done)(work_done_hook*) noexcept;
};

/// The hook of the item this thread is running, if any; cleared by work_done().
constinit inline thread_local work_done_hook* t_work_done = nullptr;

/// Called by an item's `run` after its call returned and before it hands the
/// result back (to a loop's inbox, a promise): the worker then counts as idle
/// before the caller can submit again, so back-to-back calls reuse it instead
/// of starting another thread. Only the first call counts; elsewhere a no-op.
inline void work_done() noexcept {
    if (work_done_hook* hook = std::exchange(t_work_done, nullptr)) hook->m_on_done(hook);
}

/// Work a thread holds back to hand to a pool in one batch (a running event
/// loop collects its iteration's submissions). A pool being shut down from
/// that thread flushes it first, so work submitted before the shutdown is
/// queued before it, as if it had been posted at once.
struct deferred_work_flush {
    void (*m_flush)(void* owner) noexcept = nullptr;
    void* m_owner = nullptr;
};
constinit inline thread_local deferred_work_flush t_deferred_work = {};

/// A FIFO of work items with O(1) removal from the middle (for withdrawal).
/// Not synchronised: the pool guards it with its mutex.
class work_queue {
public:
    [[nodiscard]] bool empty() const noexcept { return m_items.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }

    void push_back(work_item* item) noexcept {
        m_items.push_back(item);
        item->m_queue.store(this, std::memory_order_relaxed);
        ++m_size;
    }

    /// Moves every item of `other` to the back of this queue, keeping order.
    void splice_back(work_queue& other) noexcept {
        other.m_items.for_each(
            [this](work_item& item) { item.m_queue.store(this, std::memory_order_relaxed); });
        m_items.splice_back(other.m_items);
        m_size += std::exchange(other.m_size, 0);
    }

    [[nodiscard]] work_item* pop_front() noexcept {
        work_item* item = m_items.front();
        if (item) remove(item);
        return item;
    }

    /// Removes `item` if it is queued here; returns whether it was.
    bool remove(work_item* item) noexcept {
        if (item->m_queue.load(std::memory_order_relaxed) != this) return false;
        item->unlink();
        item->m_queue.store(nullptr, std::memory_order_relaxed);
        --m_size;
        return true;
    }

private:
    intrusive_list<work_item> m_items;
    std::size_t m_size = 0;
};

} // namespace unblock::detail
