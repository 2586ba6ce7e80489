/// \file detail/work_item.hpp
/// The intrusive node a thread pool queues: it lives in the awaiter that submits it.
#pragma once

#include <cstddef>
#include <exception>

namespace unblock::detail {

/// A unit of work for a thread pool.
///
/// Exactly one of `run` (on a worker) or `abandon` (the pool will never run
/// it: shutdown with cancel_futures, or a broken pool) is called, once. Both
/// are noexcept; the owner keeps the item alive until one of them has been
/// called or it has withdrawn the item.
struct work_item {
    using run_fn = void (*)(work_item*) noexcept;
    using abandon_fn = void (*)(work_item*, std::exception_ptr) noexcept;

    work_item(run_fn run, abandon_fn abandon) noexcept : m_run_work(run), m_abandon_work(abandon) {}
    work_item(const work_item&) = delete;
    work_item& operator=(const work_item&) = delete;

    run_fn m_run_work;
    abandon_fn m_abandon_work;
    work_item* m_next_work = nullptr; ///< queue links, guarded by the pool's mutex
    work_item* m_prev_work = nullptr;
    bool m_in_queue = false;
};

/// A FIFO of work items with O(1) removal from the middle (for withdrawal).
/// Not synchronised: the pool guards it with its mutex.
class work_queue {
public:
    [[nodiscard]] bool empty() const noexcept { return m_head == nullptr; }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }

    void push_back(work_item* item) noexcept {
        item->m_next_work = nullptr;
        item->m_prev_work = m_tail;
        if (m_tail) {
            m_tail->m_next_work = item;
        } else {
            m_head = item;
        }
        m_tail = item;
        item->m_in_queue = true;
        ++m_size;
    }

    [[nodiscard]] work_item* pop_front() noexcept {
        work_item* item = m_head;
        if (item) remove(item);
        return item;
    }

    /// Removes `item` if it is queued here; returns whether it was.
    bool remove(work_item* item) noexcept {
        if (!item->m_in_queue) return false;
        if (item->m_prev_work) {
            item->m_prev_work->m_next_work = item->m_next_work;
        } else {
            m_head = item->m_next_work;
        }
        if (item->m_next_work) {
            item->m_next_work->m_prev_work = item->m_prev_work;
        } else {
            m_tail = item->m_prev_work;
        }
        item->m_next_work = item->m_prev_work = nullptr;
        item->m_in_queue = false;
        --m_size;
        return true;
    }

private:
    work_item* m_head = nullptr;
    work_item* m_tail = nullptr;
    std::size_t m_size = 0;
};

} // namespace unblock::detail
