/// \file mpi.hpp
/// `mpi_pool_executor`: an executor whose workers are MPI processes, on this
/// machine or many — what `mpi4py.futures.MPIPoolExecutor` is to
/// `concurrent.futures`. Optional: needs an MPI implementation (Debian:
/// `libopenmpi-dev openmpi-bin`) and the CMake target `unblock::mpi`; the
/// rest of the library never needs MPI.
///
/// ## Shape of a program
/// Every rank runs the same program. `main` makes the environment first and
/// lets the serving ranks serve:
///
///     int main(int argc, char** argv) {
///         unblock::mpi_environment mpi(argc, argv);
///         if (mpi.is_worker()) return mpi.serve();
///         unblock::mpi_pool_executor pool(mpi);          // the job's other ranks
///         return unblock::run(main_task(pool));          // co_await run_in_executor(pool, f, x)
///     }
///
/// Run it with `mpirun -np 5 ./program` (rank 0 runs the loop, ranks 1-4
/// serve: `python -m mpi4py.futures`'s model), or start one process and let
/// the executor start its workers with MPI_Comm_spawn:
/// `mpi_pool_executor pool(mpi, {.spawn_workers = 4})` (`MPIPoolExecutor(max_workers=4)`'s
/// model; the spawned processes run this program's image, found through
/// /proc/self/exe, with the same arguments, and enter `serve()` the same way).
///
/// ## Contract: the process pool's
/// What may be sent, how it is checked, `codec<T>` for arguments and results,
/// and the exception mapping (standard exception types arrive as themselves,
/// others as `remote_error`) are those of `process_pool_executor`
/// (process_pool.hpp): a call is the same frame, run by the same worker code.
/// Function identity survives different load addresses on different
/// machines (an offset from the image base, validated on arrival), so every
/// rank must run the same binary.
/// `run_in_executor(pool, f, args...)`, `submit`, `map` (blocking) and
/// `co_await unblock::map(pool, ...)` work as they do for a process pool.
///
/// ## Threads
/// In rank 0 one I/O thread does every MPI call while the executor lives
/// (detail/mpi/pool_core.hpp), so MPI_THREAD_SERIALIZED suffices (the
/// environment asks for it). Do not call MPI yourself in rank 0 meanwhile
/// unless the MPI provides MPI_THREAD_MULTIPLE. Completions reach the loop
/// through its inbox like every executor's. One executor at a time uses the
/// job's ranks (a second one throws `invalid_state_error`); after it is shut
/// down, the next one may use them again.
///
/// ## Cancellation and failure
/// - A queued call is withdrawn (`cancelled_error`). A running call cannot
///   be stopped — killing a rank ends the MPI job — so cancelling it is "too
///   late", as concurrent.futures' `Future.cancel()` says for a running
///   call: the awaiting coroutine gets the result when it arrives, or, with
///   `abandon_on_cancel`-style code of your own, drops it.
/// - A rank that dies (crash, `exit`, `abort`): Open MPI 4.1 aborts the
///   whole job by default (mpirun reports the rank and kills the others), so
///   rank 0 ends too; nothing hangs. The process pool's isolation of crashes
///   is not available over MPI without fault-tolerant extensions (ULFM).
/// - An MPI call that fails in rank 0 breaks the executor: every queued and
///   running call fails with `broken_executor_error` naming the MPI error,
///   and later calls throw it.
///
/// ## Shutdown
/// `shutdown(wait, cancel_futures)` as the process pool's. Afterwards spawned
/// workers are told to exit and disconnected; the job's own ranks serve on
/// until the environment ends (its destructor in rank 0 tells them to exit,
/// then every rank finalizes MPI).
#pragma once

#include "codec.hpp"
#include "detail/mpi/pool_core.hpp"
#include "detail/mpi/transport.hpp"
#include "detail/mpi/worker.hpp"
#include "detail/process/call.hpp"
#include "detail/process/executor_api.hpp"
#include "detail/process/wire.hpp"
#include "errors.hpp"

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <mpi.h>
#include <unistd.h>

namespace unblock {

class mpi_pool_executor;

/// MPI for the lifetime of this object: initialises it (asking for
/// MPI_THREAD_SERIALIZED) unless the program already did, and finalizes what
/// it initialised. Construct it first thing in `main`, on every rank, before
/// any other MPI use: its constructor is collective (it duplicates
/// MPI_COMM_WORLD).
class mpi_environment {
public:
    /// Throws `mpi_error` if MPI cannot start, `std::runtime_error` if the MPI
    /// offers less than MPI_THREAD_SERIALIZED.
    mpi_environment(int& argc, char**& argv) {
        int initialised = 0;
        detail::mpi_check(MPI_Initialized(&initialised), "MPI_Initialized");
        int provided = MPI_THREAD_SINGLE;
        if (initialised == 0) {
            detail::mpi_check(MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided),
                              "MPI_Init_thread");
            m_owns_mpi = true;
        } else {
            detail::mpi_check(MPI_Query_thread(&provided), "MPI_Query_thread");
        }
        if (provided < MPI_THREAD_SERIALIZED) {
            finalize();
            throw std::runtime_error(
                "unblock::mpi_environment: this MPI provides less than MPI_THREAD_SERIALIZED; "
                "mpi_pool_executor calls MPI from its I/O thread. Use an MPI built with thread "
                "support (Open MPI and MPICH are), or initialise MPI with "
                "MPI_THREAD_SERIALIZED yourself");
        }
        for (int i = 1; i < argc; ++i)
            m_arguments.emplace_back(argv[i]);
        detail::mpi_check(MPI_Comm_rank(MPI_COMM_WORLD, &m_rank), "MPI_Comm_rank");
        detail::mpi_check(MPI_Comm_size(MPI_COMM_WORLD, &m_size), "MPI_Comm_size");
        detail::mpi_check(MPI_Comm_get_parent(&m_parent), "MPI_Comm_get_parent");
        m_spawned = m_parent != MPI_COMM_NULL;
        // The executor's traffic gets a communicator of its own; errors come back as codes.
        detail::mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &m_world), "MPI_Comm_dup");
        detail::mpi_check(MPI_Comm_set_errhandler(m_world, MPI_ERRORS_RETURN),
                          "MPI_Comm_set_errhandler");
        if (m_parent != MPI_COMM_NULL) {
            detail::mpi_check(MPI_Comm_set_errhandler(m_parent, MPI_ERRORS_RETURN),
                              "MPI_Comm_set_errhandler");
        }
    }

    mpi_environment(const mpi_environment&) = delete;
    mpi_environment& operator=(const mpi_environment&) = delete;

    /// In rank 0 of the job: tells the serving ranks to exit. Then frees the
    /// communicator and finalizes MPI if this object initialised it.
    ~mpi_environment() {
        if (m_executors_alive != 0) {
            std::fputs("unblock::mpi_environment: destroyed while an mpi_pool_executor using it "
                       "is alive; declare the executor after the environment\n",
                       stderr);
        }
        if (!is_worker()) release_world_workers();
        MPI_Comm_free(&m_world);
        finalize();
    }

    /// True on a rank that should serve instead of running the program: a
    /// rank other than 0 of the job, or a process started by MPI_Comm_spawn.
    [[nodiscard]] bool is_worker() const noexcept { return m_spawned || m_rank != 0; }

    /// Serves calls from rank 0 (or the spawning process) until it is done
    /// with this rank; returns the exit code for `main` (0, or 1 after an MPI
    /// failure, which it prints). Only on a worker (`is_worker()`); on rank 0
    /// it throws `std::logic_error`.
    [[nodiscard]] int serve() {
        if (!is_worker()) {
            throw std::logic_error("unblock::mpi_environment::serve: rank 0 runs the program and "
                                   "the executor; only ranks where is_worker() is true serve");
        }
        try {
            if (m_spawned) {
                if (m_parent == MPI_COMM_NULL) return 0; // served already
                detail::mpi_serve(m_parent);
                detail::mpi_check(MPI_Comm_disconnect(&m_parent), "MPI_Comm_disconnect");
            } else {
                detail::mpi_serve(m_world);
            }
            return 0;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "unblock: MPI worker rank %d stops: %s\n", m_rank, e.what());
            return 1;
        }
    }

    /// This process's rank in MPI_COMM_WORLD, and the number of ranks there.
    [[nodiscard]] int rank() const noexcept { return m_rank; }
    [[nodiscard]] int world_size() const noexcept { return m_size; }

private:
    friend class mpi_pool_executor;

    void release_world_workers() noexcept {
        if (m_world_released) return;
        m_world_released = true;
        for (int rank = 1; rank < m_size; ++rank)
            MPI_Send(nullptr, 0, MPI_BYTE, rank, detail::mpi_tag_exit, m_world);
    }

    void finalize() noexcept {
        if (!m_owns_mpi) return;
        m_owns_mpi = false;
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (finalized == 0) MPI_Finalize();
    }

    bool m_owns_mpi = false;
    int m_rank = 0;
    int m_size = 1;
    MPI_Comm m_world = MPI_COMM_NULL;  ///< a duplicate of MPI_COMM_WORLD
    MPI_Comm m_parent = MPI_COMM_NULL; ///< the spawning process, in a spawned worker
    bool m_spawned = false;            ///< started by MPI_Comm_spawn (stays true after serve())
    std::vector<std::string> m_arguments;
    std::mutex m_mutex;          ///< guards m_world_in_use between executors' threads
    bool m_world_in_use = false; ///< an executor serves on the job's ranks
    bool m_world_released = false;
    std::atomic<int> m_executors_alive{0}; ///< executors built on this environment, alive
};

/// An executor whose workers are MPI ranks; see the file comment.
/// Thread-safe: every member may be called from any thread of rank 0.
class mpi_pool_executor : public detail::process_executor_api<mpi_pool_executor> {
public:
    struct options {
        /// 0: the job's other ranks are the workers (`mpirun -np N`: N - 1).
        /// N > 0: start N new processes of this program with MPI_Comm_spawn.
        int spawn_workers = 0;
        /// Largest encoded call or result, in bytes: at least 4096, at most
        /// INT_MAX (an MPI message's count); `std::invalid_argument` otherwise.
        std::uint64_t max_frame_bytes = std::uint64_t{1} << 30;
    };

    explicit mpi_pool_executor(mpi_environment& mpi) : mpi_pool_executor(mpi, options{}) {}

    /// Throws `std::invalid_argument` for bad options or a job with no other
    /// rank (and no `spawn_workers`), `std::logic_error` on a worker rank,
    /// `invalid_state_error` if another executor uses the job's ranks, and
    /// `mpi_error` if spawning fails.
    mpi_pool_executor(mpi_environment& mpi, options opts)
        : m_mpi(mpi), m_options(validated(mpi, opts)) {
        detail::mpi_pool_config config;
        config.max_frame = m_options.max_frame_bytes;
        if (m_options.spawn_workers > 0) {
            m_spawned = spawn(m_options.spawn_workers);
            config.comm = m_spawned;
            config.first_worker = 0;
            config.workers = m_options.spawn_workers;
        } else {
            std::lock_guard lock(mpi.m_mutex);
            if (mpi.m_world_in_use) {
                throw invalid_state_error(
                    "unblock::mpi_pool_executor: another executor already uses this job's ranks; "
                    "shut it down first, or give this one spawn_workers");
            }
            mpi.m_world_in_use = true;
            config.comm = mpi.m_world;
            config.first_worker = 1;
            config.workers = mpi.m_size - 1;
        }
        m_workers = config.workers;
        m_core = std::make_shared<detail::mpi_pool_core>(config);
        ++mpi.m_executors_alive;
        m_thread = std::thread([core = m_core] { core->run(); });
        m_io_thread = m_thread.get_id();
    }

    mpi_pool_executor(const mpi_pool_executor&) = delete;
    mpi_pool_executor& operator=(const mpi_pool_executor&) = delete;

    /// Shuts down and waits (see the file comment).
    ~mpi_pool_executor() {
        shutdown(true);
        std::lock_guard lock(m_join_mutex);
        if (m_thread.joinable()) {
            if (std::this_thread::get_id() == m_io_thread) {
                m_thread.detach(); // destroyed inside on_done: the thread ends by itself
            } else {
                m_thread.join(); // shut down without waiting earlier: wait now
                release_workers();
            }
        }
        --m_mpi.m_executors_alive;
    }

    /// Stops accepting work; queued calls still run unless `cancel_futures`.
    /// With `wait`, returns once every call finished and spawned workers are
    /// gone. Called from an `on_done` (on the I/O thread) it does not wait.
    void shutdown(bool wait = true, bool cancel_futures = false) {
        m_core->shutdown(cancel_futures);
        if (wait && std::this_thread::get_id() != m_io_thread) {
            std::lock_guard lock(m_join_mutex);
            if (m_thread.joinable()) {
                m_thread.join();
                release_workers();
            }
        }
    }

    /// Number of worker ranks.
    [[nodiscard]] int workers() const noexcept { return m_workers; }

    /// Calls queued, running on a rank, and answered so far.
    [[nodiscard]] mpi_pool_stats stats() const { return m_core->stats(); }

    /// The options the executor was built with.
    [[nodiscard]] const options& settings() const noexcept { return m_options; }

private:
    friend class detail::process_executor_api<mpi_pool_executor>;

    static options validated(const mpi_environment& mpi, options opts) {
        if (mpi.is_worker()) {
            throw std::logic_error("unblock::mpi_pool_executor: built on a worker rank; start "
                                   "main with `if (mpi.is_worker()) return mpi.serve();`");
        }
        if (opts.spawn_workers < 0) {
            throw std::invalid_argument("unblock::mpi_pool_executor: spawn_workers must be 0 (use "
                                        "the job's ranks) or the number of ranks to start");
        }
        if (opts.spawn_workers == 0 && mpi.m_size < 2) {
            throw std::invalid_argument(
                "unblock::mpi_pool_executor: this MPI job has one rank, so no worker; start it "
                "with `mpirun -np N` (N >= 2), or set options::spawn_workers");
        }
        if (opts.max_frame_bytes < 4096 || opts.max_frame_bytes > detail::mpi_max_message) {
            throw std::invalid_argument("unblock::mpi_pool_executor: max_frame_bytes must be at "
                                        "least 4096 and at most INT_MAX (an MPI message's count)");
        }
        return opts;
    }

    /// Starts `count` processes of this program; returns the intercommunicator.
    MPI_Comm spawn(int count) {
        char path[4096];
        const ssize_t length = ::readlink("/proc/self/exe", path, sizeof path - 1);
        if (length <= 0) {
            throw std::runtime_error(
                "unblock::mpi_pool_executor: cannot read /proc/self/exe to spawn workers");
        }
        path[length] = '\0';
        std::vector<char*> arguments;
        for (std::string& argument : m_mpi.m_arguments)
            arguments.push_back(argument.data());
        arguments.push_back(nullptr);
        std::vector<int> codes(static_cast<std::size_t>(count));
        MPI_Comm children = MPI_COMM_NULL;
        // A failed spawn must come back as an error, not abort the job:
        // MPI_COMM_SELF's handler is MPI_ERRORS_ARE_FATAL until changed.
        MPI_Errhandler previous = MPI_ERRHANDLER_NULL;
        detail::mpi_check(MPI_Comm_get_errhandler(MPI_COMM_SELF, &previous),
                          "MPI_Comm_get_errhandler");
        MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
        const int spawned = MPI_Comm_spawn(path, arguments.data(), count, MPI_INFO_NULL, 0,
                                           MPI_COMM_SELF, &children, codes.data());
        MPI_Comm_set_errhandler(MPI_COMM_SELF, previous);
        MPI_Errhandler_free(&previous);
        detail::mpi_check(spawned,
                          "MPI_Comm_spawn (with Open MPI, more workers than cores need "
                          "`mpirun --oversubscribe` or OMPI_MCA_rmaps_base_oversubscribe=1)");
        detail::mpi_check(MPI_Comm_set_errhandler(children, MPI_ERRORS_RETURN),
                          "MPI_Comm_set_errhandler");
        return children;
    }

    /// After the I/O thread ended: spawned workers exit and disconnect; the
    /// job's ranks become free for the next executor.
    void release_workers() noexcept {
        if (m_spawned != MPI_COMM_NULL) {
            for (int rank = 0; rank < m_workers; ++rank)
                MPI_Send(nullptr, 0, MPI_BYTE, rank, detail::mpi_tag_exit, m_spawned);
            MPI_Comm_disconnect(&m_spawned);
        } else {
            std::lock_guard lock(m_mpi.m_mutex);
            m_mpi.m_world_in_use = false;
        }
    }

    static constexpr const char* executor_name = "unblock::mpi_pool_executor";

    mpi_environment& m_mpi;
    options m_options;
    MPI_Comm m_spawned = MPI_COMM_NULL;
    int m_workers = 0;
    std::shared_ptr<detail::mpi_pool_core> m_core;
    std::thread m_thread;
    std::thread::id m_io_thread; ///< m_thread's id, readable without racing a join
    std::mutex m_join_mutex;     ///< serializes join of m_thread
};

} // namespace unblock

#include "detail/process/offload.hpp"
