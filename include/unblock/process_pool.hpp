/// \file process_pool.hpp
/// `process_pool_executor`: runs functions in pre-started worker processes,
/// like Python's `concurrent.futures.ProcessPoolExecutor`, with stronger
/// fault isolation: a worker that dies fails only its own call. Linux only
/// (it uses `pipe2`, `MSG_NOSIGNAL` and `close_range`).
///
/// ## How workers are started, and why
///
/// `fork()` copies only the calling thread. A process forked while another
/// thread holds a lock (a user's mutex, an allocator arena, a logger) inherits
/// that lock held forever, so forking workers at arbitrary moments of a
/// multi-threaded program — every replacement after a crash, every
/// `max_tasks_per_child` recycle — would eventually deadlock a worker.
///
/// The pool therefore forks exactly once, in its constructor, to start a
/// single-threaded *fork server* (detail/process/fork_server.hpp). The fork
/// server uses only async-signal-safe calls (no heap, no locks): it resets
/// every signal disposition to the default and empties the signal mask,
/// closes every inherited fd except stdin/stdout/stderr and its control
/// socket (so the pool never keeps a pipe, socket or file of the program
/// open), and then forks, kills and reaps workers on request. Every worker —
/// the first ones and all replacements — is a fork of that quiescent process,
/// so they all start from the same snapshot: the program as it was when the
/// pool was constructed, with default signal dispositions and an empty mask.
/// Workers are the fork server's children, so only it reaps them, and it
/// kills a pid only while it is still its unreaped child: a pid is never
/// signalled after it could have been reused.
///
/// Limits (the price of not exec'ing):
/// - The snapshot is taken at construction. The C library's own locks are
///   safe across that fork (glibc resets malloc arenas, stdio and the dynamic
///   loader's lock in the child), but a lock of *your* program that another
///   thread holds at that instant stays locked in every worker: a call that
///   takes it would hang. The same holds for an allocator that does not
///   handle fork (glibc malloc, jemalloc and tcmalloc do; the ASan allocator
///   of the GCC 12 / LLVM 14 runtimes does not). Construct pools early
///   (before starting threads that hold locks for long), or do not take such
///   locks in worker code.
/// - Workers see globals as they were at construction, not as they are now.
///   Use `initializer` or pass data as arguments.
/// - A function from a library `dlopen`ed after construction does not exist
///   in the workers; calling it crashes the worker (`worker_crashed_error`).
/// - stdout/stderr are flushed before the fork and after every call in a
///   worker, so output is neither lost nor printed twice.
/// `options::start_method = start_method::spawn` removes these limits (below).
///
/// ## The spawn start method
/// With `start_method::spawn` every worker is a fresh `exec` of the program's
/// own image (`/proc/self/exe`, started with `posix_spawn` from the pool's I/O
/// thread; detail/process/spawn.hpp), like Python's `spawn`: it runs the
/// program's static initializers and then `main`, which must hand it over at
/// once:
///
///     int main(int argc, char** argv) {
///         if (unblock::is_worker_process(argc, argv)) return unblock::worker_main();
///         ...
///     }
///
/// Why a line in `main` rather than a static initializer that takes over the
/// process before `main` (which would need no edit of `main`): a worker run
/// from a static initializer would call your functions while the globals of
/// the translation units initialized after it are not constructed yet (the
/// static initialization order problem), so any function touching such a
/// global could crash or misbehave, depending on link order. At the top of
/// `main` all static initialization is done, as in the parent.
/// Forgetting the line is detected: the worker then runs your `main` instead;
/// a spawn pool constructed there throws `std::logic_error`, and a worker that
/// exits before it is ready breaks the pool with a message naming the line.
/// (A `main` that neither builds a pool nor exits leaves calls waiting.)
///
/// Compared with the fork server: a worker sees no lock held by the parent's
/// threads, sees globals as a fresh start of the program does (use
/// `initializer` or arguments for state), has every library the program links,
/// and gets the environment as it was at construction. Starting one costs an
/// exec and the program's start-up (milliseconds, not microseconds); calls then
/// cost the same. Do not build a spawn pool in a static initializer (its
/// workers run static initializers too), and do not reap children the program
/// did not start (`waitpid(-1)`, SIGCHLD ignored): the pool reaps its workers.
///
/// ## What crosses the boundary
/// The callable must be a function pointer or a capture-less lambda: it is
/// sent as its offset from the load address of its module (the executable, or
/// a shared library by path), valid in every process running the same image
/// whatever the address layout, and checked on arrival
/// (detail/code_address.hpp): an offset that is not code of that
/// module, or an entry point the image did not register, fails the call with
/// `serialization_error` and is never jumped to.
/// Arguments and the result go through `codec<T>` (codec.hpp); anything else
/// is a compile-time error that says what to do. Arguments are converted to
/// the parameters' value types, encoded in the calling thread, and decoded in
/// the worker; the result is decoded on the pool's I/O thread.
///
/// ## Errors
/// - Exceptions of the standard classes of `<stdexcept>`/`<new>` (and
///   `std::exception`, `serialization_error`) arrive as the same type with the
///   same `what()`; any other exception as `remote_error` naming the type.
/// - A worker that dies (signal, `exit`, `abort`) while running a call fails
///   that call with `worker_crashed_error` ("exit code N" / "signal N
///   (SIGNAME)"), also when a process it forked still holds its channel; the
///   pool starts a replacement and carries on. A replacement that cannot
///   start yet (EAGAIN, EMFILE) is retried with back-off; the pool breaks
///   only when it has no worker left and starting one keeps failing.
/// - Codec failures: `serialization_error` (encode in the caller: thrown by
///   `start()`, stored in the future by `submit()`; decode in the worker,
///   encode of the result in the worker, decode of the result: stored).
///   Running out of memory while encoding is `std::bad_alloc`, not a codec
///   failure. A call or result over `options::max_frame_bytes` (default
///   1 GiB) is a `serialization_error`.
/// - A worker that breaks the protocol (writes into its answer pipe to the
///   pool, which it inherited) is killed by the pool and replaced; its call fails with
///   `worker_crashed_error` saying why. The pool keeps working.
/// - An `initializer` that throws or exits breaks the pool: queued and
///   running calls fail with `broken_executor_error`, and so does every later
///   `start()`/`submit()` (thrown).
///
/// ## Shutdown contract
/// `shutdown(wait, cancel_futures)` stops accepting work (`start`/`submit`
/// then throw `executor_shutdown_error`). Queued calls still run unless
/// `cancel_futures`, which completes them with `cancelled_error` before
/// `shutdown` returns. With `wait`, it returns once every call finished and
/// all worker processes and the fork server are reaped (no zombies, no fds
/// left). Called from an `on_done` (on the pool's I/O thread) it does not
/// wait. The destructor calls `shutdown(true)`.
///
///     unblock::process_pool_executor pool(4);
///     std::future<double> f = pool.submit(&sum_of_roots, 50'000'000);
///     double r = f.get();
#pragma once

#include "codec.hpp"
#include "detail/process/call.hpp"
#include "detail/process/executor_api.hpp"
#include "detail/process/pool_core.hpp"
#include "detail/process/spawn.hpp"
#include "detail/process/thunk.hpp"
#include "detail/process/wire.hpp"
#include "errors.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace unblock {

template <class Result>
class future;

/// Whether this process was started as a worker of a `start_method::spawn`
/// pool (its argv and environment say so). Call it first thing in `main`:
///
///     if (unblock::is_worker_process(argc, argv)) return unblock::worker_main();
///
/// Cheap, and false in every other process.
[[nodiscard]] inline bool is_worker_process(int argc, char** argv) noexcept {
    return detail::process_is_worker(argc, argv);
}

/// Serves the pool that spawned this process until it is done with it, and
/// returns the exit code for `main` to return. Call only when
/// `is_worker_process` returned true (otherwise it prints why and returns 64).
[[nodiscard]] inline int worker_main() noexcept { return detail::process_spawned_worker_main(); }

/// A pool of worker processes that run functions and return their results.
///
/// Thread-safe: every member may be called from any thread. See the file
/// comment for how workers start, what may be sent, errors and shutdown.
class process_pool_executor : public detail::process_executor_api<process_pool_executor> {
public:
    /// Settings of a pool.
    struct options {
        /// Worker processes (at least 1). Default: hardware concurrency.
        std::size_t max_workers = std::max(1U, std::thread::hardware_concurrency());
        /// Calls a worker runs before it is replaced; 0 = unlimited.
        std::size_t max_tasks_per_child = 0;
        /// Run once in each worker before its first call; throwing or exiting
        /// breaks the pool.
        void (*initializer)() = nullptr;
        /// Largest encoded call or result, in bytes (at least 4096; smaller
        /// throws `std::invalid_argument`). A call whose arguments
        /// encode to more fails with `serialization_error` in the caller, a
        /// larger result with `serialization_error` from the worker; a worker
        /// announcing more is killed (`worker_crashed_error`). Bounds what a
        /// misbehaving worker can make the parent allocate.
        std::uint64_t max_frame_bytes = detail::process_default_max_frame;
        /// How workers start: forked from the fork server (default) or
        /// `exec`ed afresh (`spawn`: `main` must call `is_worker_process` first;
        /// see the file comment).
        unblock::start_method start_method = unblock::start_method::fork_server;
    };

    /// A pool with default options.
    explicit process_pool_executor() : process_pool_executor(options{}) {}

    /// A pool of `max_workers` workers.
    explicit process_pool_executor(std::size_t max_workers)
        : process_pool_executor(options{max_workers, 0, nullptr}) {}

    /// Starts the fork server (for `start_method::fork_server`) and the
    /// workers. Throws `std::invalid_argument` for `max_workers == 0` (or an
    /// initializer a spawned worker cannot find), `std::system_error` if the
    /// fork server cannot start, `broken_executor_error` if no worker can, and
    /// `std::logic_error` for a spawn-method pool built inside a spawned
    /// worker whose `main` did not call `is_worker_process`.
    explicit process_pool_executor(options opts)
        : m_options(validated(opts)),
          m_core(std::make_shared<detail::process_pool_core>(
              detail::process_pool_config{m_options.max_workers, m_options.max_tasks_per_child,
                                          m_options.initializer, m_options.max_frame_bytes,
                                          m_options.start_method})),
          m_thread([core = m_core] { core->run(); }),
          m_io_thread(m_thread.get_id()) {}

    process_pool_executor(const process_pool_executor&) = delete;
    process_pool_executor& operator=(const process_pool_executor&) = delete;

    /// Shuts down and waits (see the shutdown contract).
    ~process_pool_executor() {
        shutdown(true);
        std::lock_guard lock(m_join_mutex);
        if (m_thread.joinable()) {
            m_thread.detach(); // destroyed from inside on_done: the thread ends by itself
        }
    }

    /// Stops accepting work; see the shutdown contract in the file comment.
    void shutdown(bool wait = true, bool cancel_futures = false) {
        m_core->shutdown(cancel_futures);
        if (wait && std::this_thread::get_id() != m_io_thread) { // never join itself
            std::lock_guard lock(m_join_mutex);
            if (m_thread.joinable()) {
                m_thread.join();
            }
        }
    }

    /// A snapshot of workers, queue and counters.
    [[nodiscard]] process_pool_stats stats() const { return m_core->stats(); }

    /// The options the pool was built with.
    [[nodiscard]] const options& settings() const noexcept { return m_options; }

private:
    static options validated(options opts) {
        if (opts.max_workers == 0) {
            throw std::invalid_argument(
                "unblock::process_pool_executor: max_workers must be at least 1");
        }
        if (opts.max_frame_bytes < min_frame_bytes) {
            throw std::invalid_argument("unblock::process_pool_executor: max_frame_bytes must be "
                                        "at least 4096 (room for an error report)");
        }
        return opts;
    }

    /// Smallest `max_frame_bytes`: a worker's error reports must fit.
    static constexpr std::uint64_t min_frame_bytes = 4096;

    friend class detail::process_executor_api<process_pool_executor>;

    static constexpr const char* executor_name = "unblock::process_pool_executor";

    options m_options;
    std::shared_ptr<detail::process_pool_core> m_core;
    std::thread m_thread;
    const std::thread::id m_io_thread; ///< m_thread's id, readable without racing a join
    std::mutex m_join_mutex;           ///< serializes join/detach of m_thread
};

} // namespace unblock

#include "detail/process/offload.hpp"
