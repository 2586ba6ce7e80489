/// \file detail/loop/loop_node.hpp
/// The intrusive node every piece of work queued on an event loop is made of.
#pragma once

#include <coroutine>
#include <utility>

namespace unblock::detail {

class task_state;

/// A unit of work queued on an event loop.
///
/// The node lives inside whatever it schedules (an awaiter in a coroutine
/// frame, a task's promise), so queueing it allocates nothing. A node is in at
/// most one queue at a time; whoever queues it keeps it alive until it has run.
struct loop_node {
    using run_fn = void (*)(loop_node*) noexcept;

    explicit loop_node(run_fn action) noexcept : m_run(action) {}
    loop_node(const loop_node&) = delete;
    loop_node& operator=(const loop_node&) = delete;

    void run() noexcept { m_run(this); }

    loop_node* m_next = nullptr;
    run_fn m_run;
    /// The task this node resumes, if any: lets debug mode name the task that
    /// blocked the loop.
    task_state* m_task = nullptr;
};

/// A node that resumes one coroutine.
struct resume_node : loop_node {
    resume_node() noexcept : loop_node(&resume) {}

    static void resume(loop_node* node) noexcept {
        static_cast<resume_node*>(node)->m_coroutine.resume();
    }

    std::coroutine_handle<> m_coroutine;
};

/// A single-threaded FIFO of nodes; O(1) push, pop and splice.
class node_fifo {
public:
    node_fifo() noexcept = default;
    node_fifo(node_fifo&& other) noexcept
        : m_head(std::exchange(other.m_head, nullptr)),
          m_tail(std::exchange(other.m_tail, nullptr)) {}
    node_fifo& operator=(node_fifo&& other) noexcept {
        m_head = std::exchange(other.m_head, nullptr);
        m_tail = std::exchange(other.m_tail, nullptr);
        return *this;
    }

    [[nodiscard]] bool empty() const noexcept { return m_head == nullptr; }

    void push_back(loop_node* node) noexcept {
        node->m_next = nullptr;
        if (m_tail) {
            m_tail->m_next = node;
        } else {
            m_head = node;
        }
        m_tail = node;
    }

    /// Moves every node of `other` to the back of this queue, keeping order.
    void splice_back(node_fifo&& other) noexcept {
        if (other.empty()) return;
        if (m_tail) {
            m_tail->m_next = other.m_head;
        } else {
            m_head = other.m_head;
        }
        m_tail = other.m_tail;
        other.m_head = other.m_tail = nullptr;
    }

    [[nodiscard]] loop_node* pop_front() noexcept {
        loop_node* node = m_head;
        if (node) {
            m_head = node->m_next;
            if (!m_head) m_tail = nullptr;
            node->m_next = nullptr;
        }
        return node;
    }

    /// Builds a FIFO from a chain linked newest-first (as a lock-free stack yields it).
    [[nodiscard]] static node_fifo from_reversed(loop_node* newest) noexcept {
        node_fifo fifo;
        fifo.m_tail = newest;
        loop_node* previous = nullptr;
        while (newest) {
            loop_node* next = newest->m_next;
            newest->m_next = previous;
            previous = newest;
            newest = next;
        }
        fifo.m_head = previous;
        return fifo;
    }

private:
    loop_node* m_head = nullptr;
    loop_node* m_tail = nullptr;
};

} // namespace unblock::detail
