/// \file detail/process/fork_server.hpp
/// The fork server: a single-threaded process, forked once when a pool is
/// constructed, that forks, kills and reaps the pool's workers on request.
///
/// Why it exists (see also the comment at the top of process_pool.hpp): a
/// fork copies only the calling thread, so a process forked while other
/// threads hold locks inherits those locks held forever. The pool forks from
/// its multi-threaded parent exactly once; every worker, including each
/// replacement, is then forked from this quiescent single-threaded process.
///
/// The server itself uses only async-signal-safe calls (no heap, no locks):
/// it resets signal dispositions and the mask, closes every inherited fd but
/// its control socket and stdio, then serves fixed-size requests:
/// - `spawn` (with the worker's socket and answer pipe attached as
///   SCM_RIGHTS): forks a worker; replies with its pid or -errno.
/// - `reap`: SIGKILLs a worker (a no-op if it already exited) and waits for
///   it; replies with the wait status or -errno. Only the server can reap its
///   children, so a pid is never signalled after it could have been reused.
/// On EOF of the control socket (the pool stopped, or its process died) it
/// kills and reaps every worker it still has and exits. The pool stops it by
/// shutting the socket down, not just closing it: a child the program forked
/// meanwhile may hold a copy of the pool's end, which would keep it open.
/// Every fd the pool or the server makes lives above 2 (process_above_stdio).

#pragma once

#include "../../process_pool_stats.hpp"
#include "fd.hpp"
#include "worker.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>

#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace unblock::detail {

/// Test hook: the next `refused_spawns` worker starts fail as if the fork
/// server's fork() (or posix_spawn) said EAGAIN. relaxed: a counter, it publishes nothing.
struct process_fault_injection {
    static inline std::atomic<int> refused_spawns{0};
};

/// A request to the fork server.
struct process_server_request {
    enum class op : std::uint32_t { spawn = 1, reap = 2 };
    op operation;
    std::uint32_t reserved;
    std::int64_t pid;
};

/// One request with room for one passed fd, laid out for sendmsg/recvmsg.
struct process_server_message {
    explicit process_server_message(process_server_request& req) noexcept : iov{&req, sizeof req} {
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
    }
    process_server_message(const process_server_message&) = delete;
    process_server_message& operator=(const process_server_message&) = delete;

    iovec iov;
    alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
    msghdr msg{};
};

/// Parent-side handle of a fork server.
///
/// Not thread-safe: after construction only the pool's I/O thread uses it.
class process_fork_server {
public:
    /// Forks the server; it tracks up to `config.max_workers + 1` workers at
    /// once. Throws `std::system_error` if the socket or the fork fails.
    explicit process_fork_server(const process_pool_config& config)
        : m_children(new pid_t[config.max_workers + 1]) {
        unique_fd child_end;
        process_socketpair(m_ctl, child_end);
        // Whatever is buffered now would otherwise be printed again by every
        // worker that flushes.
        std::fflush(stdout);
        std::fflush(stderr);
        const pid_t pid = ::fork();
        if (pid < 0) {
            throw process_os_error("fork() of the fork server failed");
        }
        if (pid == 0) {
            serve(child_end.get(), m_children.get(), config.max_workers + 1, config.initializer,
                  config.max_frame_bytes);
        }
        m_pid = pid;
    }

    process_fork_server(const process_fork_server&) = delete;
    process_fork_server& operator=(const process_fork_server&) = delete;
    ~process_fork_server() { stop(); }

    /// Forks a worker reading calls from `call_end` and writing answers to
    /// `answer_end` (which the caller still closes). Returns its pid; throws
    /// `std::system_error` on failure.
    pid_t spawn(int call_end, int answer_end) {
        process_server_request req{process_server_request::op::spawn, 0, 0};
        process_server_message message(req);
        msghdr& msg = message.msg;
        cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(2 * sizeof(int));
        const int ends[2] = {call_end, answer_end};
        std::memcpy(CMSG_DATA(cmsg), ends, sizeof ends);
        ssize_t n;
        do {
            n = ::sendmsg(m_ctl.get(), &msg, MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
        if (n != static_cast<ssize_t>(sizeof req)) throw_server_gone();
        return static_cast<pid_t>(
            read_reply("unblock::process_pool_executor: fork() of a worker failed"));
    }

    /// SIGKILLs worker `pid` unless it already exited, waits for it, and
    /// returns its wait status. Throws `std::system_error` on failure.
    int reap(pid_t pid) {
        const process_server_request req{process_server_request::op::reap, 0, pid};
        if (!process_send_all(m_ctl.get(), &req, sizeof req)) throw_server_gone();
        return static_cast<int>(
            read_reply("unblock::process_pool_executor: waitpid() of a worker failed"));
    }

    /// Whether the server stopped answering (it died, or the socket broke).
    [[nodiscard]] bool gone() const noexcept { return m_gone; }

    /// Stops the server (it kills and reaps the workers it still has) and
    /// reaps it. Idempotent.
    void stop() noexcept {
        if (m_pid <= 0) {
            return;
        }
        ::shutdown(m_ctl.get(), SHUT_RDWR); // EOF for the server, whoever holds copies
        m_ctl.reset();
        int status = 0;
        while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
        }
        m_pid = -1;
    }

private:
    [[noreturn]] void throw_server_gone() {
        m_gone = true;
        throw std::system_error(EPIPE, std::generic_category(),
                                "unblock::process_pool_executor: the fork server is gone");
    }

    /// The server's answer to a request: a result, or -errno, thrown with `failure`.
    std::int64_t read_reply(const char* failure) {
        std::int64_t reply = 0;
        if (!process_read_all(m_ctl.get(), &reply, sizeof reply)) throw_server_gone();
        if (reply < 0)
            throw std::system_error(static_cast<int>(-reply), std::generic_category(), failure);
        return reply;
    }

    /// The server's main loop (runs in the forked child; never returns).
    /// Async-signal-safe: see the file comment.
    [[noreturn]] static void serve(int ctl, pid_t* children, std::size_t capacity,
                                   void (*initializer)(), std::uint64_t max_frame) noexcept {
        process_reset_signals();
        constexpr int ctl_fd = 3;
        if (ctl != ctl_fd) {
            ::dup2(ctl, ctl_fd);
            ::close(ctl);
        }
        process_close_fds_from(ctl_fd + 1);
        std::size_t count = 0;
        const auto forget = [&](pid_t pid) {
            for (std::size_t i = 0; i != count; ++i) {
                if (children[i] == pid) {
                    children[i] = children[--count];
                    return;
                }
            }
        };
        for (;;) {
            process_server_request req{};
            int fds[2] = {-1, -1}; // a spawn's call socket and answer pipe
            if (!receive(ctl_fd, req, fds)) {
                break;
            }
            const bool got_fds = fds[0] >= 0 || fds[1] >= 0;
            int moved_errno = 0;
            for (int& fd : fds) {
                fd = process_above_stdio(fd); // stdio may be closed: keep 0-2 for it
                if (fd < 0 && moved_errno == 0) moved_errno = errno;
            }
            const bool both = fds[0] >= 0 && fds[1] >= 0;
            std::int64_t reply = -EINVAL;
            if (got_fds && !both && moved_errno != 0) {
                reply = -moved_errno; // EMFILE: the spawn is retried
            } else if (req.operation == process_server_request::op::spawn && both) {
                if (count == capacity) {
                    reply = -EAGAIN;
                } else {
                    const pid_t pid = ::fork();
                    if (pid == 0) {
                        ::close(ctl_fd);
                        process_worker_main(fds[0], fds[1], initializer, max_frame);
                    }
                    reply = pid < 0 ? -errno : pid;
                    if (pid > 0) {
                        children[count++] = pid;
                    }
                }
            } else if (req.operation == process_server_request::op::reap) {
                const auto pid = static_cast<pid_t>(req.pid);
                ::kill(pid, SIGKILL);
                int status = 0;
                pid_t got;
                while ((got = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
                }
                reply = got < 0 ? -errno : status;
                forget(pid);
            }
            for (const int fd : fds) {
                if (fd >= 0) ::close(fd);
            }
            if (!process_send_all(ctl_fd, &reply, sizeof reply)) {
                break;
            }
        }
        for (std::size_t i = 0; i != count; ++i) {
            ::kill(children[i], SIGKILL);
        }
        for (std::size_t i = 0; i != count; ++i) {
            int status = 0;
            while (::waitpid(children[i], &status, 0) < 0 && errno == EINTR) {
            }
        }
        ::_exit(0);
    }

    /// Receives one request and the fds attached to it (if any; -1 if not).
    static bool receive(int ctl, process_server_request& req, int (&fds)[2]) noexcept {
        process_server_message message(req);
        msghdr& msg = message.msg;
        ssize_t n;
        do {
            n = ::recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) {
            return false;
        }
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                std::memcpy(fds, CMSG_DATA(c), std::min<std::size_t>(count, 2) * sizeof(int));
            }
        }
        const auto got = static_cast<std::size_t>(n);
        return got == sizeof req ||
               process_read_all(ctl, reinterpret_cast<char*>(&req) + got, sizeof req - got);
    }

    std::unique_ptr<pid_t[]> m_children; // the server's copy tracks its live workers
    unique_fd m_ctl;
    pid_t m_pid = -1;
    bool m_gone = false;
};

} // namespace unblock::detail
