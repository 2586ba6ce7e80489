/// \file detail/loop/timer_heap.hpp
/// The event loop's timers: a binary min-heap of intrusive nodes.
#pragma once

#include "loop_node.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace unblock::detail {

/// A node that becomes ready at a deadline.
struct timer_node : loop_node {
    using loop_node::loop_node;

    static constexpr std::size_t not_queued = std::numeric_limits<std::size_t>::max();

    [[nodiscard]] bool queued() const noexcept { return m_heap_index != not_queued; }

    std::chrono::steady_clock::time_point m_deadline{};
    std::uint64_t m_sequence = 0; ///< breaks ties: equal deadlines fire in scheduling order
    std::size_t m_heap_index = not_queued; ///< where the node sits, for O(log n) removal
};

/// Min-heap ordered by (deadline, sequence). Each node knows its index, so a
/// cancelled timer is removed at once rather than left behind to fire late.
class timer_heap {
public:
    [[nodiscard]] bool empty() const noexcept { return m_heap.empty(); }
    [[nodiscard]] timer_node* top() const noexcept { return m_heap.front(); }

    void push(timer_node* node, std::chrono::steady_clock::time_point deadline) {
        node->m_deadline = deadline;
        node->m_sequence = m_next_sequence++;
        node->m_heap_index = m_heap.size();
        m_heap.push_back(node);
        sift_up(node->m_heap_index);
    }

    /// Removes `node` if it is queued; returns whether it was.
    bool remove(timer_node* node) noexcept {
        if (!node->queued()) return false;
        const std::size_t index = node->m_heap_index;
        const std::size_t last = m_heap.size() - 1;
        if (index != last) {
            place(index, m_heap[last]);
            m_heap.pop_back();
            sift_down(index);
            sift_up(index);
        } else {
            m_heap.pop_back();
        }
        node->m_heap_index = timer_node::not_queued;
        return true;
    }

    [[nodiscard]] timer_node* pop() noexcept {
        timer_node* node = m_heap.front();
        remove(node);
        return node;
    }

private:
    static bool earlier(const timer_node* a, const timer_node* b) noexcept {
        return a->m_deadline < b->m_deadline ||
               (a->m_deadline == b->m_deadline && a->m_sequence < b->m_sequence);
    }

    void place(std::size_t index, timer_node* node) noexcept {
        m_heap[index] = node;
        node->m_heap_index = index;
    }

    void sift_up(std::size_t index) noexcept {
        timer_node* node = m_heap[index];
        while (index > 0) {
            const std::size_t parent = (index - 1) / 2;
            if (!earlier(node, m_heap[parent])) break;
            place(index, m_heap[parent]);
            index = parent;
        }
        place(index, node);
    }

    void sift_down(std::size_t index) noexcept {
        timer_node* node = m_heap[index];
        const std::size_t size = m_heap.size();
        for (;;) {
            std::size_t child = 2 * index + 1;
            if (child >= size) break;
            if (child + 1 < size && earlier(m_heap[child + 1], m_heap[child])) ++child;
            if (!earlier(m_heap[child], node)) break;
            place(index, m_heap[child]);
            index = child;
        }
        place(index, node);
    }

    std::vector<timer_node*> m_heap;
    std::uint64_t m_next_sequence = 0;
};

} // namespace unblock::detail
