// libFuzzer target: the process pool's frame reader and frame decoding, as the
// pool's I/O thread runs them on what a worker sends. The input is written to
// an answer pipe; `process_channel::read_some` reassembles frames from its
// read end (with a 1 MiB frame limit), and each frame is decoded
// as the pool does (its kind byte, then a value or an exception record).
// Any input must end in frames, a rejected header, or end-of-file: never a
// crash, a hang, an exception other than serialization_error, or an
// allocation beyond the frame limit.
//
// Built twice from this file (see tests/fuzz/CMakeLists.txt): the fuzzer, and
// with UNBLOCK_FUZZ_WRITE_SEEDS a program writing valid frame streams.
#include <unblock/detail/process/channel.hpp>
#include <unblock/detail/process/fd.hpp>
#include <unblock/detail/process/wire.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace {

using namespace unblock::detail;

/// The result type the fuzzed values decode as.
using value_type = std::tuple<std::string, std::vector<int>, double>;

constexpr std::uint64_t frame_limit = std::uint64_t{1} << 20;

/// Decodes one payload as the pool's handle_frame does.
void decode_payload(const std::vector<std::byte>& payload) {
    unblock::byte_reader in(payload.data(), payload.size());
    try {
        const auto kind = in.read_raw<process_frame>();
        if (kind == process_frame::value) {
            (void)unblock::decode<value_type>(in);
        } else if (kind == process_frame::exception || kind == process_frame::init_failed) {
            (void)process_decode_exception(in);
        }
    } catch (const unblock::serialization_error&) {
        // malformed: the pool fails the call with it
    }
}

/// Appends one frame (header, kind, body) to `stream`.
template <class Body>
void append_frame(std::vector<std::byte>& stream, process_frame kind, Body&& body) {
    unblock::byte_writer out;
    process_begin_frame(out);
    out.write_raw(kind);
    body(out);
    process_end_frame(out);
    stream.insert(stream.end(), out.buffer().begin(), out.buffer().end());
}

/// Valid streams: what a healthy worker sends.
std::vector<std::vector<std::byte>> valid_streams() {
    std::vector<std::vector<std::byte>> streams(3);
    append_frame(streams[0], process_frame::ready, [](unblock::byte_writer&) {});
    append_frame(streams[0], process_frame::value, [](unblock::byte_writer& out) {
        unblock::encode(out, value_type{"result", {1, 2, 3}, 2.5});
    });
    append_frame(streams[1], process_frame::exception, [](unblock::byte_writer& out) {
        try {
            throw std::out_of_range("index 7");
        } catch (...) {
            process_encode_current_exception(out);
        }
    });
    append_frame(streams[2], process_frame::init_failed, [](unblock::byte_writer& out) {
        try {
            throw 42;
        } catch (...) {
            process_encode_current_exception(out);
        }
    });
    return streams;
}

} // namespace

#ifndef UNBLOCK_FUZZ_WRITE_SEEDS

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
    // The input (at most -max_len = 64 KiB, a pipe's default capacity) fits
    // the pipe: write it all, then close, so the reader ends at end-of-file.
    ::fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    std::size_t sent = 0;
    while (sent < size) {
        const ssize_t n = ::write(fds[1], data + sent, size - sent);
        if (n <= 0) std::abort();
        sent += static_cast<std::size_t>(n);
    }
    ::close(fds[1]);

    process_channel channel(unique_fd(), unique_fd(fds[0]), frame_limit);
    for (;;) {
        const process_read_status status = channel.read_some([](std::vector<std::byte> payload) {
            decode_payload(payload);
            return true;
        });
        if (status != process_read_status::open) break;
    }
    return 0;
}

#else

#include <filesystem>
#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " <seed directory>\n";
        return 2;
    }
    const std::string dir = argv[1];
    std::filesystem::create_directories(dir);
    std::size_t index = 0;
    for (const auto& stream : valid_streams()) {
        std::ofstream file(dir + "/seed_" + std::to_string(index++), std::ios::binary);
        file.write(reinterpret_cast<const char*>(stream.data()),
                   static_cast<std::streamsize>(stream.size()));
    }
    return 0;
}

#endif
