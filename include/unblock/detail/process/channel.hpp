/// \file detail/process/channel.hpp
/// `process_channel`: the pool's ends of one worker's socket (calls out) and
/// answer pipe (answers in), with non-blocking frame I/O for the pool's poll
/// loop.
#pragma once

#include "../integer_cast.hpp"
#include "fd.hpp"
#include "wire.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

namespace unblock::detail {

/// What `process_channel::read_some` found.
enum class process_read_status {
    open,       ///< read what there was; the worker may send more
    closed,     ///< EOF or a socket error: the worker is gone
    bad_header, ///< not a header of the protocol, or a length over the limit
    no_memory,  ///< the announced payload could not be allocated
};

/// The pool's ends of a worker's channel: sends one call frame at a time on
/// the socket and reassembles the answers arriving on the pipe, never
/// blocking and never raising SIGPIPE.
///
/// Answers come over a pipe rather than back over the socket: on Linux a
/// pipe hands 8 bytes to a sleeping reader 3-6 µs sooner than an AF_UNIX
/// socket does (benchmarks/w4_process_round_trip.cpp measures the pipe
/// floor), and the socket keeps MSG_NOSIGNAL for the pool's own writes.
///
/// Not thread-safe: used by the pool's I/O thread (and by a submitter that
/// owns the write side for one call, or the read side while it polls for
/// its answer: pool_core.hpp). The two sides share no state.
class process_channel {
public:
    process_channel() = default;
    /// `calls`: the socket's end; `answers`: the pipe's read end, non-blocking.
    process_channel(unique_fd calls, unique_fd answers, std::uint64_t max_frame) noexcept
        : m_fd(std::move(calls)), m_answers(std::move(answers)), m_max_frame(max_frame) {}

    [[nodiscard]] int call_fd() const noexcept { return m_fd.get(); }
    [[nodiscard]] int answer_fd() const noexcept { return m_answers.get(); }

    /// Closes both (the worker sees EOF).
    void close() noexcept {
        m_fd.reset();
        m_answers.reset();
    }

    /// Whether part of `frame` is still to be sent.
    [[nodiscard]] bool wants_write(const std::vector<std::byte>& frame) const noexcept {
        return m_sent < frame.size();
    }

    /// Sends as much of `frame` as the socket takes; once all of it is sent,
    /// frees it. False if the worker is gone (EPIPE, ECONNRESET, ...).
    [[nodiscard]] bool write_some(std::vector<std::byte>& frame) noexcept {
        while (m_sent < frame.size()) {
            const ssize_t n = ::send(m_fd.get(), frame.data() + m_sent, frame.size() - m_sent,
                                     MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                m_sent += static_cast<std::size_t>(n);
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return true;
            } else {
                return false;
            }
        }
        std::vector<std::byte>().swap(frame); // free a large frame at once
        m_sent = 0;
        return true;
    }

    /// Reads what is available, up to `budget` bytes (fairness between
    /// workers), and passes each complete payload to `on_frame`, which returns
    /// false to stop reading. After `bad_header` or `no_memory` the stream
    /// cannot be resynchronised: `rejected_length()` says what was announced.
    ///
    /// Small frames arrive through a staging buffer, so a whole answer is one
    /// read(); a read that comes back short means the pipe is drained for
    /// now, and the next poll() reports the rest (no read() just to see EAGAIN).
    template <class OnFrame>
    [[nodiscard]] process_read_status read_some(OnFrame&& on_frame,
                                                std::size_t budget = std::size_t{16} << 20) {
        while (budget != 0) {
            const bool direct =
                m_in_payload && m_payload.size() - m_payload_got >= m_staging.size();
            std::byte* target = direct ? m_payload.data() + m_payload_got : m_staging.data();
            const std::size_t want =
                std::min(direct ? m_payload.size() - m_payload_got : m_staging.size(), budget);
            const ssize_t n = ::read(m_answers.get(), target, want);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return process_read_status::open;
            }
            if (n <= 0) {
                return process_read_status::closed;
            }
            const auto got = static_cast<std::size_t>(n);
            budget -= got;
            if (direct) {
                m_payload_got += got;
                if (m_payload_got == m_payload.size() && !deliver(on_frame)) {
                    return process_read_status::open;
                }
            } else {
                bool more = true;
                const process_read_status status = consume(m_staging.data(), got, on_frame, more);
                if (status != process_read_status::open || !more) {
                    return status;
                }
            }
            if (got < want) {
                return process_read_status::open; // drained for now
            }
        }
        return process_read_status::open;
    }

    /// The length the rejected header announced.
    [[nodiscard]] std::uint64_t rejected_length() const noexcept { return m_rejected_length; }

    /// Whether the rejected header was not the protocol's at all.
    [[nodiscard]] bool rejected_foreign() const noexcept { return m_rejected_foreign; }

    /// The largest payload accepted.
    [[nodiscard]] std::uint64_t max_frame() const noexcept { return m_max_frame; }

private:
    /// Hands the completed payload to `on_frame`; its answer.
    template <class OnFrame>
    bool deliver(OnFrame& on_frame) {
        m_in_payload = false;
        m_header_got = 0;
        return on_frame(std::exchange(m_payload, {}));
    }

    /// Feeds `size` staged bytes into the header and payload being assembled.
    /// `more` becomes false when `on_frame` asks to stop.
    template <class OnFrame>
    process_read_status consume(const std::byte* data, std::size_t size, OnFrame& on_frame,
                                bool& more) {
        while (size != 0) {
            if (!m_in_payload) {
                const std::size_t take = std::min(size, m_header.size() - m_header_got);
                std::memcpy(m_header.data() + m_header_got, data, take);
                m_header_got += take;
                data += take;
                size -= take;
                if (m_header_got < m_header.size()) {
                    return process_read_status::open;
                }
                std::uint64_t length = 0;
                const bool ours = process_parse_header(m_header.data(), length);
                m_rejected_length = length;
                if (!ours || length == 0 || length > m_max_frame) {
                    m_rejected_foreign = !ours;
                    return process_read_status::bad_header;
                }
                try {
                    m_payload.resize(integer_cast<std::size_t>(length));
                } catch (const std::bad_alloc&) {
                    return process_read_status::no_memory;
                }
                m_payload_got = 0;
                m_in_payload = true;
            }
            const std::size_t take = std::min(size, m_payload.size() - m_payload_got);
            std::memcpy(m_payload.data() + m_payload_got, data, take);
            m_payload_got += take;
            data += take;
            size -= take;
            if (m_payload_got == m_payload.size() && !deliver(on_frame)) {
                more = false; // the rest of the stream is not wanted
                return process_read_status::open;
            }
        }
        return process_read_status::open;
    }

    unique_fd m_fd;      ///< the socket: calls to the worker
    unique_fd m_answers; ///< the pipe's read end: answers from the worker
    std::uint64_t m_max_frame = process_default_max_frame;
    std::uint64_t m_rejected_length = 0;
    bool m_rejected_foreign = false;
    std::size_t m_sent = 0;                  ///< bytes of the current outgoing frame sent
    std::array<std::byte, 4096> m_staging{}; ///< small frames, whole, in one read()
    std::array<std::byte, process_header_bytes> m_header{};
    std::size_t m_header_got = 0;
    std::vector<std::byte> m_payload;
    std::size_t m_payload_got = 0;
    bool m_in_payload = false;
};

} // namespace unblock::detail
