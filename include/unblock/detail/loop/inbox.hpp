/// \file detail/loop/inbox.hpp
/// The event loop's thread-safe inbox and the way its thread sleeps and wakes.
#pragma once

#include "../../errors.hpp"
#include "../unique_fd.hpp"
#include "loop_node.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <system_error>
#include <thread>

#include <sys/eventfd.h>
#include <unistd.h>

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
/// waits (begin_sleep); a poster pushes and then checks `m_sleeping`. Both
/// sides use seq_cst for that store-then-load pair (Dekker), so at least one
/// of them sees the other: either the loop sees the node, or the poster sees
/// the loop asleep and writes the wake-up eventfd, which the loop's epoll
/// watches (detail::reactor). No post is ever slept through.
class inbox {
public:
    inbox() : m_wake_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
        if (m_wake_fd.get() < 0) {
            throw io_error(std::error_code(errno, std::generic_category()),
                           "unblock::event_loop: cannot create its wake-up eventfd");
        }
    }

    /// The eventfd written to wake the loop. It is watched edge-triggered and
    /// never read: each write is one wake-up.
    [[nodiscard]] int wake_fd() const noexcept { return m_wake_fd.get(); }

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

    /// Announces that the loop is about to sleep; false (and no sleep) if
    /// something was posted meanwhile. Loop thread; end_sleep() afterwards.
    [[nodiscard]] bool begin_sleep() noexcept {
        // seq_cst: the store half of the Dekker pair with post().
        m_sleeping.store(true, std::memory_order_seq_cst);
        if (m_head.load(std::memory_order_seq_cst) == nullptr) return true;
        m_sleeping.store(false, std::memory_order_relaxed);
        return false;
    }

    /// The loop is awake again. Loop thread.
    void end_sleep() noexcept {
        // relaxed: a poster that still sees `true` merely writes a spare wake-up.
        m_sleeping.store(false, std::memory_order_relaxed);
    }

    /// Ends the loop's current or next sleep. Any thread; async-signal-safe.
    void wake() const noexcept {
        const std::uint64_t one = 1;
        // Fails only when the counter would overflow (2^64 wake-ups): it is already readable.
        [[maybe_unused]] const ssize_t written = ::write(m_wake_fd.get(), &one, sizeof one);
    }

private:
    unique_fd m_wake_fd;
    // The atomics other threads write get a cache line of their own (the
    // class's alignment pads after them too): the loop's own fields beside
    // them would bounce between cores on every post.
    alignas(64) std::atomic<loop_node*> m_head{nullptr};
    std::atomic<int> m_posting{0}; ///< threads inside post()
    std::atomic<bool> m_sleeping{false};
    std::atomic<bool> m_closed{false};
};

} // namespace unblock::detail
