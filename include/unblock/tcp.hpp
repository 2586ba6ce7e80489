/// \file tcp.hpp
/// A minimal TCP layer on the loop's epoll: `tcp_listener` and `tcp_stream`,
/// enough for a real server or client and nothing more. IPv4 and IPv6,
/// numeric addresses only (getaddrinfo blocks: resolve names with
/// `to_thread`). Non-blocking sockets; EINTR, EAGAIN and partial writes are
/// handled; SIGPIPE is never raised (MSG_NOSIGNAL).
#pragma once

#include "detail/unique_fd.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "readiness.hpp"
#include "task.hpp"
#include "time.hpp"

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace unblock {

namespace detail {

/// A socket address parsed from a numeric IPv4 or IPv6 address and a port.
struct socket_address {
    sockaddr_storage storage{};
    socklen_t length = 0;

    socket_address(const std::string& host, std::uint16_t port, const char* what) {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
        if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
            v4->sin_port = htons(port);
            length = sizeof(sockaddr_in);
        } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons(port);
            length = sizeof(sockaddr_in6);
        } else {
            throw std::invalid_argument(
                std::string(what) + ": \"" + host +
                "\" is not a numeric IPv4 or IPv6 address (e.g. 127.0.0.1 or ::1); resolve host "
                "names with co_await unblock::to_thread(getaddrinfo...) first");
        }
    }
    [[nodiscard]] int family() const noexcept { return storage.ss_family; }
    [[nodiscard]] const sockaddr* get() const noexcept {
        return reinterpret_cast<const sockaddr*>(&storage);
    }
};

[[noreturn]] inline void throw_socket_error(int error, const std::string& what) {
    throw io_error(std::error_code(error, std::generic_category()), what);
}

/// A non-blocking, close-on-exec TCP socket of `family`.
inline unique_fd tcp_socket(int family, const char* what) {
    unique_fd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw_socket_error(errno, std::string(what) + ": socket()");
    return fd;
}

/// Closes `fd` after dropping whatever the running loop watches for it, so
/// that a socket opened next with the same number starts clean.
inline void close_socket(unique_fd& fd) noexcept {
    if (fd.get() < 0) return;
    if (t_running_loop != nullptr) loop_access::reactor_of(*t_running_loop).forget(fd.get());
    fd.reset();
}

} // namespace detail

/// A connected TCP socket. Move-only; closes on destruction.
///
///     auto stream = co_await unblock::tcp_stream::connect("127.0.0.1", port);
///     co_await stream.write_all("ping\n");
///     char reply[5];
///     co_await stream.read_exact(reply, sizeof reply);
///
/// One task reads and one task writes at a time (one waiter per fd and
/// direction: a second concurrent reader gets `invalid_state_error`).
class tcp_stream {
public:
    tcp_stream() noexcept = default;
    /// Adopts a connected socket (made non-blocking here).
    explicit tcp_stream(int fd) : m_fd(fd) {
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
            detail::throw_socket_error(errno, "unblock::tcp_stream: fcntl(O_NONBLOCK)");
        set_no_delay();
    }
    /// Adopts a socket that is non-blocking already.
    struct non_blocking_t {};
    static constexpr non_blocking_t non_blocking{};
    tcp_stream(int fd, non_blocking_t) noexcept : m_fd(fd) { set_no_delay(); }
    tcp_stream(tcp_stream&&) noexcept = default;
    tcp_stream& operator=(tcp_stream&& other) noexcept {
        if (this != &other) {
            close();
            m_fd = std::move(other.m_fd);
        }
        return *this;
    }
    ~tcp_stream() { close(); }

    /// Connects to `host` (a numeric address) and `port`; throws `io_error`
    /// (refused, unreachable) or `timeout_error` after `timeout`.
    static task<tcp_stream>
    connect(std::string host, std::uint16_t port,
            std::chrono::steady_clock::duration timeout = std::chrono::seconds(30)) {
        const detail::socket_address address(host, port, "unblock::tcp_stream::connect");
        detail::unique_fd fd = detail::tcp_socket(address.family(), "unblock::tcp_stream::connect");
        int result = 0;
        do {
            result = ::connect(fd.get(), address.get(), address.length);
        } while (result != 0 && errno == EINTR);
        const std::string where = host + " port " + std::to_string(port);
        if (result != 0 && errno != EINPROGRESS)
            detail::throw_socket_error(errno, "unblock::tcp_stream::connect to " + where);
        if (result != 0) {
            try {
                co_await wait_for(wait_writable(fd.get()), timeout);
            } catch (...) {
                detail::close_socket(fd);
                throw;
            }
            int error = 0;
            socklen_t length = sizeof error;
            ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
            if (error != 0) {
                detail::close_socket(fd);
                detail::throw_socket_error(error, "unblock::tcp_stream::connect to " + where);
            }
        }
        co_return tcp_stream(fd.release(), non_blocking);
    }

    /// Reads what is there, up to `size` bytes, waiting until something is;
    /// 0 means the peer closed its side. Throws `io_error` (e.g. reset).
    task<std::size_t> read_some(void* data, std::size_t size) {
        check_open("read_some");
        while (true) {
            const ssize_t n = ::recv(m_fd.get(), data, size, 0);
            if (n >= 0) co_return static_cast<std::size_t>(n);
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                detail::throw_socket_error(errno, "unblock::tcp_stream::read_some");
            co_await wait_readable(m_fd.get());
        }
    }

    /// Reads exactly `size` bytes; throws `io_error` if the peer closes first.
    task<> read_exact(void* data, std::size_t size) {
        auto* bytes = static_cast<char*>(data);
        std::size_t done = 0;
        while (done < size) {
            const std::size_t n = co_await read_some(bytes + done, size - done);
            if (n == 0) {
                detail::throw_socket_error(ECONNRESET, "unblock::tcp_stream::read_exact: the peer "
                                                       "closed the connection after " +
                                                           std::to_string(done) + " of " +
                                                           std::to_string(size) + " bytes");
            }
            done += n;
        }
    }

    /// Writes all of `data`, waiting while the socket buffer is full; `data`
    /// must stay alive until the await ends. Throws `io_error` (e.g. EPIPE
    /// when the peer has gone; never SIGPIPE).
    task<> write_all(const void* data, std::size_t size) {
        check_open("write_all");
        const auto* bytes = static_cast<const char*>(data);
        std::size_t done = 0;
        while (done < size) {
            const ssize_t n = ::send(m_fd.get(), bytes + done, size - done, MSG_NOSIGNAL);
            if (n >= 0) {
                done += static_cast<std::size_t>(n);
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                co_await wait_writable(m_fd.get());
            } else if (errno != EINTR) {
                detail::throw_socket_error(errno, "unblock::tcp_stream::write_all");
            }
        }
    }
    task<> write_all(std::string_view text) { return write_all(text.data(), text.size()); }

    /// Ends the sending side (the peer reads end of file); reading goes on.
    void shutdown() {
        check_open("shutdown");
        if (::shutdown(m_fd.get(), SHUT_WR) != 0 && errno != ENOTCONN)
            detail::throw_socket_error(errno, "unblock::tcp_stream::shutdown");
    }

    /// Closes the socket (also done by the destructor). Do not close it while
    /// one of its reads or writes waits.
    void close() noexcept { detail::close_socket(m_fd); }

    [[nodiscard]] bool is_open() const noexcept { return m_fd.get() >= 0; }
    [[nodiscard]] int native_handle() const noexcept { return m_fd.get(); }

private:
    /// Small requests and replies go out at once (no Nagle delay).
    void set_no_delay() const noexcept {
        const int one = 1;
        ::setsockopt(m_fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }

    void check_open(const char* what) const {
        if (!is_open()) {
            throw invalid_state_error(std::string("unblock::tcp_stream::") + what +
                                      ": the stream is closed (or moved from, or never connected)");
        }
    }

    detail::unique_fd m_fd;
};

/// A listening TCP socket.
///
///     auto listener = unblock::tcp_listener::bind("127.0.0.1", 0); // 0: any free port
///     tcp_stream client = co_await listener.accept();
class tcp_listener {
public:
    tcp_listener() noexcept = default;
    tcp_listener(tcp_listener&&) noexcept = default;
    tcp_listener& operator=(tcp_listener&& other) noexcept {
        if (this != &other) {
            close();
            m_fd = std::move(other.m_fd);
        }
        return *this;
    }
    ~tcp_listener() { close(); }

    /// Binds `host` (a numeric address; "0.0.0.0" or "::" for all) and `port`
    /// (0: a free one, see port()) with SO_REUSEADDR, and listens.
    static tcp_listener bind(const std::string& host, std::uint16_t port, int backlog = 128) {
        const detail::socket_address address(host, port, "unblock::tcp_listener::bind");
        tcp_listener listener;
        listener.m_fd = detail::tcp_socket(address.family(), "unblock::tcp_listener::bind");
        const int one = 1;
        ::setsockopt(listener.m_fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(listener.m_fd.get(), address.get(), address.length) != 0) {
            detail::throw_socket_error(errno, "unblock::tcp_listener::bind " + host + " port " +
                                                  std::to_string(port));
        }
        if (::listen(listener.m_fd.get(), backlog) != 0)
            detail::throw_socket_error(errno, "unblock::tcp_listener::bind: listen()");
        return listener;
    }

    /// The port it listens on.
    [[nodiscard]] std::uint16_t port() const {
        sockaddr_storage storage{};
        socklen_t length = sizeof storage;
        if (::getsockname(m_fd.get(), reinterpret_cast<sockaddr*>(&storage), &length) != 0)
            detail::throw_socket_error(errno, "unblock::tcp_listener::port");
        if (storage.ss_family == AF_INET6)
            return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
        return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
    }

    /// Waits for the next connection.
    task<tcp_stream> accept() {
        if (m_fd.get() < 0)
            throw invalid_state_error("unblock::tcp_listener::accept: the listener is closed");
        while (true) {
            const int fd = ::accept4(m_fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0) co_return tcp_stream(fd, tcp_stream::non_blocking);
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                co_await wait_readable(m_fd.get());
            } else if (errno != EINTR && errno != ECONNABORTED) {
                detail::throw_socket_error(errno, "unblock::tcp_listener::accept");
            }
        }
    }

    void close() noexcept { detail::close_socket(m_fd); }
    [[nodiscard]] bool is_open() const noexcept { return m_fd.get() >= 0; }
    [[nodiscard]] int native_handle() const noexcept { return m_fd.get(); }

private:
    detail::unique_fd m_fd;
};

} // namespace unblock
