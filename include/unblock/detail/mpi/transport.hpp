/// \file detail/mpi/transport.hpp
/// What rank 0 and the serving ranks of an `mpi_pool_executor` share: the
/// message tags, MPI error checks, and polling for a message with back-off.
///
/// Messages carry the process pool's frames unchanged (detail/process/wire.hpp):
/// a call is a `process_encode_call` frame, an answer a `process_worker_answer`
/// frame. MPI keeps message boundaries, so the frame header is redundant here,
/// and is checked anyway: bytes that are not a frame are refused, not run.
#pragma once

#include "../../errors.hpp"
#include "../integer_cast.hpp"

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

// Only MPI's C interface is used: skip the deprecated C++ bindings (and their warnings).
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

namespace unblock {

/// An MPI call failed. `code()` is the MPI error code; `what()` names the
/// call and gives the MPI implementation's description.
class mpi_error : public error {
public:
    mpi_error(int code, const std::string& what)
        : error(what + ": " + describe(code)), m_code(code) {}

    [[nodiscard]] int code() const noexcept { return m_code; }

private:
    static std::string describe(int code) {
        char text[MPI_MAX_ERROR_STRING];
        int length = 0;
        if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) {
            return "MPI error " + std::to_string(code);
        }
        return std::string(text, static_cast<std::size_t>(length));
    }

    int m_code;
};

} // namespace unblock

namespace unblock::detail {

/// Message tags on the executor's own communicator (a duplicate of the
/// world's, or the spawn intercommunicator): no other traffic shares it.
enum mpi_tag : int {
    mpi_tag_call = 1,   ///< rank 0 -> worker: a call frame
    mpi_tag_answer = 2, ///< worker -> rank 0: the answer frame
    mpi_tag_exit = 3,   ///< rank 0 -> worker: stop serving (empty)
};

/// Largest frame an MPI message carries: its count is an `int`.
inline constexpr std::uint64_t mpi_max_message = INT_MAX;

/// Throws `mpi_error` unless `code` is MPI_SUCCESS.
inline void mpi_check(int code, const char* call) {
    if (code != MPI_SUCCESS) throw mpi_error(code, std::string("unblock: ") + call + " failed");
}

/// Pauses between polls for a message that has not arrived. MPI offers no
/// file descriptor to sleep on, so both sides poll, as mpi4py.futures does:
/// without pausing for the first 100 µs (an answer to a short call arrives
/// within that), then sleeping 1 µs, doubling up to 1 ms, so an idle rank
/// costs almost no CPU and a long call's answer is seen within 1 ms.
class mpi_backoff {
public:
    /// The pause before the next poll (zero while still spinning).
    [[nodiscard]] std::chrono::microseconds next() noexcept {
        const auto now = std::chrono::steady_clock::now();
        if (!m_spinning) {
            m_spinning = true;
            m_spin_started = now;
        }
        if (now - m_spin_started < spin_for) return std::chrono::microseconds::zero();
        m_pause = m_pause < std::chrono::microseconds(1) ? std::chrono::microseconds(1)
                                                         : std::min(2 * m_pause, longest_pause);
        return m_pause;
    }

    /// Something arrived: spin again next time.
    void reset() noexcept {
        m_spinning = false;
        m_pause = std::chrono::microseconds::zero();
    }

private:
    static constexpr std::chrono::microseconds spin_for{100};
    static constexpr std::chrono::microseconds longest_pause{1000};
    bool m_spinning = false;
    std::chrono::steady_clock::time_point m_spin_started{};
    std::chrono::microseconds m_pause{0};
};

/// A message found by `mpi_poll`: its bytes, sender and tag.
struct mpi_message {
    std::vector<std::byte> bytes;
    int source = 0;
    int tag = 0;
};

/// Receives one message from `source` (or MPI_ANY_SOURCE) on `comm` if one
/// has arrived; false otherwise. Matched probe and receive (MPI-3), so the
/// message found is the one received.
[[nodiscard]] inline bool mpi_poll(MPI_Comm comm, int source, mpi_message& out) {
    int found = 0;
    MPI_Message handle = MPI_MESSAGE_NULL;
    MPI_Status status;
    mpi_check(MPI_Improbe(source, MPI_ANY_TAG, comm, &found, &handle, &status), "MPI_Improbe");
    if (found == 0) return false;
    int count = 0;
    mpi_check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    out.bytes.resize(integer_cast<std::size_t>(count));
    mpi_check(MPI_Mrecv(out.bytes.data(), count, MPI_BYTE, &handle, MPI_STATUS_IGNORE),
              "MPI_Mrecv");
    out.source = status.MPI_SOURCE;
    out.tag = status.MPI_TAG;
    return true;
}

} // namespace unblock::detail
