/// \file detail/process/fd.hpp
/// POSIX plumbing of the process pool: an owning fd, whole-buffer socket I/O
/// that never raises SIGPIPE, fd and signal hygiene for freshly forked
/// processes, and wait-status descriptions.
///
/// Functions marked "async-signal-safe" call only async-signal-safe system
/// calls and touch no heap, so the fork server may use them.
#pragma once

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <ctime>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unique_fd.hpp"

namespace unblock::detail {

/// A `std::system_error` for the current `errno`.
[[nodiscard]] inline std::system_error process_os_error(const char* what) {
    return std::system_error(errno, std::generic_category(),
                             std::string("unblock::process_pool_executor: ") + what);
}

/// Repeats `transfer(pointer, remaining)` (a read or a send) until `size`
/// bytes have moved; false on end-of-file or error. Async-signal-safe.
template <class Byte, class Transfer>
[[nodiscard]] bool process_transfer_all(Byte* data, std::size_t size, Transfer transfer) noexcept {
    while (size != 0) {
        const ssize_t n = transfer(data, size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

/// Reads exactly `size` bytes; false on EOF or error. Async-signal-safe.
[[nodiscard]] inline bool process_read_all(int fd, void* data, std::size_t size) noexcept {
    return process_transfer_all(static_cast<char*>(data), size,
                                [fd](char* p, std::size_t n) { return ::read(fd, p, n); });
}

/// Sends exactly `size` bytes on a socket, blocking; false if the peer is gone
/// or on error. Never raises SIGPIPE (MSG_NOSIGNAL). Async-signal-safe.
[[nodiscard]] inline bool process_send_all(int fd, const void* data, std::size_t size) noexcept {
    return process_transfer_all(static_cast<const char*>(data), size,
                                [fd](const char* p, std::size_t n) {
                                    return ::send(fd, p, n, MSG_NOSIGNAL);
                                });
}

/// Closes every fd >= `lowest`. Async-signal-safe.
inline void process_close_fds_from(int lowest) noexcept {
#if defined(SYS_close_range)
    if (::syscall(SYS_close_range, static_cast<unsigned>(lowest), ~0U, 0U) == 0) {
        return;
    }
#endif
    rlimit limit{};
    rlim_t max = 65536;
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
        max = limit.rlim_cur;
    }
    for (rlim_t fd = static_cast<rlim_t>(lowest); fd < max; ++fd) {
        ::close(static_cast<int>(fd));
    }
}

/// Resets every signal to its default disposition and empties the signal
/// mask, so a forked process does not run handlers its parent installed.
/// Async-signal-safe.
inline void process_reset_signals() noexcept {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            ::sigaction(sig, &dfl, nullptr); // EINVAL for reserved signals: fine
        }
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

/// The lowest fd the pool's own descriptors may use. A program started with
/// stdin/stdout/stderr closed gets 0-2 from socketpair(); there a copy would
/// be kept by every later fork server as if it were stdio, and a worker's
/// printf would write into the pool's protocol.
inline constexpr int process_lowest_fd = 3;

/// `fd` if it is above stdio, else a close-on-exec copy above it (the
/// original closed). -1 stays -1; on failure, -1 with errno set.
/// Async-signal-safe.
[[nodiscard]] inline int process_above_stdio(int fd) noexcept {
    if (fd < 0 || fd >= process_lowest_fd) {
        return fd;
    }
    const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, process_lowest_fd);
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return moved;
}

/// A connected AF_UNIX stream socketpair, both ends close-on-exec and above
/// stdio. Throws `std::system_error`.
inline void process_socketpair(unique_fd& a, unique_fd& b) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        throw process_os_error("socketpair() failed");
    }
    a.reset(process_above_stdio(sv[0]));
    b.reset(process_above_stdio(sv[1]));
    if (a.get() < 0 || b.get() < 0) {
        throw process_os_error("fcntl(F_DUPFD_CLOEXEC) failed");
    }
}

/// A pipe, both ends close-on-exec and above stdio: `read_end`, `write_end`.
/// Throws `std::system_error`.
inline void process_pipe(unique_fd& read_end, unique_fd& write_end) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
        throw process_os_error("pipe2() failed");
    }
    read_end.reset(process_above_stdio(p[0]));
    write_end.reset(process_above_stdio(p[1]));
    if (read_end.get() < 0 || write_end.get() < 0) {
        throw process_os_error("fcntl(F_DUPFD_CLOEXEC) failed");
    }
}

/// Writes exactly `size` bytes to a pipe, blocking; false if the reader is
/// gone or on error. Never raises SIGPIPE where it was not blocked already:
/// the signal is blocked for this thread around the write, and the one a
/// write to a closed pipe raises is taken back before unblocking. (A pipe has
/// no MSG_NOSIGNAL, and a worker runs the user's code: its SIGPIPE
/// disposition is left alone.) Async-signal-safe.
[[nodiscard]] inline bool process_write_pipe_all(int fd, const void* data,
                                                 std::size_t size) noexcept {
    sigset_t pipe_only;
    sigset_t before;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_only, &before);
    const bool written =
        process_transfer_all(static_cast<const char*>(data), size,
                             [fd](const char* p, std::size_t n) { return ::write(fd, p, n); });
    if (!written && errno == EPIPE && sigismember(&before, SIGPIPE) == 0) {
        const timespec now{};
        while (::sigtimedwait(&pipe_only, nullptr, &now) < 0 && errno == EINTR) {
        }
    }
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    return written;
}

/// Sets O_NONBLOCK on `fd`.
inline void process_set_nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        throw process_os_error("fcntl(O_NONBLOCK) failed");
    }
}

/// The symbolic name of a signal ("SIGKILL"), or "unknown signal".
[[nodiscard]] inline const char* process_signal_name(int sig) noexcept {
    switch (sig) {
        case SIGHUP: return "SIGHUP";
        case SIGINT: return "SIGINT";
        case SIGQUIT: return "SIGQUIT";
        case SIGILL: return "SIGILL";
        case SIGTRAP: return "SIGTRAP";
        case SIGABRT: return "SIGABRT";
        case SIGBUS: return "SIGBUS";
        case SIGFPE: return "SIGFPE";
        case SIGKILL: return "SIGKILL";
        case SIGUSR1: return "SIGUSR1";
        case SIGSEGV: return "SIGSEGV";
        case SIGUSR2: return "SIGUSR2";
        case SIGPIPE: return "SIGPIPE";
        case SIGALRM: return "SIGALRM";
        case SIGTERM: return "SIGTERM";
        case SIGCHLD: return "SIGCHLD";
        case SIGCONT: return "SIGCONT";
        case SIGSTOP: return "SIGSTOP";
        case SIGTSTP: return "SIGTSTP";
        case SIGTTIN: return "SIGTTIN";
        case SIGTTOU: return "SIGTTOU";
        case SIGURG: return "SIGURG";
        case SIGXCPU: return "SIGXCPU";
        case SIGXFSZ: return "SIGXFSZ";
        case SIGVTALRM: return "SIGVTALRM";
        case SIGPROF: return "SIGPROF";
        case SIGSYS: return "SIGSYS";
        default: return "unknown signal";
    }
}

/// "exit code N" or "signal N (SIGNAME)" for a `waitpid` status.
[[nodiscard]] inline std::string process_describe_status(int status) {
    if (WIFEXITED(status)) {
        return "exit code " + std::to_string(WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        return "signal " + std::to_string(sig) + " (" + process_signal_name(sig) + ")";
    }
    return "wait status " + std::to_string(status);
}

} // namespace unblock::detail
