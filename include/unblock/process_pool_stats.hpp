/// \file process_pool_stats.hpp
/// The settings and the activity snapshot of a process pool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace unblock {

/// How a process pool starts its workers (`process_pool_executor::options`).
enum class start_method {
    /// Forked from a single-threaded fork server that the pool forks once, at
    /// construction: fast to start, but workers see the program as it was then.
    fork_server,
    /// A fresh `exec` of the program's own image, entered through
    /// `unblock::is_worker_process` / `unblock::worker_main` at the top of `main`.
    spawn,
};

/// A snapshot of a process pool's activity (`process_pool_executor::stats()`).
struct process_pool_stats {
    std::size_t workers = 0;   ///< worker processes alive (starting or ready)
    std::size_t idle = 0;      ///< ready workers without a call
    std::size_t queued = 0;    ///< calls waiting for a worker
    std::size_t running = 0;   ///< calls assigned to a worker
    std::size_t completed = 0; ///< calls that returned or threw in a worker
    /// Of `completed`, answers the awaiting loop read from the worker itself
    /// while it spun for them (the pool's I/O thread read the others).
    std::size_t read_by_loop = 0;
    std::size_t crashed = 0;      ///< workers that died without being asked to
    std::vector<int> worker_pids; ///< pids of the live workers
};

} // namespace unblock

namespace unblock::detail {

/// Settings of a `process_pool_core`.
struct process_pool_config {
    std::size_t max_workers = 1;
    std::size_t max_tasks_per_child = 0;
    void (*initializer)() = nullptr;
    std::uint64_t max_frame_bytes = std::uint64_t{1} << 30; ///< see options::max_frame_bytes
    start_method method = start_method::fork_server;
};

} // namespace unblock::detail
