/// \file detail/loop/signals.hpp
/// `event_loop::add_signal_handler`: POSIX signals delivered to the loop
/// thread through a self-pipe.
///
/// A self-pipe rather than signalfd: signalfd needs the signal blocked in
/// every thread of the process (the pools' threads, a library's), which a
/// header cannot arrange; a handler that writes one byte works whichever
/// thread the kernel picks.
#pragma once

#include "../../errors.hpp"
#include "../unique_fd.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace unblock::detail {

/// For each signal, the write end of the pipe of the loop that handles it,
/// plus one (zero: none). Read by the signal handler: lock-free atomics only.
inline std::array<std::atomic<int>, NSIG> g_signal_pipes{};

/// The process-wide handler: one byte, the signal number, to its loop's pipe.
/// Async-signal-safe.
inline void forward_signal(int signal_number) noexcept {
    const int saved_errno = errno;
    const int fd = g_signal_pipes[static_cast<std::size_t>(signal_number)].load() - 1;
    if (fd >= 0) {
        const auto byte = static_cast<unsigned char>(signal_number);
        [[maybe_unused]] const ssize_t written = ::write(fd, &byte, 1); // full pipe: one is queued
    }
    errno = saved_errno;
}

/// A loop's signal handlers, its pipe, and the actions it replaced.
class signal_handlers {
public:
    signal_handlers() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
            throw io_error(std::error_code(errno, std::generic_category()),
                           "unblock::event_loop::add_signal_handler: cannot create its pipe");
        }
        m_read.reset(fds[0]);
        m_write.reset(fds[1]);
    }
    signal_handlers(const signal_handlers&) = delete;
    signal_handlers& operator=(const signal_handlers&) = delete;
    ~signal_handlers() {
        while (!m_handlers.empty())
            remove(m_handlers.begin()->first);
    }

    /// The end the loop watches.
    [[nodiscard]] int read_fd() const noexcept { return m_read.get(); }

    void add(int signal_number, std::function<void()> callback) {
        if (signal_number <= 0 || signal_number >= NSIG || signal_number == SIGKILL ||
            signal_number == SIGSTOP) {
            throw std::invalid_argument(
                "unblock::event_loop::add_signal_handler: " + std::to_string(signal_number) +
                " is not a signal that can be handled");
        }
        if (!callback) {
            throw std::invalid_argument(
                "unblock::event_loop::add_signal_handler: the callback is empty");
        }
        auto& target = g_signal_pipes[static_cast<std::size_t>(signal_number)];
        if (const auto found = m_handlers.find(signal_number); found != m_handlers.end()) {
            found->second.callback = std::move(callback); // replaces, as asyncio does
            return;
        }
        int expected = 0;
        if (!target.compare_exchange_strong(expected, m_write.get() + 1)) {
            throw invalid_state_error(
                "unblock::event_loop::add_signal_handler: signal " + std::to_string(signal_number) +
                " is handled by another event loop; remove it there first (signals are per process)");
        }
        struct sigaction action {};
        action.sa_handler = &forward_signal;
        action.sa_flags = SA_RESTART;
        sigemptyset(&action.sa_mask);
        entry added{std::move(callback), {}};
        if (::sigaction(signal_number, &action, &added.previous) != 0) {
            target.store(0);
            throw io_error(std::error_code(errno, std::generic_category()),
                           "unblock::event_loop::add_signal_handler: sigaction(" +
                               std::to_string(signal_number) + ")");
        }
        m_handlers.emplace(signal_number, std::move(added));
    }

    /// Restores the action the signal had before; false if not handled here.
    bool remove(int signal_number) noexcept {
        const auto found = m_handlers.find(signal_number);
        if (found == m_handlers.end()) return false;
        ::sigaction(signal_number, &found->second.previous, nullptr);
        g_signal_pipes[static_cast<std::size_t>(signal_number)].store(0);
        m_handlers.erase(found);
        return true;
    }

    [[nodiscard]] bool empty() const noexcept { return m_handlers.empty(); }

    /// Reads what arrived and calls each signal's callback once per byte.
    /// A callback may add or remove handlers. Loop thread.
    template <class OnError>
    void dispatch(OnError on_error) {
        unsigned char received[64];
        ssize_t count = 0;
        while ((count = ::read(m_read.get(), received, sizeof received)) > 0) {
            for (ssize_t i = 0; i != count; ++i) {
                const auto found = m_handlers.find(received[i]);
                if (found == m_handlers.end()) continue;                 // removed meanwhile
                std::function<void()> callback = found->second.callback; // may remove itself
                try {
                    callback();
                } catch (...) {
                    on_error(std::current_exception());
                }
            }
        }
    }

private:
    struct entry {
        std::function<void()> callback;
        struct sigaction previous;
    };
    unique_fd m_read;
    unique_fd m_write;
    std::map<int, entry> m_handlers;
};

} // namespace unblock::detail
