/// \file detail/loop/inbox.hpp
/// The event loop's thread-safe inbox and the way its thread sleeps and wakes.
#pragma once

#include "loop_node.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace unblock::detail {

/// Multi-producer, single-consumer queue of nodes posted from any thread.
///
/// A lock-free stack (nothing allocated: the node lives in the poster's
/// awaiter); a post is one CAS, one load of the sleeping flag, and a count of
/// posters in flight so the owner can wait them out before destroying the
/// inbox. The loop takes the whole stack at once and reverses it, so nodes run
/// in the order they were posted.
///
/// Sleeping: the loop announces `m_sleeping` and re-checks the stack before it
/// waits; a poster pushes and then checks `m_sleeping`. Both sides use
/// seq_cst for that store-then-load pair (Dekker), so at least one of them sees
/// the other: either the loop sees the node, or the poster sees the loop
/// asleep and notifies it under the mutex. No post is ever slept through.
class inbox {
public:
    /// Posts `node`; any thread. Wakes the loop if it sleeps. Returns false,
    /// and posts nothing, once the inbox is closed.
    [[nodiscard]] bool post(loop_node* node) noexcept {
        // seq_cst, with the load of m_closed: the poster half of the Dekker
        // pair with close(), so a post is either refused or waited for.
        m_posting.fetch_add(1, std::memory_order_seq_cst);
        if (m_closed.load(std::memory_order_seq_cst)) {
            m_posting.fetch_sub(1, std::memory_order_release);
            return false;
        }
        loop_node* head = m_head.load(std::memory_order_relaxed);
        do {
            node->m_next = head;
            // seq_cst: the store half of the Dekker pair with park() (see class comment);
            // it also releases the node's contents to the loop.
        } while (!m_head.compare_exchange_weak(head, node, std::memory_order_seq_cst,
                                               std::memory_order_relaxed));
        // seq_cst: the load half of the Dekker pair. Only the poster that
        // flips the flag back wakes the loop: a burst of completions while it
        // sleeps costs one notification, not one each.
        if (m_sleeping.load(std::memory_order_seq_cst) &&
            m_sleeping.exchange(false, std::memory_order_acq_rel)) {
            wake();
        }
        // release: the loop's destructor (close()) must not free the inbox while we touch it.
        m_posting.fetch_sub(1, std::memory_order_release);
        return true;
    }

    /// Refuses every later post, then waits until no thread is inside post().
    /// What was posted before stays for take_all(). The owner calls it before
    /// destroying the inbox: a poster whose node was already taken may still
    /// be checking m_sleeping or notifying.
    void close() noexcept {
        // seq_cst: the closer half of the Dekker pair with post().
        m_closed.store(true, std::memory_order_seq_cst);
        while (m_posting.load(std::memory_order_seq_cst) != 0)
            std::this_thread::yield();
    }

    /// True if something is waiting. Loop thread; relaxed: a hint, take_all() synchronises.
    [[nodiscard]] bool has_posts() const noexcept {
        return m_head.load(std::memory_order_relaxed) != nullptr;
    }

    /// Moves every posted node to the back of `queue`, oldest first. Loop thread.
    void take_all(node_fifo& queue) noexcept {
        // acquire: pairs with the posters' release, so the nodes' contents are visible.
        queue.append_reversed_chain(m_head.exchange(nullptr, std::memory_order_acquire));
    }

    /// Sleeps until something is posted, wake() is called, or `deadline` passes. Loop thread.
    void park(std::optional<std::chrono::steady_clock::time_point> deadline) {
        // seq_cst: the store half of the Dekker pair with post().
        m_sleeping.store(true, std::memory_order_seq_cst);
        if (m_head.load(std::memory_order_seq_cst) == nullptr) {
            std::unique_lock lock(m_mutex);
            auto woken = [this] {
                return m_signalled || m_head.load(std::memory_order_relaxed) != nullptr;
            };
            if (deadline) {
                m_condition.wait_until(lock, *deadline, woken);
            } else {
                m_condition.wait(lock, woken);
            }
            m_signalled = false;
        }
        // relaxed: a poster that still sees `true` merely sends a spare notification.
        m_sleeping.store(false, std::memory_order_relaxed);
    }

private:
    /// Wakes the sleeping loop (the poster that flipped m_sleeping back).
    ///
    /// Notifies after unlocking: notified under the mutex, the loop would wake
    /// only to block on it again (two futex calls and a context switch more).
    /// The condition variable outlives this call: close() waits for posters.
    void wake() noexcept {
        {
            std::lock_guard lock(m_mutex);
            m_signalled = true;
        }
        m_condition.notify_one();
    }

    std::atomic<loop_node*> m_head{nullptr};
    std::atomic<int> m_posting{0}; ///< threads inside post()
    std::atomic<bool> m_sleeping{false};
    std::atomic<bool> m_closed{false};
    std::mutex m_mutex;
    std::condition_variable m_condition;
    bool m_signalled = false; // guarded by m_mutex
};

} // namespace unblock::detail
