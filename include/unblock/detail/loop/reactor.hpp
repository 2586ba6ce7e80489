/// \file detail/loop/reactor.hpp
/// Where the event loop sleeps: an epoll instance (Linux) that waits for the
/// inbox's wake-up eventfd, for the file descriptors tasks wait on, and for
/// the next timer deadline, all in one system call.
#pragma once

#include "../../errors.hpp"
#include "../unique_fd.hpp"
#include "loop_node.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sys/epoll.h>

namespace unblock::detail {

/// Which readiness of a file descriptor is waited for.
enum class fd_direction : std::uint8_t { read = 0, write = 1 };

/// A loop node the reactor queues when its file descriptor is ready.
struct fd_waiter : loop_node {
    using loop_node::loop_node;
    /// A persistent waiter (an add_reader callback) is in the ready queue:
    /// it is not queued twice. Its run function clears it.
    bool m_queued = false;
};

/// The epoll instance, the file descriptors watched through it, and the
/// wake-up eventfd of the loop's inbox.
///
/// Interest is level-triggered, one waiter per fd and direction. A one-shot
/// waiter (an awaiter) leaves when it fires; a persistent one (a callback)
/// stays until unwatched. Interest is added at once (so a bad fd is an error
/// where the user asked for it) and dropped lazily, before the next wait, so
/// "wait readable, read until EAGAIN, wait again" costs one epoll_ctl (a MOD
/// that also notices an fd closed and reused meanwhile), not two.
class reactor {
public:
    using clock = std::chrono::steady_clock;

    /// Watches `wake_fd` edge-triggered: every write to it ends a wait, and it
    /// never needs to be read.
    explicit reactor(int wake_fd) : m_epoll(::epoll_create1(EPOLL_CLOEXEC)), m_wake_fd(wake_fd) {
        if (m_epoll.get() < 0) throw_errno("epoll_create1");
        epoll_event event{};
        event.events = EPOLLIN | EPOLLET;
        event.data.fd = wake_fd;
        if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, wake_fd, &event) != 0)
            throw_errno("epoll_ctl(wake-up eventfd)");
    }
    reactor(const reactor&) = delete;
    reactor& operator=(const reactor&) = delete;

    /// The epoll fd: readable while something the loop waits for is ready.
    [[nodiscard]] int fd() const noexcept { return m_epoll.get(); }

    /// True while some waiter is registered.
    [[nodiscard]] bool has_waiters() const noexcept { return m_waiters != 0; }

    /// Makes `node` the waiter of `fd` in `direction`. Throws `io_error` for
    /// an fd epoll cannot watch, `invalid_state_error` if another waits there.
    void watch(int fd, fd_direction direction, fd_waiter* node, bool persistent, const char* what) {
        entry& e = m_entries[fd];
        const auto d = static_cast<std::size_t>(direction);
        if (e.node[d] != nullptr && e.node[d] != node) {
            throw invalid_state_error(
                std::string(what) + ": fd " + std::to_string(fd) + " already has a " +
                (direction == fd_direction::read ? "reader" : "writer") +
                " on this loop (one per fd and direction); remove it or await it first");
        }
        const bool added = e.node[d] == nullptr;
        // Interest kept lazily from an earlier wait may belong to an fd that
        // was closed since and whose number is reused now: re-check it.
        const bool verify = e.registered != 0 && e.node[0] == nullptr && e.node[1] == nullptr;
        e.node[d] = node;
        e.persistent[d] = persistent;
        if (added) ++m_waiters;
        try {
            apply(fd, e, true, verify);
        } catch (...) {
            e.node[d] = nullptr;
            if (added) --m_waiters;
            if (e.registered == 0) m_entries.erase(fd);
            throw;
        }
    }

    /// Removes the waiter of `fd` in `direction` if it is `node` (any node
    /// when null); returns it, or null if there was none.
    fd_waiter* unwatch(int fd, fd_direction direction, fd_waiter* node = nullptr) noexcept {
        const auto found = m_entries.find(fd);
        if (found == m_entries.end()) return nullptr;
        entry& e = found->second;
        const auto d = static_cast<std::size_t>(direction);
        fd_waiter* current = e.node[d];
        if (current == nullptr || (node != nullptr && current != node)) return nullptr;
        e.node[d] = nullptr;
        --m_waiters;
        mark_dirty(fd, e);
        return current;
    }

    /// Drops every registration of `fd` now, before the caller closes it
    /// (a closed fd's number may be reused by the next open).
    void forget(int fd) noexcept {
        const auto found = m_entries.find(fd);
        if (found == m_entries.end()) return;
        for (fd_waiter* node : found->second.node)
            if (node) --m_waiters;
        if (found->second.registered != 0) ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
        m_entries.erase(found);
    }

    /// Unwatches every persistent waiter, handing each to `release`.
    void drop_persistent(void (*release)(fd_waiter*) noexcept) noexcept {
        for (auto& [fd, e] : m_entries) {
            for (std::size_t d = 0; d != 2; ++d) {
                if (e.node[d] && e.persistent[d]) {
                    release(std::exchange(e.node[d], nullptr));
                    --m_waiters;
                }
            }
        }
    }

    /// Waits until a wake-up, a ready fd, or `deadline` (time_point::max():
    /// no deadline; in the past: just polls), and queues the waiters of the
    /// ready fds on `ready`. An interrupted wait (EINTR) returns early.
    void wait(node_fifo& ready, clock::time_point deadline) {
        apply_dirty();
        const int count = epoll_wait_until(deadline);
        for (int i = 0; i < count; ++i) {
            const epoll_event& event = m_events[static_cast<std::size_t>(i)];
            if (event.data.fd == m_wake_fd) continue;
            const auto found = m_entries.find(event.data.fd);
            if (found == m_entries.end()) continue; // forgotten meanwhile
            dispatch(event.data.fd, found->second, event.events, ready);
        }
    }

private:
    struct entry {
        std::array<fd_waiter*, 2> node{};
        std::array<bool, 2> persistent{};
        std::uint32_t registered = 0; ///< the events epoll has for this fd
        bool dirty = false;           ///< in m_dirty
    };

    static constexpr std::uint32_t read_events = EPOLLIN | EPOLLRDHUP;
    static constexpr std::uint32_t write_events = EPOLLOUT;

    [[noreturn]] static void throw_errno(const std::string& what) {
        throw io_error(std::error_code(errno, std::generic_category()), "unblock: " + what);
    }

    static std::uint32_t wanted(const entry& e) noexcept {
        return (e.node[0] ? read_events : 0U) | (e.node[1] ? write_events : 0U);
    }

    void mark_dirty(int fd, entry& e) {
        if (e.dirty) return;
        e.dirty = true;
        try {
            m_dirty.push_back(fd);
        } catch (...) {
            e.dirty = false; // applied by the next watch() or left registered: harmless
        }
    }

    /// Makes epoll's interest in `fd` what its waiters want. With `adding`,
    /// only widens (a removal waits for the next wait()) and throws on error.
    void apply(int fd, entry& e, bool adding, bool verify = false) {
        const std::uint32_t want = wanted(e);
        if (!verify && (want == e.registered || (adding && (want & ~e.registered) == 0))) return;
        epoll_event event{};
        event.events = adding ? (want | e.registered) : want;
        event.data.fd = fd;
        int op =
            e.registered == 0 ? EPOLL_CTL_ADD : (event.events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD);
        int result = ::epoll_ctl(m_epoll.get(), op, fd, &event);
        if (result != 0 && op == EPOLL_CTL_MOD && errno == ENOENT) {
            op = EPOLL_CTL_ADD; // the fd was closed and its number reused
            result = ::epoll_ctl(m_epoll.get(), op, fd, &event);
        }
        if (result == 0) {
            e.registered = event.events;
            return;
        }
        if (!adding) {
            e.registered = 0; // closed meanwhile: epoll already forgot it
            return;
        }
        const int error = errno;
        std::string text = "unblock: cannot wait for fd " + std::to_string(fd);
        if (error == EPERM) {
            text += " (regular files and directories are always ready: read them with "
                    "unblock::to_thread instead)";
        } else if (error == EBADF) {
            text += " (it is not open: was it closed before the wait, or never opened?)";
        }
        throw io_error(std::error_code(error, std::generic_category()), text);
    }

    void apply_dirty() noexcept {
        for (const int fd : m_dirty) {
            const auto found = m_entries.find(fd);
            if (found == m_entries.end()) continue;
            entry& e = found->second;
            e.dirty = false;
            apply(fd, e, false);
            if (e.registered == 0 && wanted(e) == 0) m_entries.erase(found);
        }
        m_dirty.clear();
    }

    void dispatch(int fd, entry& e, std::uint32_t events, node_fifo& ready) {
        // An error or hang-up wakes both directions: the next read or write reports it.
        const bool fired[2] = {(events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) !=
                                   0,
                               (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0};
        for (std::size_t d = 0; d != 2; ++d) {
            if (!fired[d]) continue;
            fd_waiter* node = e.node[d];
            if (node == nullptr) {
                mark_dirty(fd, e); // nobody waits: drop the interest before the next wait
            } else if (e.persistent[d]) {
                if (!node->m_queued) {
                    node->m_queued = true;
                    ready.push_back(node);
                }
            } else {
                e.node[d] = nullptr;
                --m_waiters;
                mark_dirty(fd, e);
                ready.push_back(node);
            }
        }
    }

    int epoll_wait_until(clock::time_point deadline) noexcept {
        const auto capacity = static_cast<int>(m_events.size());
        int timeout_ms = -1;
        if (deadline != clock::time_point::max()) {
            const clock::time_point now = clock::now();
            if (deadline <= now) {
                timeout_ms = 0;
            } else {
                const auto left = deadline - now;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
                if (m_have_pwait2) {
                    const auto ns =
                        std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
                    timespec timeout{};
                    timeout.tv_sec = ns / 1'000'000'000;
                    timeout.tv_nsec = ns % 1'000'000'000;
                    const int n =
                        ::epoll_pwait2(m_epoll.get(), m_events.data(), capacity, &timeout, nullptr);
                    if (n >= 0) return n;
                    if (errno != ENOSYS) return 0;
                    m_have_pwait2 = false; // kernel before 5.11: milliseconds, rounded up
                }
#endif
                const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
                timeout_ms = ms > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(ms);
            }
        }
        const int n = ::epoll_wait(m_epoll.get(), m_events.data(), capacity, timeout_ms);
        return n < 0 ? 0 : n; // EINTR: a spurious wake-up
    }

    unique_fd m_epoll;
    int m_wake_fd;
    bool m_have_pwait2 = true;
    std::size_t m_waiters = 0;
    std::unordered_map<int, entry> m_entries;
    std::vector<int> m_dirty;
    std::array<epoll_event, 64> m_events{};
};

} // namespace unblock::detail
