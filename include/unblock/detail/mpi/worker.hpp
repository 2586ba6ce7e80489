/// \file detail/mpi/worker.hpp
/// A serving rank of an `mpi_pool_executor`: receives call frames from rank 0,
/// runs each with the process pool's worker code (detail/process/worker.hpp),
/// sends the answer back, until rank 0 says exit.
#pragma once

#include "../process/thunk.hpp"
#include "../process/wire.hpp"
#include "../process/worker.hpp"
#include "transport.hpp"

#include <cstddef>
#include <utility>

#include <mpi.h>

namespace unblock::detail {

/// The answer frame (ended) to the call frame in `message`: the result, the
/// exception, or a `serialization_error` for bytes that are not a call frame.
[[nodiscard]] inline byte_writer mpi_answer(std::vector<std::byte> message) {
    std::uint64_t length = 0;
    if (message.size() < process_header_bytes || !process_parse_header(message.data(), length) ||
        length != message.size() - process_header_bytes) {
        byte_writer frame;
        try {
            throw serialization_error("unblock::mpi_pool_executor: a worker received a message "
                                      "that is not a call frame; are all ranks running the same "
                                      "program and unblock version?");
        } catch (...) {
            process_worker_exception_frame(frame);
        }
        process_end_frame(frame);
        return frame;
    }
    process_request request;
    request.storage = std::move(message);
    request.reader = byte_reader(request.storage.data() + process_header_bytes,
                                 request.storage.size() - process_header_bytes);
    byte_writer frame = process_worker_answer(request, mpi_max_message - process_header_bytes);
    process_end_frame(frame);
    return frame;
}

/// Serves rank 0 of `comm` until it sends `mpi_tag_exit`. Throws `mpi_error`
/// if MPI fails.
inline void mpi_serve(MPI_Comm comm) {
    mpi_backoff backoff;
    mpi_message message;
    while (true) {
        if (!mpi_poll(comm, 0, message)) {
            std::this_thread::sleep_for(backoff.next());
            continue;
        }
        backoff.reset();
        if (message.tag == mpi_tag_exit) return;
        if (message.tag != mpi_tag_call) continue; // not ours to answer
        byte_writer frame = mpi_answer(std::move(message.bytes));
        process_worker_flush();
        mpi_check(MPI_Send(frame.buffer().data(), integer_cast<int>(frame.size()), MPI_BYTE, 0,
                           mpi_tag_answer, comm),
                  "MPI_Send");
    }
}

} // namespace unblock::detail
