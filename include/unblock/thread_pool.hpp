/// \file thread_pool.hpp
/// `thread_pool_executor`: the pool `to_thread` and `run_in_executor` run blocking calls on.
///
/// Design (why a round trip costs well under the ~23 µs of a sleep/wake pair):
/// - The queue is an intrusive doubly-linked list under one mutex. The node is
///   the awaiter in the coroutine frame, so submitting allocates nothing, and
///   a queued item can be withdrawn in O(1) when its task is cancelled.
/// - An idle worker first spins for `options::idle_spin` (default 50 µs)
///   watching an atomic queue length, then sleeps on a condition variable. At
///   most one worker spins at a time, so an idle pool burns at most one core
///   for 50 µs after its last job and nothing after that. On a busy machine,
///   where the spinner would take the core the submitter needs, it sleeps at
///   once instead (detail::spin_advisor measures which way waits are shorter).
/// - The loop hands over everything its tasks submitted with `to_thread` in one
///   iteration under a single lock (`post_batch`), so a burst of 100,000
///   offloads costs one lock on the loop side, not 100,000 contended ones.
/// - Every idle worker (being created, spinning, sleeping, or finishing: its
///   call returned and its item reported `work_done()` before handing the
///   result back) will take one item; threads start only for the rest, and a
///   sleeper is woken only when the queue holds more work than the awake ones
///   will take. So back-to-back `submit().get()` reuse one thread.
/// - The completion goes back through the loop's lock-free inbox, and the loop
///   spins briefly before parking while offloaded work is in flight (see
///   event_loop), so a quick call returns without either thread sleeping.
/// - Threads start lazily, one when work is queued and no idle worker will
///   take it, up to `max_workers`; a worker idle for `idle_timeout` exits
///   (`clock::duration::max()`: never). The submitter reserves them under the
///   lock and creates them after unlocking, so the first ones run work while
///   later ones are still being created. If the system refuses a thread, the
///   pool's existing threads run the work; with none, the submission throws
///   `std::system_error` naming the pool and what to do.
///
/// Locks and calls out:
/// - One mutex per pool guards its queue and counts. Lock order: the fork
///   registry's mutex (detail::thread_pool_registry, taken only by pool
///   construction/destruction and the fork handlers), then a pool's mutex. No
///   lock of unblock's or of user code is taken while holding a pool's mutex
///   (only the C library's own, e.g. malloc's).
/// - Nothing calls out while holding the pool's mutex: user callables, the
///   initializer, completions (setting a promise, posting to a loop's inbox,
///   an item's run or abandon function), thread creation and joining all run
///   after unlocking. So a callable may submit to, query or shut down its
///   own pool, and a completion may resume code that does.
///
/// fork(): a pool copied into a child process (a process pool's worker using
/// a global pool, a plain fork()) has none of the parent's threads. Fork
/// handlers take every pool's mutex around fork() and reset the child's copy
/// to no threads and an empty queue (queued work is the parent's, which runs
/// it); the child's next submission starts fresh threads. A child forked
/// inside a pool's call must exec() or _exit(): returning into the pool ends
/// it with a message.
///
/// Shutdown contract:
/// - `shutdown(wait, cancel_futures)` may be called from any thread, more than
///   once, concurrently with submissions, and from one of the pool's own
///   workers (which then waits for every worker but itself).
/// - Work queued before shutdown still runs, unless `cancel_futures` is true:
///   then it is abandoned and its awaiter gets `cancelled_error`.
/// - Work submitted after shutdown throws `executor_shutdown_error`.
/// - The destructor is `shutdown(true)`. Workers hold the pool's state, so even
///   destroying the pool from its own worker is safe.
/// - An initializer that throws breaks the pool: queued and later work fails
///   with `broken_executor_error`.
#pragma once

#include "detail/deadline.hpp"
#include "detail/spin.hpp"
#include "detail/threads/work_item.hpp"
#include "errors.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define UNBLOCK_DETAIL_HAS_FORK 1
#endif

namespace unblock {

namespace detail {

/// What the workers of one pool share; outlives the executor object while a worker runs.
/// It is the work_done_hook its workers install around each item.
class thread_pool_state : public work_done_hook {
public:
    /// Registers the pool for fork handling (see thread_pool_registry).
    thread_pool_state();
    ~thread_pool_state();
    thread_pool_state(const thread_pool_state&) = delete;
    thread_pool_state& operator=(const thread_pool_state&) = delete;

    /// One started thread. Kept in a std::list: the worker keeps a pointer to
    /// its record, and splicing a record in never throws once the thread runs.
    struct worker {
        std::thread thread;
        bool exited = false; // guarded by m_mutex: set as the thread's last use of the state
    };

    std::mutex m_mutex;
    std::condition_variable m_work_available;
    /// Notified when a worker exits and when the last thread start in progress
    /// ends; shutdown(wait) waits on it.
    std::condition_variable m_worker_exited;
    work_queue m_queue;          // guarded by m_mutex
    std::list<worker> m_workers; // started and not yet joined; guarded
    /// Live workers plus those being created; guarded.
    std::size_t m_threads = 0;
    /// Workers not running an item (being created, spinning, sleeping); guarded.
    std::size_t m_idle = 0;
    /// Threads reserved under the mutex and being created outside it; guarded.
    std::size_t m_starting = 0;
    std::size_t m_start_failures = 0; // threads that could not be created; guarded
    /// Workers whose item reported work_done() and that have not yet taken
    /// the mutex to count themselves in m_idle: they take work like idle ones.
    /// Incremented outside the mutex, decremented under it. relaxed: a caller
    /// that received the item's result (a release/acquire handover that
    /// follows the increment) and then submits sees the increment by
    /// happens-before; a genuinely concurrent submit may miss it and at worst
    /// starts a thread, as it would have without this count.
    std::atomic<std::size_t> m_finishing{0};
    std::size_t m_sleeping = 0;   // guarded
    bool m_spinning = false;      // guarded
    bool m_shutdown = false;      // guarded
    std::exception_ptr m_broken;  // guarded: set when an initializer threw
    std::size_t m_next_index = 0; // guarded

    /// Queue length for the spinner. relaxed: a hint only; the item itself is
    /// taken under the mutex, which orders its contents.
    std::atomic<std::size_t> m_queued_hint{0};
    /// Set once the pool accepts no more work (shutdown or broken), so the
    /// loop can refuse work without taking the mutex. relaxed: a hint; post()
    /// re-checks under the mutex.
    std::atomic<bool> m_closed_hint{false};
    /// Calls that returned, except those still counted in m_finishing; guarded.
    std::size_t m_completed = 0;

    std::size_t m_max_workers = 1;
    std::size_t m_min_workers = 0; ///< kept alive through idle_timeout
    std::string m_name_prefix;
    std::function<void()> m_initializer;
    std::chrono::steady_clock::duration m_idle_timeout{};
    std::chrono::steady_clock::duration m_idle_spin{};
    detail::spin_advisor m_spin_advisor{{}}; ///< whether the idle worker spins; guarded

    /// Workers that will take an item without being woken or started. Mutex held.
    [[nodiscard]] std::size_t available_workers() const noexcept {
        return m_idle + m_finishing.load(std::memory_order_relaxed);
    }

    /// Links of thread_pool_registry's list; guarded by its mutex.
    thread_pool_state* m_registry_prev = nullptr;
    thread_pool_state* m_registry_next = nullptr;

    /// In a fork()ed child (mutex held, the only thread): the parent's threads
    /// and the parent's queued work were not copied into this process.
    void forget_parent_threads(std::list<worker>& forked_away) noexcept;

private:
    static void on_work_done(work_done_hook* hook) noexcept {
        auto* self = static_cast<thread_pool_state*>(hook);
        self->m_finishing.fetch_add(1, std::memory_order_relaxed); // see m_finishing
    }
};

/// The pool whose worker is running on this thread, if any.
constinit inline thread_local thread_pool_state* t_current_pool = nullptr;

/// Every live pool, for the fork handlers: fork() copies a pool's memory but
/// none of its threads, so the child would wait forever for workers it only
/// believes it has. Before a fork the handlers take every pool's mutex (so no
/// pool is copied half-updated); in the child they reset each pool to "no
/// threads, nothing queued", and its next submission starts fresh threads.
/// Lock order: the registry's mutex, then the pools' mutexes; pool code never
/// takes the registry's mutex while holding a pool's.
class thread_pool_registry {
public:
    /// The process's registry; created, with the fork handlers, on first use. Leaked on
    /// purpose: the handlers may run during static destruction.
    static thread_pool_registry& instance() {
        static thread_pool_registry* const registry = [] {
            auto* created = new thread_pool_registry;
#if defined(UNBLOCK_DETAIL_HAS_FORK)
            // Fails only without memory; the pools then work, just not across fork().
            (void)::pthread_atfork(&before_fork, &after_fork_in_parent, &after_fork_in_child);
#endif
            return created;
        }();
        return *registry;
    }

    void add(thread_pool_state* pool) noexcept {
        std::lock_guard lock(m_mutex);
        pool->m_registry_next = m_head;
        if (m_head) m_head->m_registry_prev = pool;
        m_head = pool;
    }

    void remove(thread_pool_state* pool) noexcept {
        std::lock_guard lock(m_mutex);
        if (pool->m_registry_prev) {
            pool->m_registry_prev->m_registry_next = pool->m_registry_next;
        } else {
            m_head = pool->m_registry_next;
        }
        if (pool->m_registry_next) pool->m_registry_next->m_registry_prev = pool->m_registry_prev;
    }

private:
    thread_pool_registry() = default;

    static void before_fork() noexcept {
        thread_pool_registry& r = instance();
        r.m_mutex.lock();
        for (thread_pool_state* pool = r.m_head; pool; pool = pool->m_registry_next)
            pool->m_mutex.lock();
    }

    static void after_fork_in_parent() noexcept {
        thread_pool_registry& r = instance();
        for (thread_pool_state* pool = r.m_head; pool; pool = pool->m_registry_next)
            pool->m_mutex.unlock();
        r.m_mutex.unlock();
    }

    static void after_fork_in_child() noexcept {
        thread_pool_registry& r = instance();
        for (thread_pool_state* pool = r.m_head; pool; pool = pool->m_registry_next) {
            pool->forget_parent_threads(r.m_forked_away);
            pool->m_mutex.unlock(); // this thread locked it in before_fork
        }
        r.m_mutex.unlock();
        // If fork() was called from a worker's item, this thread is no worker here.
        t_current_pool = nullptr;
        t_work_done = nullptr;
    }

    std::mutex m_mutex;
    thread_pool_state* m_head = nullptr; // guarded by m_mutex
    /// In a child: the records of the parent's threads. Never joined (their
    /// handles name threads of the parent, whose memory glibc may reuse for
    /// new threads here) and never destroyed (a joinable std::thread would
    /// terminate the process). guarded by m_mutex
    std::list<thread_pool_state::worker> m_forked_away;
};

inline thread_pool_state::thread_pool_state() : work_done_hook{&on_work_done} {
    thread_pool_registry::instance().add(this);
}

inline thread_pool_state::~thread_pool_state() { thread_pool_registry::instance().remove(this); }

inline void thread_pool_state::forget_parent_threads(std::list<worker>& forked_away) noexcept {
    forked_away.splice(forked_away.end(), m_workers);
    // Condition variables the parent's threads were waiting on: fresh ones
    // (destroying those would wait for waiters that do not exist here).
    std::construct_at(&m_work_available);
    std::construct_at(&m_worker_exited);
    // Queued items belong to the parent, which runs them; running them here
    // too would do the work twice. Unlinked, never run nor abandoned.
    while (m_queue.pop_front() != nullptr) {
    }
    m_queued_hint.store(0, std::memory_order_relaxed); // relaxed: the only thread
    m_finishing.store(0, std::memory_order_relaxed);
    m_threads = 0;
    m_idle = 0;
    m_starting = 0;
    m_sleeping = 0;
    m_spinning = false;
}

} // namespace detail

/// A pool of threads that run blocking callables (Python's ThreadPoolExecutor).
/// Thread-safe: every member may be called from any thread. See the file comment
/// for the design and the shutdown contract.
///
///     unblock::thread_pool_executor pool(4);
///     std::future<int> f = pool.submit([] { return 6 * 7; });
class thread_pool_executor {
public:
    using clock = std::chrono::steady_clock;

    /// min(32, hardware_concurrency + 4), as Python.
    [[nodiscard]] static std::size_t default_max_workers() noexcept {
        return std::min<std::size_t>(32, std::max(1u, std::thread::hardware_concurrency()) + 4);
    }

    struct options {
        std::size_t max_workers = default_max_workers();
        /// Threads started with the pool and kept while it lives (they never
        /// exit for idleness), so a first burst of blocking calls does not wait
        /// for threads to be created one by one (W3 cold: 64 threads cost the
        /// first round ~6-10 ms on a 2-core VM). Default 0: threads start lazily.
        std::size_t min_workers = 0;
        /// Threads are named prefix + "_" + index (visible in debuggers and top; truncated to 15
        /// bytes).
        std::string thread_name_prefix = "unblock";
        /// Runs first on every new worker thread; if it throws, the pool is broken.
        std::function<void()> initializer;
        /// A worker idle this long exits; a new one starts when work needs it.
        /// `clock::duration::max()` means never.
        clock::duration idle_timeout = std::chrono::seconds(60);
        /// How long an idle worker spins before it sleeps (at most one spins at a
        /// time, and none while spinning does not pay: detail::spin_advisor).
        clock::duration idle_spin = std::chrono::microseconds(50);
    };

    /// A snapshot of the pool.
    struct statistics {
        std::size_t threads = 0;   ///< live worker threads
        std::size_t idle = 0;      ///< workers waiting for work
        std::size_t queued = 0;    ///< items waiting for a worker
        std::size_t completed = 0; ///< items run to completion
        /// Threads the system refused to create (the work then ran on the
        /// pool's other threads, or the submission failed if it had none).
        std::size_t thread_start_failures = 0;
    };

    explicit thread_pool_executor(std::size_t max_workers)
        : thread_pool_executor(with_workers(max_workers)) {}
    thread_pool_executor() : thread_pool_executor(options{}) {}
    explicit thread_pool_executor(options settings)
        : m_state(std::make_shared<detail::thread_pool_state>()) {
        if (settings.max_workers == 0) {
            throw std::invalid_argument(
                "unblock::thread_pool_executor: max_workers must be at least 1");
        }
        if (settings.min_workers > settings.max_workers) {
            throw std::invalid_argument(
                "unblock::thread_pool_executor: min_workers (" +
                std::to_string(settings.min_workers) + ") exceeds max_workers (" +
                std::to_string(settings.max_workers) + "); lower min_workers or raise max_workers");
        }
        m_state->m_max_workers = settings.max_workers;
        m_state->m_min_workers = settings.min_workers;
        m_state->m_name_prefix = std::move(settings.thread_name_prefix);
        m_state->m_initializer = std::move(settings.initializer);
        m_state->m_idle_timeout = settings.idle_timeout;
        m_state->m_idle_spin = settings.idle_spin;
        m_state->m_spin_advisor = detail::spin_advisor(settings.idle_spin);
        if (settings.min_workers != 0) prestart(settings.min_workers);
    }
    thread_pool_executor(const thread_pool_executor&) = delete;
    thread_pool_executor& operator=(const thread_pool_executor&) = delete;
    ~thread_pool_executor() { shutdown(true); }

    /// Queues an intrusive item (what the library's awaiters use: no allocation).
    /// Throws `executor_shutdown_error` or `broken_executor_error`; or
    /// `std::system_error` if no thread could start and the pool has none (if
    /// it has some, they run the item). Nothing was queued when it throws.
    void post(detail::work_item* item);

    /// Queues every item of `items` under one lock (how the loop hands over
    /// what it submitted during one iteration). If the pool no longer accepts
    /// work, each item is abandoned with the reason instead; never throws.
    void post_batch(detail::work_queue& items) noexcept;

    /// Throws `executor_shutdown_error` or `broken_executor_error` if the pool
    /// accepts no more work. Cheap (one relaxed load) while it does.
    void throw_if_closed() const {
        if (!m_state->m_closed_hint.load(std::memory_order_relaxed)) return;
        std::lock_guard lock(m_state->m_mutex);
        if (m_state->m_broken) std::rethrow_exception(m_state->m_broken);
        if (m_state->m_shutdown) throw executor_shutdown_error();
    }

    /// Removes `item` if no worker has taken it yet; returns whether it did.
    /// The item's run and abandon functions are then never called.
    bool withdraw(detail::work_item* item) noexcept {
        std::lock_guard lock(m_state->m_mutex);
        const bool removed = m_state->m_queue.remove(item);
        if (removed)
            m_state->m_queued_hint.store(m_state->m_queue.size(), std::memory_order_relaxed);
        return removed;
    }

    /// Runs `f()` on a worker (the executor concept of run_in_executor). Allocates a node for `f`.
    template <class Function>
    void execute(Function&& f) {
        auto item =
            std::make_unique<function_item<std::decay_t<Function>>>(std::forward<Function>(f));
        post(item.get());
        (void)item.release(); // owned by the queue now: freed after it runs or is abandoned
    }

    /// Runs `f(args...)` on a worker; for code outside coroutines. Arguments
    /// are decay-copied. Work abandoned by shutdown(cancel_futures) or a broken
    /// pool makes the future throw `cancelled_error` / `broken_executor_error`.
    template <class Function, class... Args>
    auto submit(Function&& f, Args&&... args)
        -> std::future<std::invoke_result_t<std::decay_t<Function>, std::decay_t<Args>...>> {
        using result = std::invoke_result_t<std::decay_t<Function>, std::decay_t<Args>...>;
        auto call = [f = std::forward<Function>(f),
                     ... args = std::forward<Args>(args)]() mutable -> result {
            return std::invoke(std::move(f), std::move(args)...);
        };
        auto item = std::make_unique<submit_item<result, decltype(call)>>(std::move(call));
        std::future<result> future = item->m_promise.get_future();
        post(item.get());
        (void)item.release(); // owned by the queue now: freed after it runs or is abandoned
        return future;
    }

    /// Stops accepting work. With `cancel_futures`, queued work is abandoned
    /// (its awaiters get cancelled_error); otherwise it still runs. With `wait`,
    /// returns once every worker has exited (except the calling one, if it is a worker).
    void shutdown(bool wait = true, bool cancel_futures = false);

    [[nodiscard]] statistics stats() const {
        std::lock_guard lock(m_state->m_mutex);
        const detail::thread_pool_state& s = *m_state;
        // relaxed: see m_finishing (those workers' calls have returned).
        const std::size_t finishing = s.m_finishing.load(std::memory_order_relaxed);
        return {s.m_threads, s.m_idle + finishing, s.m_queue.size(), s.m_completed + finishing,
                s.m_start_failures};
    }

    [[nodiscard]] std::size_t max_workers() const noexcept { return m_state->m_max_workers; }

    /// True when called from one of this pool's worker threads.
    [[nodiscard]] bool running_in_this_pool() const noexcept {
        return detail::t_current_pool == m_state.get();
    }

private:
    template <class Function>
    struct function_item final : detail::work_item {
        explicit function_item(Function f) : work_item(&run, &abandon), m_function(std::move(f)) {}
        static void run(detail::work_item* item) noexcept {
            std::unique_ptr<function_item> self(static_cast<function_item*>(item));
            try {
                self->m_function();
            } catch (...) {
                // execute() callables must not throw (the executor contract); nothing can receive
                // it.
                std::terminate();
            }
            // Before `self` (and so a functor whose destructor completes, like
            // run_in_executor's) is destroyed.
            detail::work_done();
        }
        static void abandon(detail::work_item* item, std::exception_ptr) noexcept {
            delete static_cast<function_item*>(item);
        }
        Function m_function;
    };

    template <class Result, class Function>
    struct submit_item final : detail::work_item {
        explicit submit_item(Function f) : work_item(&run, &abandon), m_function(std::move(f)) {}
        static void run(detail::work_item* item) noexcept {
            std::unique_ptr<submit_item> self(static_cast<submit_item*>(item));
            // work_done() between the call and set_value, which wakes the caller.
            try {
                if constexpr (std::is_void_v<Result>) {
                    self->m_function();
                    detail::work_done();
                    self->m_promise.set_value();
                } else {
                    Result value = self->m_function();
                    detail::work_done();
                    self->m_promise.set_value(std::forward<Result>(value));
                }
            } catch (...) {
                detail::work_done();
                self->m_promise.set_exception(std::current_exception());
            }
        }
        static void abandon(detail::work_item* item, std::exception_ptr reason) noexcept {
            std::unique_ptr<submit_item> self(static_cast<submit_item*>(item));
            self->m_promise.set_exception(std::move(reason));
        }
        Function m_function;
        std::promise<Result> m_promise;
    };

    static options with_workers(std::size_t max_workers) {
        options settings;
        settings.max_workers = max_workers;
        return settings;
    }

    /// Threads a caller reserved under the mutex, to create after unlocking.
    struct thread_starts {
        std::size_t count = 0;
        std::size_t first_index = 0;
        std::list<detail::thread_pool_state::worker> reaped; // exited workers to join
    };

    /// Reserves threads for the items the idle workers will not take (up to
    /// max_workers) in `starts`, with the exited workers to join, and returns
    /// how many sleepers to wake. Mutex held.
    static std::size_t balance_workers(detail::thread_pool_state& s,
                                       thread_starts& starts) noexcept;
    /// Joins `starts.reaped`, then creates the `starts.count` threads. Mutex
    /// not held. If one cannot start, it and the rest are cancelled and the
    /// error returned; if the pool is then left with no thread at all, the
    /// queued items, which nothing would run, are moved to `stranded`.
    static std::exception_ptr start_threads(const std::shared_ptr<detail::thread_pool_state>& state,
                                            thread_starts& starts,
                                            detail::work_queue& stranded) noexcept;
    /// Queues all of `items` and wakes or starts the workers they need; if the
    /// pool refuses them (or no thread could start), leaves them (and any
    /// other queued items that nothing would run) in `items` and returns why.
    std::exception_ptr enqueue(detail::work_queue& items) noexcept;
    /// Starts `count` workers now (options::min_workers). Throws
    /// `std::system_error` if not even one could start.
    void prestart(std::size_t count);
    static void worker_main(std::shared_ptr<detail::thread_pool_state> state,
                            detail::thread_pool_state::worker* self, std::size_t index);
    static void abandon_all(detail::work_queue& queue, const std::exception_ptr& reason) noexcept;
    [[noreturn]] static void exit_forked_worker() noexcept;
    /// The exception being handled (a thread creation failed), with a message
    /// that names the pool and says what to do. Mutex held.
    static std::exception_ptr thread_start_error(const detail::thread_pool_state& s) noexcept;

    std::shared_ptr<detail::thread_pool_state> m_state;
};

// ---------------------------------------------------------------------------

inline void thread_pool_executor::post(detail::work_item* item) {
    detail::work_queue one;
    one.push_back(item);
    if (std::exception_ptr refused = enqueue(one)) {
        // `one` may also hold other callers' items that no thread would run.
        // And our item may be missing: a worker that has since exited took
        // it before the thread start failed; then it was accepted after all.
        const bool ours_stranded = one.remove(item);
        abandon_all(one, refused);
        if (ours_stranded) std::rethrow_exception(refused);
    }
}

inline void thread_pool_executor::post_batch(detail::work_queue& items) noexcept {
    if (std::exception_ptr refused = enqueue(items)) abandon_all(items, refused);
}

inline std::exception_ptr thread_pool_executor::enqueue(detail::work_queue& items) noexcept {
    detail::thread_pool_state& s = *m_state;
    std::shared_ptr<detail::thread_pool_state> keep_alive;
    std::size_t wake = 0;
    bool wake_all = false;
    thread_starts starts;
    {
        std::lock_guard lock(s.m_mutex);
        if (s.m_broken) return s.m_broken;
        if (s.m_shutdown) return std::make_exception_ptr(executor_shutdown_error());
        s.m_queue.splice_back(items);
        wake = balance_workers(s, starts);
        if (wake == 0 && starts.count == 0) return nullptr; // an idle, awake worker takes it
        wake_all = wake >= s.m_sleeping;
        // Notified after unlocking, so a woken worker can take the mutex at
        // once (W3 wakes 63: the first started ~200 µs late while the lock was
        // held through all of them). Once unlocked an item may already have run
        // and destroyed the executor, so the state is held alive.
        keep_alive = m_state;
    }
    if (wake_all && wake != 0) {
        keep_alive->m_work_available.notify_all(); // one futex call for all of them
    } else {
        for (std::size_t i = 0; i < wake; ++i)
            keep_alive->m_work_available.notify_one();
    }
    if (starts.count == 0) return nullptr;
    // Created after unlocking, one after another by this caller (~25-110 µs
    // each): the first workers take items while the later ones are created.
    // (Starting them from the new workers instead, as a tree, measured slower
    // on 2 cores: each creator first waits to be scheduled.)
    return start_threads(keep_alive, starts, items);
}

inline void thread_pool_executor::prestart(std::size_t count) {
    detail::thread_pool_state& s = *m_state;
    thread_starts starts;
    {
        std::lock_guard lock(s.m_mutex);
        starts.count = count;
        starts.first_index = s.m_next_index;
        s.m_next_index += count;
        s.m_threads += count;
        s.m_idle += count;
        s.m_starting += count;
    }
    detail::work_queue nothing_queued;
    // Fewer threads than asked (the system refused some) still make a working
    // pool, as when threads start lazily; none at all is an error.
    if (std::exception_ptr refused = start_threads(m_state, starts, nothing_queued))
        std::rethrow_exception(refused);
}

inline std::size_t thread_pool_executor::balance_workers(detail::thread_pool_state& s,
                                                         thread_starts& starts) noexcept {
    // After queueing. Every idle worker (being created, spinning, sleeping,
    // finishing) will take one item; reserve threads for the rest, up to
    // max_workers, and say how many sleepers must be woken.
    const std::size_t queued = s.m_queue.size();
    s.m_queued_hint.store(queued, std::memory_order_relaxed);
    const std::size_t available = s.available_workers();
    if (queued > available && s.m_threads < s.m_max_workers) {
        starts.count = std::min(queued - available, s.m_max_workers - s.m_threads);
        starts.first_index = s.m_next_index;
        s.m_next_index += starts.count;
        s.m_threads += starts.count;
        s.m_idle += starts.count; // each takes work as soon as it runs
        s.m_starting += starts.count;
        // Workers that exited after idling are joined by whoever starts threads,
        // outside the mutex.
        for (auto it = s.m_workers.begin(); it != s.m_workers.end();) {
            const auto next = std::next(it);
            if (it->exited) starts.reaped.splice(starts.reaped.end(), s.m_workers, it);
            it = next;
        }
    }
    // The spinner and the finishing workers take work without a wake-up.
    const std::size_t awake_takers =
        (s.m_spinning ? 1u : 0u) + s.m_finishing.load(std::memory_order_relaxed);
    return queued > awake_takers ? std::min(queued - awake_takers, s.m_sleeping) : 0;
}

inline std::exception_ptr
thread_pool_executor::start_threads(const std::shared_ptr<detail::thread_pool_state>& state,
                                    thread_starts& starts, detail::work_queue& stranded) noexcept {
    detail::thread_pool_state& s = *state;
    for (auto& exited : starts.reaped)
        exited.thread.join(); // it is past its last use of the state: returns at once
    starts.reaped.clear();
    for (std::size_t i = 0; i < starts.count; ++i) {
        try {
            std::list<detail::thread_pool_state::worker> record(1);
            record.front().thread =
                std::thread(&worker_main, state, &record.front(), starts.first_index + i);
            std::lock_guard lock(s.m_mutex);
            s.m_workers.splice(s.m_workers.end(), record);
            if (--s.m_starting == 0) s.m_worker_exited.notify_all(); // shutdown may wait for it
        } catch (...) {
            // Cancel this reservation and the rest of ours: the next
            // submission that needs a thread tries again.
            const std::size_t cancelled = starts.count - i;
            std::lock_guard lock(s.m_mutex);
            s.m_starting -= cancelled;
            s.m_threads -= cancelled;
            s.m_idle -= cancelled;
            if (s.m_starting == 0) s.m_worker_exited.notify_all();
            ++s.m_start_failures;
            if (s.m_threads != 0) {
                // The pool still has threads: they run the work, as in a pool
                // at max_workers. Wake them all, since the sleepers counted on
                // the threads that did not start.
                s.m_work_available.notify_all();
                return nullptr;
            }
            stranded.splice_back(s.m_queue);
            s.m_queued_hint.store(0, std::memory_order_relaxed);
            return thread_start_error(s);
        }
    }
    return nullptr;
}

inline void thread_pool_executor::worker_main(std::shared_ptr<detail::thread_pool_state> state,
                                              detail::thread_pool_state::worker* self,
                                              std::size_t index) {
    detail::thread_pool_state& s = *state;
    detail::t_current_pool = &s;
#if defined(__linux__)
    const std::string name = (s.m_name_prefix + "_" + std::to_string(index)).substr(0, 15);
    pthread_setname_np(pthread_self(), name.c_str());
#else
    (void)index;
#endif
    if (s.m_initializer) {
        try {
            s.m_initializer();
        } catch (...) {
            std::exception_ptr reason;
            try {
                std::rethrow_exception(std::current_exception());
            } catch (const std::exception& e) {
                reason = std::make_exception_ptr(broken_executor_error(
                    std::string("unblock: a thread_pool_executor initializer threw (") + e.what() +
                    "); the pool is broken and runs no more work; fix the initializer or create a new pool"));
            } catch (...) {
                reason = std::make_exception_ptr(broken_executor_error(
                    "unblock: a thread_pool_executor initializer threw; the pool is broken and runs no more work"));
            }
            detail::work_queue abandoned;
            {
                std::lock_guard lock(s.m_mutex);
                if (!s.m_broken) s.m_broken = reason;
                abandoned.splice_back(s.m_queue);
                s.m_queued_hint.store(0, std::memory_order_relaxed);
                s.m_closed_hint.store(true, std::memory_order_relaxed);
                --s.m_idle;
                --s.m_threads;
                self->exited = true;
                s.m_worker_exited.notify_all();
            }
            s.m_work_available.notify_all();
            abandon_all(abandoned, s.m_broken);
            return;
        }
        if (detail::t_current_pool != &s) exit_forked_worker();
    }

    std::unique_lock lock(s.m_mutex);
    for (;;) {
        if (detail::work_item* item = s.m_queue.pop_front()) {
            s.m_queued_hint.store(s.m_queue.size(), std::memory_order_relaxed);
            --s.m_idle;
            lock.unlock();
            detail::t_work_done = &s;
            item->m_run_work(item);
            if (detail::t_current_pool != &s) exit_forked_worker();
            // An item that did not report work_done() is counted now, late.
            const bool reported = detail::t_work_done == nullptr;
            detail::t_work_done = nullptr;
            lock.lock();
            // relaxed: see m_finishing; the mutex orders it with m_idle for readers.
            if (reported) s.m_finishing.fetch_sub(1, std::memory_order_relaxed);
            ++s.m_completed;
            ++s.m_idle;
            continue;
        }
        if (s.m_shutdown || s.m_broken) break;

        // One idle worker at a time waits the advised way (detail::spin_advisor):
        // spinning briefly while the next item usually arrives within
        // microseconds, sleeping at once while spinning does not pay.
        detail::wait_clock waited;
        bool advised = false;
        if (!s.m_spinning && s.m_idle_spin > clock::duration::zero()) {
            advised = true;
            const auto spin = s.m_spin_advisor.next_spin();
            if (spin > clock::duration::zero()) {
                s.m_spinning = true;
                lock.unlock();
                detail::spin_until(
                    [&s] { return s.m_queued_hint.load(std::memory_order_relaxed) != 0; }, spin,
                    waited);
                lock.lock();
                s.m_spinning = false;
                if (!s.m_queue.empty()) {
                    s.m_spin_advisor.record(waited.elapsed());
                    continue;
                }
                if (s.m_shutdown) continue;
            }
            (void)waited.start();
        }
        ++s.m_sleeping;
        const auto has_work = [&s] { return !s.m_queue.empty() || s.m_shutdown || s.m_broken; };
        // Saturated: idle_timeout = duration::max() means never (now + max would overflow).
        const auto deadline = detail::saturating_deadline(clock::now(), s.m_idle_timeout);
        bool woken = true;
        if (deadline == clock::time_point::max()) {
            s.m_work_available.wait(lock, has_work);
        } else {
            woken = s.m_work_available.wait_until(lock, deadline, has_work);
        }
        --s.m_sleeping;
        if (advised && !s.m_queue.empty()) s.m_spin_advisor.record(waited.elapsed());
        // Idle for idle_timeout: exit (a new worker starts when needed), unless
        // the pool is down to its min_workers.
        if (!woken && s.m_threads > s.m_min_workers) break;
    }
    --s.m_idle;
    --s.m_threads;
    self->exited = true;
    s.m_worker_exited.notify_all();
}

inline void thread_pool_executor::abandon_all(detail::work_queue& queue,
                                              const std::exception_ptr& reason) noexcept {
    while (detail::work_item* item = queue.pop_front())
        item->m_abandon_work(item, reason);
}

inline void thread_pool_executor::exit_forked_worker() noexcept {
    // This thread called fork() in an item (or the initializer) and, in the
    // child, returned into the pool, whose threads the child does not have.
    std::fputs("unblock: a process fork()ed inside a thread_pool_executor worker returned into the "
               "pool; in the child, call exec() or _exit() before returning\n",
               stderr);
    std::_Exit(EXIT_FAILURE);
}

inline std::exception_ptr
thread_pool_executor::thread_start_error(const detail::thread_pool_state& s) noexcept {
    try {
        throw;
    } catch (const std::system_error& e) {
        try {
            // system_error appends the cause, e.g. "Resource temporarily unavailable".
            return std::make_exception_ptr(std::system_error(
                e.code(), "unblock::thread_pool_executor \"" + s.m_name_prefix +
                              "\" could not start a worker thread (it has " +
                              std::to_string(s.m_threads) + " threads, max_workers " +
                              std::to_string(s.m_max_workers) +
                              "), so the work was not queued; lower max_workers, or raise the "
                              "process's limits on threads (RLIMIT_NPROC/ulimit -u, the "
                              "cgroup's pids.max, memory for thread stacks)"));
        } catch (...) {
            return std::current_exception(); // no memory for the message
        }
    } catch (...) {
        return std::current_exception(); // e.g. bad_alloc: already says what it is
    }
}

inline void thread_pool_executor::shutdown(bool wait, bool cancel_futures) {
    if (detail::t_deferred_work.m_flush)
        detail::t_deferred_work.m_flush(detail::t_deferred_work.m_owner);
    detail::thread_pool_state& s = *m_state;
    detail::work_queue abandoned;
    std::list<detail::thread_pool_state::worker> workers;
    {
        std::unique_lock lock(s.m_mutex);
        s.m_shutdown = true;
        s.m_closed_hint.store(true, std::memory_order_relaxed);
        if (cancel_futures) {
            abandoned.splice_back(s.m_queue);
            s.m_queued_hint.store(0, std::memory_order_relaxed);
        }
        if (wait) {
            // Threads being created are recorded once created: wait for them,
            // so that every thread is in m_workers and joined below. (None is
            // reserved after shutdown: enqueue refuses work first.)
            s.m_worker_exited.wait(lock, [&s] { return s.m_starting == 0; });
            workers.swap(s.m_workers);
        }
    }
    s.m_work_available.notify_all();
    abandon_all(
        abandoned,
        std::make_exception_ptr(cancelled_error(
            "unblock: the work was cancelled by thread_pool_executor::shutdown(cancel_futures=true)")));
    if (!wait) return;
    for (auto it = workers.begin(); it != workers.end(); ++it) {
        if (it->thread.get_id() == std::this_thread::get_id()) {
            // Shutdown from our own worker: it exits when its job returns. Its
            // record goes back to the state, which outlives it: it still sets
            // `exited` there.
            it->thread.detach();
            std::lock_guard lock(s.m_mutex);
            s.m_workers.splice(s.m_workers.end(), workers, it);
            break; // the others are joined below
        }
    }
    for (auto& worker : workers) {
        if (worker.thread.joinable()) worker.thread.join();
    }
    // Another shutdown may have taken (and be joining) some workers: wait until
    // every worker has exited, except the calling one if it is a worker.
    const std::size_t calling_worker = running_in_this_pool() ? 1 : 0;
    std::unique_lock lock(s.m_mutex);
    s.m_worker_exited.wait(lock, [&] { return s.m_threads <= calling_worker; });
}

} // namespace unblock
