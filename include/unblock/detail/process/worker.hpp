/// \file detail/process/worker.hpp
/// The main loop of a worker process.
///
/// A worker runs its initializer, announces `ready`, then answers call frames
/// one at a time with blocking I/O, calls read from its socket and answers
/// written to its answer pipe (channel.hpp says why a pipe), until the socket
/// reaches EOF. The parent never writes a second call before the answer to the first,
/// and it reads and writes without blocking, so neither side can wait on the
/// other in a cycle, whatever the payload sizes.
#pragma once

#include "../../codec.hpp"
#include "../../errors.hpp"
#include "../../event_loop.hpp"
#include "../integer_cast.hpp"
#include "fd.hpp"
#include "thunk.hpp"
#include "wire.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <unistd.h>

namespace unblock::detail {

/// Exit code of a worker that could not even report its failure.
inline constexpr int process_worker_internal_failure = 70;

/// Flushes what the user's code printed, so it is neither lost nor duplicated.
inline void process_worker_flush() noexcept {
    std::fflush(stdout);
    std::fflush(stderr);
}

/// Sends one finished frame on the answer pipe `fd`; false if the parent is gone.
[[nodiscard]] inline bool process_worker_send(int fd, byte_writer& frame) {
    process_end_frame(frame);
    return process_write_pipe_all(fd, frame.buffer().data(), frame.size());
}

/// Forgets the library's thread-local state of the thread that built the
/// pool (its running loop, its thread pool): the worker runs none of them.
/// Every `thread_local` of include/ is reset here.
inline void process_worker_reset_thread_state() noexcept {
    t_running_loop = nullptr;
    t_current_pool = nullptr;
    t_work_done = nullptr;
    frame_cache::local().reset_after_fork();
}

/// Replaces `frame` by an exception frame for the exception being handled.
inline void process_worker_exception_frame(byte_writer& frame) {
    frame = byte_writer();
    process_begin_frame(frame);
    frame.write_raw(process_frame::exception);
    process_encode_current_exception(frame);
}

/// Reports the exception being handled as the initializer's failure (call
/// only inside a `catch`).
inline void process_worker_send_init_failure(int fd) {
    byte_writer frame;
    process_begin_frame(frame);
    frame.write_raw(process_frame::init_failed);
    process_encode_current_exception(frame);
    process_worker_flush();
    static_cast<void>(process_worker_send(fd, frame));
}

/// Runs the call in `request` and returns the answer frame (begun, not yet
/// ended): the value, or the exception, or a `serialization_error` when the
/// answer would exceed `max_frame` bytes.
inline byte_writer process_worker_answer(process_request& request, std::uint64_t max_frame) {
    byte_writer frame;
    process_begin_frame(frame);
    try {
        const process_thunk thunk = process_read_thunk(request.reader);
        thunk(request, frame);
    } catch (...) {
        process_worker_exception_frame(frame);
    }
    if (process_payload_bytes(frame) > max_frame) {
        const auto bytes = process_payload_bytes(frame);
        frame = byte_writer(); // free it before building the error
        try {
            throw serialization_error(
                "unblock::process_pool_executor: the result (or exception) encodes to " +
                std::to_string(bytes) + " bytes, more than options::max_frame_bytes (" +
                std::to_string(max_frame) + "); raise max_frame_bytes or return less");
        } catch (...) {
            process_worker_exception_frame(frame);
        }
    }
    return frame;
}

/// The worker's end of its socket, read through a buffer: a small call frame,
/// header and payload, is one read().
class process_worker_input {
public:
    explicit process_worker_input(int fd) noexcept : m_fd(fd) {}

    /// Reads exactly `size` bytes; false on EOF or error.
    [[nodiscard]] bool read(void* data, std::size_t size) noexcept {
        auto* out = static_cast<std::byte*>(data);
        while (size != 0) {
            if (m_begin == m_end) {
                if (size >= m_buffer.size()) {
                    return process_read_all(m_fd, out, size); // large: no copy
                }
                const ssize_t n = ::read(m_fd, m_buffer.data(), m_buffer.size());
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n <= 0) {
                    return false;
                }
                m_begin = 0;
                m_end = static_cast<std::size_t>(n);
            }
            const std::size_t take = std::min(size, m_end - m_begin);
            std::memcpy(out, m_buffer.data() + m_begin, take);
            m_begin += take;
            out += take;
            size -= take;
        }
        return true;
    }

private:
    int m_fd;
    std::size_t m_begin = 0;
    std::size_t m_end = 0;
    std::array<std::byte, 4096> m_buffer{};
};

/// Serves the calls read from `call_fd` until EOF, answering on `answer_fd`.
/// Returns the exit code.
inline int process_worker_loop(int call_fd, int answer_fd, void (*initializer)(),
                               std::uint64_t max_frame) {
    if (initializer != nullptr) {
        try {
            initializer();
        } catch (...) {
            process_worker_send_init_failure(answer_fd);
            return 1;
        }
    }
    {
        byte_writer frame;
        process_begin_frame(frame);
        frame.write_raw(process_frame::ready);
        process_worker_flush();
        if (!process_worker_send(answer_fd, frame)) {
            return 0;
        }
    }
    process_worker_input input(call_fd);
    for (;;) {
        std::byte header[process_header_bytes];
        if (!input.read(header, sizeof header)) {
            return 0; // EOF: the pool is done with this worker
        }
        std::uint64_t length = 0;
        if (!process_parse_header(header, length) || length > max_frame) {
            return process_worker_internal_failure;
        }
        process_request request;
        request.storage.resize(integer_cast<std::size_t>(length));
        if (!input.read(request.storage.data(), request.storage.size())) {
            return 0;
        }
        request.reader = byte_reader(request.storage.data(), request.storage.size());
        byte_writer frame = process_worker_answer(request, max_frame);
        process_worker_flush();
        if (!process_worker_send(answer_fd, frame)) {
            return 0;
        }
    }
}

/// Entry point of a freshly forked worker; never returns.
[[noreturn]] inline void process_worker_main(int call_fd, int answer_fd, void (*initializer)(),
                                             std::uint64_t max_frame) noexcept {
    process_worker_reset_thread_state();
    int code = process_worker_internal_failure;
    try {
        code = process_worker_loop(call_fd, answer_fd, initializer, max_frame);
    } catch (...) {
        // Out of memory while building a frame, or similar: the parent sees
        // the exit code and fails the call with worker_crashed_error.
    }
    process_worker_flush();
    // _exit: the worker is a fork of the parent; it must not run the parent's
    // atexit handlers or static destructors.
    ::_exit(code);
}

} // namespace unblock::detail
