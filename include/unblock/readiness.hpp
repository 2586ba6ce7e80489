/// \file readiness.hpp
/// `wait_readable(fd)` and `wait_writable(fd)`: a coroutine waits until a file
/// descriptor is ready, on the loop's epoll (asyncio's add_reader/add_writer
/// as awaitables). The callback forms are on `event_loop`.
#pragma once

#include "detail/loop/cancellable_wait.hpp"
#include "detail/loop/reactor.hpp"
#include "event_loop.hpp"

#include <cerrno>
#include <coroutine>
#include <string>
#include <system_error>

namespace unblock {

namespace detail {

/// Waits once for `fd` to be ready in one direction. Cancellable: a cancel
/// takes the waiter off the reactor and the await throws `cancelled_error`.
class fd_wait_awaiter final : fd_waiter, cancellable_wait {
public:
    fd_wait_awaiter(int fd, fd_direction direction) noexcept
        : fd_waiter(&on_ready), m_fd(fd), m_direction(direction) {}
    fd_wait_awaiter(const fd_wait_awaiter&) = delete;
    fd_wait_awaiter& operator=(const fd_wait_awaiter&) = delete;
    ~fd_wait_awaiter() {
        if (m_loop) loop_access::reactor_of(*m_loop).unwatch(m_fd, m_direction, this);
    }

    bool await_ready() const noexcept { return false; }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) {
        task_state* waiter = task_of(awaiting);
        event_loop& loop = (waiter && waiter->m_loop) ? *waiter->m_loop : get_running_loop();
        const char* what =
            m_direction == fd_direction::read ? "unblock::wait_readable" : "unblock::wait_writable";
        if (m_fd < 0) {
            throw io_error(std::make_error_code(std::errc::bad_file_descriptor),
                           std::string(what) + ": fd " + std::to_string(m_fd) +
                               " is not a file descriptor");
        }
        loop_access::reactor_of(loop).watch(m_fd, m_direction, this, false, what);
        m_loop = &loop;
        m_awaiting = awaiting;
        m_task = waiter; // debug mode names the task the readiness resumes
        begin_wait(waiter);
    }

    void await_resume() {
        end_wait();
        throw_if_cancelled();
    }

private:
    static void on_ready(loop_node* node) noexcept {
        auto* self = static_cast<fd_wait_awaiter*>(static_cast<fd_waiter*>(node));
        self->m_loop = nullptr; // off the reactor already
        self->m_awaiting.resume();
    }

    void on_cancel() noexcept override {
        // Still watched: take it off and resume. Already fired: it resumes anyway, cancelled.
        if (loop_access::reactor_of(*m_loop).unwatch(m_fd, m_direction, this))
            loop_access::schedule(*m_loop, this);
    }

    int m_fd;
    fd_direction m_direction;
    event_loop* m_loop = nullptr; ///< set while the reactor may hold this node
    std::coroutine_handle<> m_awaiting;
};

/// What wait_readable / wait_writable return: a copyable description, so it
/// can be passed to wait_for, timeout or create_task; each await waits anew.
class [[nodiscard]] fd_wait {
public:
    fd_wait(int fd, fd_direction direction) noexcept : m_fd(fd), m_direction(direction) {}
    fd_wait_awaiter operator co_await() const noexcept { return {m_fd, m_direction}; }

private:
    int m_fd;
    fd_direction m_direction;
};

} // namespace detail

/// Waits until `fd` is readable (data, end of file, an error or a hang-up:
/// the next read says which). Level-triggered: returns at once if it is
/// readable already. One waiter per fd and direction on a loop. Throws
/// `io_error` for an fd epoll cannot watch: closed, or a regular file (always
/// ready: read it with to_thread). Do not close `fd` while a task waits on it.
///
///     co_await unblock::wait_readable(socket_fd);
///     ssize_t n = ::read(socket_fd, buffer, size); // does not block
inline detail::fd_wait wait_readable(int fd) noexcept { return {fd, detail::fd_direction::read}; }

/// Waits until `fd` is writable; as wait_readable.
inline detail::fd_wait wait_writable(int fd) noexcept { return {fd, detail::fd_direction::write}; }

} // namespace unblock
