/// \file detail/loop/loop_node.hpp
/// The intrusive node every piece of work queued on an event loop is made of.
#pragma once

#include "../intrusive_list.hpp"

#include <coroutine>

namespace unblock::detail {

class task_state;

/// A unit of work queued on an event loop.
///
/// The node lives inside whatever it schedules (an awaiter in a coroutine
/// frame, a task's promise), so queueing it allocates nothing. A node is in at
/// most one queue at a time (the inbox chains posted nodes through the same
/// hook); whoever queues it keeps it alive until it has run.
struct loop_node : list_hook<loop_node, list_links::single> {
    using run_fn = void (*)(loop_node*) noexcept;

    explicit loop_node(run_fn action) noexcept : m_run(action) {}
    loop_node(const loop_node&) = delete;
    loop_node& operator=(const loop_node&) = delete;

    void run() noexcept { m_run(this); }

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

/// The loop's ready queue: single-threaded, O(1) push, pop and splice.
using node_fifo = intrusive_list<loop_node, loop_node, list_links::single>;

} // namespace unblock::detail
