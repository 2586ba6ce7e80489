/// \file event_loop.hpp
/// `event_loop`, the single-threaded scheduler every coroutine resumes on,
/// with `run`, `create_task`, `get_running_loop` and `timer_handle`. The
/// member templates are at the bottom (detail/loop/event_loop_impl.hpp), and
/// `join_handle<T>` (join_handle.hpp) and `to_thread` / `run_in_executor`
/// (offload.hpp) come with this header: it is all a loop user needs.
#pragma once

#include "detail/deadline.hpp"
#include "detail/error_text.hpp"
#include "detail/loop/frame_cache.hpp"
#include "detail/loop/inbox.hpp"
#include "detail/loop/loop_node.hpp"
#include "detail/loop/loop_probe.hpp"
#include "detail/loop/reactor.hpp"
#include "detail/loop/signals.hpp"
#include "detail/loop/task_state.hpp"
#include "detail/loop/timer_heap.hpp"
#include "detail/spin.hpp"
#include "detail/threads/work_item.hpp"
#include "errors.hpp"
#include "task.hpp"
#include "thread_pool.hpp"

#include <cassert>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

namespace unblock {

template <class Value>
class join_handle;

class event_loop;

namespace detail {

struct loop_access;
class offload_token;

/// The loop running on this thread, if any. constinit: plain TLS access, no wrapper call.
constinit inline thread_local event_loop* t_running_loop = nullptr;

/// The object `co_await x` actually talks to.
template <class Awaitable>
decltype(auto) get_awaiter(Awaitable&& awaitable) {
    if constexpr (requires { std::forward<Awaitable>(awaitable).operator co_await(); }) {
        return std::forward<Awaitable>(awaitable).operator co_await();
    } else if constexpr (requires { operator co_await(std::forward<Awaitable>(awaitable)); }) {
        return operator co_await(std::forward<Awaitable>(awaitable));
    } else {
        return std::forward<Awaitable>(awaitable);
    }
}

/// Something `co_await` accepts inside a task.
template <class Awaitable>
concept awaitable = requires(Awaitable&& a) {
    { get_awaiter(std::forward<Awaitable>(a)).await_ready() } -> std::convertible_to<bool>;
    get_awaiter(std::forward<Awaitable>(a)).await_resume();
};

/// What `co_await std::declval<A>()` yields.
template <class Awaitable>
using await_result_t = decltype(get_awaiter(std::declval<Awaitable>()).await_resume());

/// A heap-allocated callback run once by the loop (call_soon, call_soon_threadsafe).
template <class Function>
struct callback_node final : loop_node {
    callback_node(event_loop& loop, Function function)
        : loop_node(&invoke), m_loop(&loop), m_function(std::move(function)) {}
    static void invoke(loop_node* node) noexcept;

    event_loop* m_loop;
    Function m_function;
};

/// A timed callback (call_later), shared with the `timer_handle` that can cancel it.
struct callback_timer final : timer_node {
    callback_timer(event_loop& loop, std::function<void()> function)
        : timer_node(&invoke), m_loop(&loop), m_function(std::move(function)) {}
    static void invoke(loop_node* node) noexcept;

    event_loop* m_loop;
    std::function<void()> m_function;
    std::shared_ptr<callback_timer> m_self; ///< keeps the timer alive while it is queued
    bool m_cancelled = false;
};

} // namespace detail

/// Cancels a callback scheduled with `event_loop::call_later` or `call_at`. Loop thread only.
class timer_handle {
public:
    timer_handle() = default;
    explicit timer_handle(std::shared_ptr<detail::callback_timer> timer) noexcept
        : m_timer(std::move(timer)) {}

    /// Withdraws the callback if it has not run yet; returns whether it did.
    bool cancel() noexcept;
    /// True after a successful cancel().
    [[nodiscard]] bool cancelled() const noexcept { return m_timer && m_timer->m_cancelled; }
    /// When the callback is (or was) due, on the loop's clock (asyncio's TimerHandle.when()).
    [[nodiscard]] std::chrono::steady_clock::time_point when() const noexcept {
        return m_timer ? m_timer->m_deadline : std::chrono::steady_clock::time_point{};
    }

private:
    std::shared_ptr<detail::callback_timer> m_timer;
};

/// A single-threaded event loop: a FIFO ready queue, a timer heap and a
/// thread-safe inbox.
///
/// Thread safety: everything runs on the thread that runs the loop, except
/// `call_soon_threadsafe` and `post_threadsafe`, which any thread may call
/// while the loop exists. Each iteration takes the posts and due timers, then
/// runs exactly the nodes that are ready at that moment (what they schedule
/// runs in the next iteration, so no task starves the others). With nothing
/// ready the thread sleeps until a post or the next deadline; it never spins
/// while idle.
///
/// Destruction cancels the tasks still pending and runs the loop until they
/// have finished (so no coroutine frame is torn down under running work),
/// runs callbacks already queued, and drops pending `call_later` callbacks.
class event_loop {
public:
    using clock = std::chrono::steady_clock;

    /// Settings of a loop (and of `run()`).
    struct options {
        /// Debug mode: report each task step that holds the loop longer than
        /// `slow_callback_duration`. Default: on when UNBLOCK_DEBUG=1.
        bool debug = debug_from_environment();
        clock::duration slow_callback_duration = std::chrono::milliseconds(100);
        /// With offloaded work in flight and nothing else to do, the loop
        /// spins this long for the completion before it sleeps: a quick call
        /// then returns without a ~11 µs wake-up. Never spins while idle, and
        /// stops spinning while spins stop paying (a busy machine: see
        /// detail::spin_advisor). Zero: never spin.
        clock::duration offload_spin = std::chrono::microseconds(50);
    };

    /// What the exception handler is told.
    struct exception_context {
        std::string message;      ///< what happened
        std::exception_ptr error; ///< the exception, if there is one
        std::string task_name;    ///< the task it came from, if any
    };
    using exception_handler = std::function<void(const exception_context&)>;

    /// What the slow-step handler of debug mode is told.
    struct slow_step {
        std::string task_name;    ///< the task whose step blocked, or empty for a plain callback
        clock::duration duration; ///< how long it held the loop
    };
    using slow_step_handler = std::function<void(const slow_step&)>;

    event_loop() : event_loop(options{}) {}
    explicit event_loop(options settings)
        : m_options(settings), m_offload_spin(settings.offload_spin) {}
    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;
    ~event_loop();

    /// Runs the loop on this thread until `main` finishes; returns its value or rethrows.
    /// Throws `invalid_state_error` if this thread already runs a loop.
    template <class Value>
    Value run_until_complete(task<Value> main);

    /// Schedules `awaitable` (a task, `to_thread(...)`, any awaitable) to run
    /// concurrently, starting in the next iteration. See `join_handle`.
    template <class Awaitable>
        requires detail::awaitable<Awaitable>
    auto create_task(Awaitable awaitable, std::string name = {})
        -> join_handle<detail::await_result_t<Awaitable>>;

    /// Schedules `callable(args...)` (a coroutine lambda, a function returning a
    /// task) as a task. The callable and decay-copies of the arguments live in
    /// the task's frame until it ends, so a capturing lambda may be a temporary:
    ///
    ///     auto h = loop.create_task([&]() -> task<> { co_await work(state); });
    template <class Callable, class... Args>
        requires(!detail::awaitable<Callable>)
    auto create_task(Callable&& callable, Args&&... args);

    /// Runs `f()` in the next iteration. Loop thread.
    template <class Function>
    void call_soon(Function f) {
        check_usable_here("call_soon");
        schedule(new detail::callback_node<std::decay_t<Function>>(*this, std::move(f)));
    }

    /// Runs `f()` once `delay` has passed. Loop thread.
    template <class Function>
    timer_handle call_later(clock::duration delay, Function f) {
        check_usable_here("call_later");
        return schedule_callback(detail::saturating_deadline(time(), delay), std::move(f));
    }

    /// Runs `f()` at `when`, a time point of the loop's clock (asyncio's
    /// loop.call_at). A ticker that schedules `handle.when() + period` never
    /// drifts; `time_point::max()` means never. Loop thread.
    ///
    ///     auto h = loop.call_at(loop.time() + 1s, [] { tick(); });
    template <class Clock, class Duration, class Function>
    timer_handle call_at(std::chrono::time_point<Clock, Duration> when, Function f) {
        static_assert(std::is_same_v<Clock, clock>,
                      "unblock::event_loop::call_at: the time point must be of the loop's clock, "
                      "std::chrono::steady_clock (event_loop::clock); loop.time() + d gives one");
        check_usable_here("call_at");
        return schedule_callback(clock::time_point(detail::saturating_ceil<clock::duration>(
                                     when.time_since_epoch())),
                                 std::move(f));
    }

    /// Runs `f()` on the loop thread soon. Any thread; the loop object must
    /// outlive the call. Callbacks posted while the loop's destructor shuts its
    /// default executor down still run; once the destructor has run the last
    /// of them, throws `invalid_state_error` (asyncio: "Event loop is closed").
    template <class Function>
    void call_soon_threadsafe(Function f) {
        auto* node = new detail::callback_node<std::decay_t<Function>>(*this, std::move(f));
        if (!m_inbox.post(node)) {
            delete node;
            throw_closed("call_soon_threadsafe");
        }
    }

    /// Runs `f(args...)` on `executor` (or the default executor for nullptr)
    /// and returns a `future` at once; see `unblock::run_in_executor` (offload.hpp)
    /// for when the call reaches a thread pool.
    template <class Executor, class Function, class... Args>
    auto run_in_executor(Executor&& executor, Function&& f, Args&&... args);

    /// The executor `to_thread` and `run_in_executor(nullptr, ...)` use; created
    /// on first use. Throws `executor_shutdown_error` after shutdown_default_executor().
    thread_pool_executor& default_executor() {
        if (m_default_executor_closed) {
            throw executor_shutdown_error(
                "unblock: the event loop's default executor was shut down (shutdown_default_executor() was "
                "called, or run() is finishing); no more work can be offloaded with to_thread on this loop");
        }
        if (!m_default_executor) m_default_executor = std::make_shared<thread_pool_executor>();
        return *m_default_executor;
    }

    /// Makes `executor` the default executor. The previous one is released
    /// (if this held the last reference, its destructor waits for its work).
    void set_default_executor(std::shared_ptr<thread_pool_executor> executor) {
        flush_deferred_work(); // work already submitted goes to the pool it was meant for
        if (!executor)
            throw std::invalid_argument(
                "unblock::event_loop::set_default_executor: executor is null");
        m_default_executor = std::move(executor);
        m_default_executor_closed = false;
    }

    /// Shuts the default executor down and waits for its threads without
    /// blocking the loop (asyncio's loop.shutdown_default_executor()). Later
    /// `to_thread` calls throw `executor_shutdown_error`.
    task<> shutdown_default_executor();

    /// The loop's clock.
    [[nodiscard]] clock::time_point time() const noexcept { return clock::now(); }

    /// True while a thread runs this loop.
    [[nodiscard]] bool is_running() const noexcept { return m_running; }

    // --- file descriptors (asyncio's add_reader / add_writer) -------------------
    /// Calls `callback()` on the loop thread, in every iteration while `fd` is
    /// readable (level-triggered, as asyncio), until remove_reader(fd). One
    /// reader per fd: a second add_reader replaces the callback. Throws
    /// `io_error` for an fd epoll cannot watch (closed, a regular file).
    /// Remove it before closing the fd. Loop thread.
    void add_reader(int fd, std::function<void()> callback) {
        add_fd_callback(fd, detail::fd_direction::read, std::move(callback), "add_reader");
    }
    /// Stops calling the reader of `fd`; returns whether there was one.
    bool remove_reader(int fd) { return remove_fd_callback(fd, detail::fd_direction::read); }
    /// As add_reader, while `fd` is writable.
    void add_writer(int fd, std::function<void()> callback) {
        add_fd_callback(fd, detail::fd_direction::write, std::move(callback), "add_writer");
    }
    /// Stops calling the writer of `fd`; returns whether there was one.
    bool remove_writer(int fd) { return remove_fd_callback(fd, detail::fd_direction::write); }

    // --- signals (asyncio's add_signal_handler) ----------------------------------
    /// Calls `callback()` on the loop thread when `signal_number` arrives,
    /// whichever thread the kernel delivered it to; replaces the callback if
    /// one is set. The signal's previous action comes back with
    /// remove_signal_handler() or the loop's end. One loop per signal in the
    /// process (`invalid_state_error` otherwise); SIGKILL, SIGSTOP and bad
    /// numbers throw `std::invalid_argument`. Loop thread.
    void add_signal_handler(int signal_number, std::function<void()> callback);
    /// Restores the signal's previous action; returns whether it was handled here.
    bool remove_signal_handler(int signal_number) {
        check_usable_here("remove_signal_handler");
        return m_signals && m_signals->remove(signal_number);
    }

    // --- guest mode: driven by another event loop (docs/guest-mode.md) ----------
    /// A file descriptor that is readable whenever this loop has something to
    /// do: a post from another thread (a completed offload, a future), a
    /// watched fd ready, or work left over by run_once(). A host loop watches
    /// it (level-triggered) and calls run_once() when it is readable, and also
    /// at next_deadline().
    [[nodiscard]] int pollable_fd() const noexcept { return m_reactor.fd(); }

    /// When this loop next needs run_once() although pollable_fd() stays quiet:
    /// the next timer, now if work is ready, nullopt if nothing is scheduled.
    [[nodiscard]] std::optional<clock::time_point> next_deadline() const noexcept {
        if (!m_ready.empty() || m_inbox.has_posts()) return clock::now();
        if (m_timers.empty()) return std::nullopt;
        return m_timers.top()->m_deadline;
    }

    /// Runs one iteration: what is ready now, or, with nothing ready, waits up
    /// to `timeout` for something to become ready and runs it. For a host
    /// loop (guest mode) or a hand-written driver; a coroutine never calls it.
    /// Throws `invalid_state_error` if a loop already runs on this thread.
    void run_once(clock::duration timeout = clock::duration::zero());

    /// Number of tasks created on this loop that have not finished.
    [[nodiscard]] std::size_t unfinished_tasks() const noexcept { return m_unfinished_tasks; }

    /// Replaces the handler for exceptions nobody retrieved (default: print to stderr).
    void set_exception_handler(exception_handler handler) {
        m_exception_handler = std::move(handler);
    }
    /// Reports `context` through the exception handler.
    void call_exception_handler(const exception_context& context) noexcept;

    [[nodiscard]] bool get_debug() const noexcept { return m_options.debug; }
    void set_debug(bool enabled) noexcept { m_options.debug = enabled; }
    [[nodiscard]] clock::duration slow_callback_duration() const noexcept {
        return m_options.slow_callback_duration;
    }
    void set_slow_callback_duration(clock::duration limit) noexcept {
        m_options.slow_callback_duration = limit;
    }
    /// Replaces what debug mode does with a slow step (default: print to stderr).
    void set_slow_step_handler(slow_step_handler handler) {
        m_slow_step_handler = std::move(handler);
    }

    /// Reads UNBLOCK_DEBUG.
    static bool debug_from_environment() noexcept {
        const char* value = std::getenv("UNBLOCK_DEBUG");
        return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
    }

private:
    friend class timer_handle;
    friend struct detail::loop_access; // the scheduling primitives below, for the library's
                                       // awaiters
    friend class detail::offload_token;
    friend void detail::task_ended_on_loop(event_loop&, detail::task_state&, bool) noexcept;

    // --- The intrusive scheduling primitives (reached through detail::loop_access). ---

    /// Queues `node` to run in the next iteration. Loop thread.
    void schedule(detail::loop_node* node) noexcept { m_ready.push_back(node); }
    /// Queues `node` from any thread; wakes the loop. Allocates nothing. The
    /// library's own posts are completions the loop waits for before it closes.
    void post_threadsafe(detail::loop_node* node) noexcept {
        [[maybe_unused]] const bool accepted = m_inbox.post(node);
        assert(accepted && "a completion was posted to a closed event_loop");
    }
    /// Queues `node` to run at `deadline`. Loop thread.
    void add_timer(detail::timer_node* node, clock::time_point deadline) {
        m_timers.push(node, deadline);
    }
    /// Withdraws a queued timer; returns whether it was queued. Loop thread.
    bool remove_timer(detail::timer_node* node) noexcept { return m_timers.remove(node); }

    /// Queues `item` on `pool` at the end of this iteration: everything a
    /// round of tasks submits is handed over under one lock. Loop thread.
    void defer_work(thread_pool_executor& pool, detail::work_item* item) noexcept {
        if (m_deferred_pool != &pool) flush_deferred_work();
        m_deferred_pool = &pool;
        m_deferred_work.push_back(item);
    }
    /// Takes back an item not yet handed to its pool; returns whether it was here.
    bool withdraw_deferred_work(detail::work_item* item) noexcept {
        return m_deferred_work.remove(item);
    }

    // --- Tasks (create_task, task.hpp's final step). ---

    void register_task(detail::task_state& task) noexcept;
    void task_finished(detail::task_state& task) noexcept;
    void report_if_unretrieved(detail::task_state& task) noexcept;
    /// Cancels every unfinished task and runs the loop until all have
    /// finished (asyncio.run's cleanup).
    void cancel_all_tasks();

    // --- Misuse. ---

    /// Throws unless this loop is the one running on this thread or none is:
    /// work given to a loop that cannot run while another runs here would be lost.
    void check_usable_here(const char* what) const {
        if (detail::t_running_loop != nullptr && detail::t_running_loop != this) [[unlikely]]
            throw_not_running_here(what);
    }
    [[noreturn]] static void throw_not_running_here(const char* what);
    [[noreturn]] static void throw_closed(const char* what);

    /// Marks this loop as the thread's running loop for a scope.
    class running_scope {
    public:
        explicit running_scope(event_loop& loop);
        ~running_scope();
        running_scope(const running_scope&) = delete;
        running_scope& operator=(const running_scope&) = delete;

    private:
        event_loop& m_loop;
    };

    template <class Function>
    timer_handle schedule_callback(clock::time_point deadline, Function f) {
        auto timer =
            std::make_shared<detail::callback_timer>(*this, std::function<void()>(std::move(f)));
        timer->m_self = timer;
        add_timer(timer.get(), deadline);
        return timer_handle(std::move(timer));
    }

    /// One iteration; with nothing ready, sleeps until `wait_until` at most
    /// and returns false (what woke it runs in the next iteration).
    bool iterate(clock::time_point wait_until = clock::time_point::max());
    /// The spin's test: a completion is posted. Every 8th test also polls the
    /// probes (each poll is a system call; the inbox test is a load).
    bool completion_arrived() noexcept {
        if (m_inbox.has_posts()) return true;
        if (m_probes.empty() || ++m_spins_since_probe < 8) return false;
        m_spins_since_probe = 0;
        m_probes.for_each([](detail::loop_probe& probe) { probe.m_poll(&probe); });
        return m_inbox.has_posts();
    }
    void run_node(detail::loop_node* node) noexcept;
    void report_slow_step(const std::string& task_name, clock::duration duration) noexcept;

    options m_options;
    detail::spin_advisor m_offload_spin; ///< whether to spin for completions (loop thread)
    detail::node_fifo m_ready;
    /// What the loop reads itself while it spins (detail/loop/loop_probe.hpp).
    detail::intrusive_list<detail::loop_probe> m_probes;
    unsigned m_spins_since_probe = 0;
    detail::timer_heap m_timers;
    detail::inbox m_inbox;
    detail::reactor m_reactor{m_inbox.wake_fd()};
    unsigned m_steps_since_poll = 0; ///< busy iterations since the reactor was last polled

    /// An add_reader / add_writer callback: persistent, owned by the reactor's entry.
    struct fd_callback final : detail::fd_waiter {
        explicit fd_callback(std::function<void()> f)
            : fd_waiter(&invoke), m_function(std::move(f)) {}
        static void invoke(detail::loop_node* node) noexcept;
        std::function<void()> m_function;
        event_loop* m_loop = nullptr;
        bool m_running = false; ///< its callback is running
        bool m_removed = false; ///< removed while queued or running: invoke() deletes it
    };
    void add_fd_callback(int fd, detail::fd_direction direction, std::function<void()> callback,
                         const char* what);
    bool remove_fd_callback(int fd, detail::fd_direction direction);
    static void release_fd_callback(detail::fd_waiter* node) noexcept;
    std::unique_ptr<detail::signal_handlers> m_signals; ///< created by the first add_signal_handler

    bool m_running = false;
    detail::intrusive_list<detail::task_state>
        m_tasks; ///< every task not yet destroyed, newest first
    std::size_t m_unfinished_tasks = 0;
    std::size_t m_tasks_created = 0;

    void flush_deferred_work() noexcept {
        thread_pool_executor* pool = std::exchange(m_deferred_pool, nullptr);
        if (pool && !m_deferred_work.empty())
            pool->post_batch(m_deferred_work); // all withdrawn: no lock
    }

    std::size_t m_offloads_in_flight = 0; ///< counted by detail::offload_token
    /// Those of them worth spinning for (not a process pool's: see offload_token).
    std::size_t m_spun_offloads_in_flight = 0;
    detail::work_queue m_deferred_work; ///< submitted during this iteration, for m_deferred_pool
    thread_pool_executor* m_deferred_pool = nullptr;
    std::shared_ptr<thread_pool_executor> m_default_executor;
    bool m_default_executor_closed = false;

    exception_handler m_exception_handler;
    slow_step_handler m_slow_step_handler;
};

// ---------------------------------------------------------------------------

namespace detail {

template <class Function>
void callback_node<Function>::invoke(loop_node* node) noexcept {
    std::unique_ptr<callback_node> self(static_cast<callback_node*>(node));
    try {
        self->m_function();
    } catch (...) {
        self->m_loop->call_exception_handler(
            {"exception in a callback", std::current_exception(), {}});
    }
}

inline void callback_timer::invoke(loop_node* node) noexcept {
    auto* self = static_cast<callback_timer*>(node);
    std::shared_ptr<callback_timer> keep = std::move(self->m_self);
    try {
        self->m_function();
    } catch (...) {
        self->m_loop->call_exception_handler(
            {"exception in a call_later callback", std::current_exception(), {}});
    }
}

} // namespace detail

inline bool timer_handle::cancel() noexcept {
    if (!m_timer || !m_timer->queued()) return false;
    m_timer->m_loop->remove_timer(m_timer.get());
    m_timer->m_cancelled = true;
    m_timer->m_self.reset();
    return true;
}

inline event_loop::running_scope::running_scope(event_loop& loop) : m_loop(loop) {
    if (detail::t_running_loop != nullptr) {
        throw invalid_state_error(
            detail::t_running_loop == &loop
                ? "unblock: this event loop is already running; inside a coroutine, co_await the task "
                  "instead of calling run_until_complete()"
                : "unblock: another event loop is already running on this thread; inside a coroutine, "
                  "co_await the task instead of starting a nested loop");
    }
    detail::t_running_loop = &loop;
    detail::t_deferred_work = {[](void* owner) noexcept {
                                   static_cast<event_loop*>(owner)->flush_deferred_work();
                               },
                               &loop};
    loop.m_running = true;
    detail::frame_cache::local().begin_use();
}

inline event_loop::running_scope::~running_scope() {
    m_loop.flush_deferred_work();
    detail::frame_cache::local().end_use();
    m_loop.m_running = false;
    detail::t_deferred_work = {};
    detail::t_running_loop = nullptr;
}

inline bool event_loop::iterate(clock::time_point wait_until) {
    // A busy loop looks at its file descriptors every few iterations (as Tokio
    // does), an idle one whenever it sleeps: no system call per step.
    constexpr unsigned poll_interval = 61;
    if (m_inbox.has_posts()) m_inbox.take_all(m_ready);
    if (!m_timers.empty()) {
        const clock::time_point now = clock::now();
        while (!m_timers.empty() && m_timers.top()->m_deadline <= now)
            m_ready.push_back(m_timers.pop());
    }
    if (m_ready.empty()) {
        flush_deferred_work();
        // Waiting for offloaded work: spin first if that pays now (detail::spin_advisor).
        const bool may_sleep = wait_until > clock::time_point::min();
        const bool awaiting_offload = may_sleep && m_spun_offloads_in_flight > 0;
        detail::wait_clock waited;
        if (awaiting_offload && detail::spin_until([this] { return completion_arrived(); },
                                                   m_offload_spin.next_spin(), waited)) {
            m_offload_spin.record(waited.elapsed());
            return false; // a completion arrived while spinning
        }
        if (awaiting_offload) (void)waited.start();
        // About to sleep: cached frames go back to the allocator (detail/frame_cache.hpp).
        if (may_sleep) detail::frame_cache::local().release();
        clock::time_point deadline = wait_until;
        if (!m_timers.empty() && m_timers.top()->m_deadline < deadline)
            deadline = m_timers.top()->m_deadline;
        if (m_inbox.begin_sleep()) {
            m_reactor.wait(m_ready, deadline);
            m_inbox.end_sleep();
        }
        m_steps_since_poll = 0;
        // Woken by a timer instead, the wait for the completion is not over: not a sample.
        if (awaiting_offload && m_inbox.has_posts()) m_offload_spin.record(waited.elapsed());
        return false;
    }
    if (m_reactor.has_waiters() && ++m_steps_since_poll >= poll_interval) {
        m_steps_since_poll = 0;
        m_reactor.wait(m_ready, clock::time_point::min()); // poll: what is ready runs next round
    }
    // Run exactly what is ready now; whatever these schedule waits for the next round.
    detail::node_fifo batch = std::move(m_ready);
    batch.consume([this](detail::loop_node& node) { run_node(&node); });
    flush_deferred_work();
    return true;
}

inline void event_loop::run_once(clock::duration timeout) {
    {
        running_scope scope(*this);
        const clock::time_point now = clock::now();
        const bool ran =
            iterate(timeout <= clock::duration::zero() ? clock::time_point::min()
                                                       : detail::saturating_deadline(now, timeout));
        if (!ran) iterate(clock::time_point::min()); // it waited: run what woke it
    }
    // Between iterations a host waits on pollable_fd(): posts must write the
    // eventfd, and work already queued must make it readable.
    if (!m_inbox.begin_sleep() || !m_ready.empty()) m_inbox.wake();
}

inline void event_loop::fd_callback::invoke(detail::loop_node* node) noexcept {
    auto* self = static_cast<fd_callback*>(node);
    self->m_queued = false;
    if (!self->m_removed) {
        self->m_running = true; // a callback that removes itself is deleted after it returns
        try {
            self->m_function();
        } catch (...) {
            self->m_loop->call_exception_handler(
                {"exception in an add_reader/add_writer callback", std::current_exception(), {}});
        }
        self->m_running = false;
    }
    if (self->m_removed) delete self;
}

inline void event_loop::add_fd_callback(int fd, detail::fd_direction direction,
                                        std::function<void()> callback, const char* what) {
    check_usable_here(what);
    if (!callback)
        throw std::invalid_argument(std::string("unblock::event_loop::") + what +
                                    ": the callback is empty");
    auto node = std::make_unique<fd_callback>(std::move(callback));
    node->m_loop = this;
    detail::fd_waiter* previous = m_reactor.unwatch(fd, direction);
    if (previous != nullptr && previous->m_run != &fd_callback::invoke) {
        m_reactor.watch(fd, direction, previous, false, what); // an awaiter waits there: keep it
        throw invalid_state_error(
            std::string("unblock::event_loop::") + what +
            ": a task is "
            "waiting for fd " +
            std::to_string(fd) + " (wait_readable/wait_writable); one waiter per fd and direction");
    }
    m_reactor.watch(fd, direction, node.get(), true, what);
    node.release();
    if (previous != nullptr) release_fd_callback(previous);
}

inline bool event_loop::remove_fd_callback(int fd, detail::fd_direction direction) {
    check_usable_here(direction == detail::fd_direction::read ? "remove_reader" : "remove_writer");
    detail::fd_waiter* node = m_reactor.unwatch(fd, direction);
    if (node == nullptr) return false;
    if (node->m_run != &fd_callback::invoke) { // an awaiter's: not ours to remove
        m_reactor.watch(fd, direction, node, false, "remove_reader");
        return false;
    }
    release_fd_callback(node);
    return true;
}

inline void event_loop::add_signal_handler(int signal_number, std::function<void()> callback) {
    check_usable_here("add_signal_handler");
    if (!m_signals) {
        auto handlers = std::make_unique<detail::signal_handlers>();
        add_fd_callback(
            handlers->read_fd(), detail::fd_direction::read,
            [this] {
                m_signals->dispatch([this](std::exception_ptr error) {
                    call_exception_handler({"exception in a signal handler callback", error, {}});
                });
            },
            "add_signal_handler");
        m_signals = std::move(handlers);
    }
    m_signals->add(signal_number, std::move(callback));
}

inline void event_loop::release_fd_callback(detail::fd_waiter* node) noexcept {
    auto* callback = static_cast<fd_callback*>(node);
    if (callback->m_queued || callback->m_running) {
        callback->m_removed = true; // queued or running: invoke() deletes it
    } else {
        delete callback;
    }
}

inline void event_loop::run_node(detail::loop_node* node) noexcept {
    if (!m_options.debug) {
        node->run();
    } else {
        // The name is taken before the step: the task may finish in it, and a
        // new task may reuse its frame within the same step.
        const std::string name = node->m_task ? node->m_task->name() : std::string();
        const clock::time_point start = clock::now();
        node->run();
        const clock::duration held = clock::now() - start;
        if (held >= m_options.slow_callback_duration) report_slow_step(name, held);
    }
}

inline void event_loop::report_slow_step(const std::string& name,
                                         clock::duration duration) noexcept {
    try {
        if (m_slow_step_handler) {
            m_slow_step_handler(slow_step{name, duration});
            return;
        }
    } catch (...) {
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
    const auto limit =
        std::chrono::duration_cast<std::chrono::milliseconds>(m_options.slow_callback_duration)
            .count();
    std::fprintf(
        stderr,
        "unblock: %s%s%s blocked the event loop for %lld ms (slow_callback_duration is %lld ms); "
        "move blocking calls off the loop with co_await unblock::to_thread(...)\n",
        name.empty() ? "a callback" : "task '", name.c_str(), name.empty() ? "" : "'",
        static_cast<long long>(ms), static_cast<long long>(limit));
}

inline void event_loop::call_exception_handler(const exception_context& context) noexcept {
    try {
        if (m_exception_handler) {
            m_exception_handler(context);
            return;
        }
    } catch (...) {
        // A throwing handler falls back to the default report below.
    }
    std::fprintf(stderr, "unblock: %s%s%s%s: %s\n", context.message.c_str(),
                 context.task_name.empty() ? "" : " (task '", context.task_name.c_str(),
                 context.task_name.empty() ? "" : "')", detail::error_text(context.error).c_str());
}

inline void event_loop::register_task(detail::task_state& task) noexcept {
    task.m_loop = this;
    m_tasks.push_front(&task);
    ++m_unfinished_tasks;
    ++m_tasks_created;
}

inline void event_loop::task_finished(detail::task_state&) noexcept { --m_unfinished_tasks; }

inline void detail::task_ended_on_loop(event_loop& loop, task_state& task,
                                       bool report_unretrieved) noexcept {
    loop.task_finished(task);
    if (report_unretrieved) loop.report_if_unretrieved(task);
}

inline void event_loop::report_if_unretrieved(detail::task_state& task) noexcept {
    if (task.m_exception && !task.m_cancelled && !task.m_exception_retrieved) {
        task.m_exception_retrieved = true;
        call_exception_handler(
            {"exception in a task was never retrieved", task.m_exception, task.name()});
    }
}

inline void event_loop::throw_not_running_here(const char* what) {
    throw invalid_state_error(
        std::string("unblock::event_loop::") + what +
        ": another event loop is running on this thread, so this one cannot run and the work "
        "would never start; give it to the running loop (unblock::create_task, "
        "unblock::get_running_loop()), or run this loop on a thread of its own");
}

inline void event_loop::throw_closed(const char* what) {
    throw invalid_state_error(std::string("unblock::event_loop::") + what +
                              ": the event loop is closed (its destructor has run its last "
                              "callbacks); nothing more can run on it");
}

inline void event_loop::cancel_all_tasks() {
    std::size_t cancelled_up_to = 0; // tasks created before this count have been asked
    while (m_unfinished_tasks > 0) {
        if (cancelled_up_to != m_tasks_created) {
            cancelled_up_to = m_tasks_created;
            m_tasks.for_each([](detail::task_state& t) {
                if (!t.m_done && !t.m_cancel_requested) t.request_cancel();
            });
        }
        iterate();
    }
}

inline event_loop::~event_loop() {
    if (m_running) {
        // Destroyed from inside its own run: nothing can be run; the owner's bug.
    } else if (detail::t_running_loop != nullptr) {
        // Another loop runs on this thread, so this one cannot: say what is lost.
        if (m_unfinished_tasks > 0 || m_offloads_in_flight > 0 || !m_ready.empty() ||
            m_inbox.has_posts()) {
            call_exception_handler(
                {"an event_loop with unfinished work was destroyed while another loop ran on "
                 "this thread; its tasks and callbacks were dropped. Run each loop on a thread "
                 "of its own, or give the work to the running loop (unblock::create_task)",
                 nullptr,
                 {}});
        }
        if (m_default_executor) m_default_executor->shutdown(true);
        m_inbox.close();
    } else if (m_unfinished_tasks > 0 || m_offloads_in_flight > 0 || !m_ready.empty() ||
               m_inbox.has_posts() || m_default_executor) {
        try {
            running_scope scope(*this);
            cancel_all_tasks();
            // Work whose future was dropped still posts back here: wait for it.
            while (m_offloads_in_flight > 0 || !m_ready.empty() || m_inbox.has_posts())
                iterate();
            m_default_executor_closed = true;
            if (std::shared_ptr<thread_pool_executor> pool = std::move(m_default_executor))
                pool->shutdown(true);
            // The executor's threads may have called call_soon_threadsafe until they
            // ended: run what they posted, then refuse more.
            m_inbox.close();
            while (!m_ready.empty() || m_inbox.has_posts())
                iterate();
        } catch (...) {
            call_exception_handler({"an event_loop could not finish its work while being "
                                    "destroyed; what was left was dropped",
                                    std::current_exception(),
                                    {}});
            m_inbox.close();
        }
    } else {
        m_inbox.close();
    }
    // add_reader/add_writer callbacks still registered are dropped.
    m_reactor.drop_persistent(&release_fd_callback);
    // Probes of work that never completed here unlink from a list that is gone.
    m_probes.consume([](detail::loop_probe&) {});
    // Pending call_later callbacks are dropped (their handles may outlive the loop).
    while (!m_timers.empty()) {
        detail::timer_node* node = m_timers.pop();
        if (node->m_run == &detail::callback_timer::invoke) {
            static_cast<detail::callback_timer*>(node)->m_self.reset();
        }
    }
    // Finished tasks still owned by join handles forget this loop.
    while (detail::task_state* t = m_tasks.pop_front())
        t->m_loop = nullptr;
}

/// The loop running on this thread; throws `no_running_loop_error` if none.
[[nodiscard]] inline event_loop& get_running_loop() {
    if (detail::t_running_loop == nullptr) throw no_running_loop_error();
    return *detail::t_running_loop;
}

namespace detail {

/// The loop's scheduling primitives, for the library's awaiters. They take
/// detail types, so they are not public members of `event_loop`.
struct loop_access {
    /// Queues `node` to run in the next iteration. Loop thread.
    static void schedule(event_loop& loop, loop_node* node) noexcept { loop.schedule(node); }
    /// The loop's epoll reactor, for awaiters that wait on file descriptors. Loop thread.
    static reactor& reactor_of(event_loop& loop) noexcept { return loop.m_reactor; }
    /// Queues `node` from any thread and wakes the loop; allocates nothing.
    static void post(event_loop& loop, loop_node* node) noexcept { loop.post_threadsafe(node); }
    /// Has the loop poll `probe` while it spins for offloaded work, until
    /// `probe` unlinks itself. Loop thread.
    static void add_probe(event_loop& loop, loop_probe* probe) noexcept {
        loop.m_probes.push_back(probe);
    }
    /// Queues `node` to run at `deadline`. Loop thread.
    static void add_timer(event_loop& loop, timer_node* node,
                          event_loop::clock::time_point deadline) {
        loop.add_timer(node, deadline);
    }
    /// Withdraws a queued timer; returns whether it was queued. Loop thread.
    static bool remove_timer(event_loop& loop, timer_node* node) noexcept {
        return loop.remove_timer(node);
    }
    /// Hands `item` to `pool` at the end of this iteration. Loop thread.
    static void defer_work(event_loop& loop, thread_pool_executor& pool, work_item* item) noexcept {
        loop.defer_work(pool, item);
    }
    /// Takes back an item not yet handed to its pool. Loop thread.
    static bool withdraw_deferred_work(event_loop& loop, work_item* item) noexcept {
        return loop.withdraw_deferred_work(item);
    }
    /// Reports an exception of `task` that nobody retrieved. Loop thread.
    static void report_if_unretrieved(event_loop& loop, task_state& task) noexcept {
        loop.report_if_unretrieved(task);
    }
    /// The state of the task `handle` refers to, or nullptr (for combinators).
    template <class Value>
    static task_state* state_of(join_handle<Value>& handle) noexcept {
        return handle.m_coroutine ? &handle.state() : nullptr;
    }
};

/// One offloaded call in flight on a loop, counted while the token lives:
/// the loop spins for completions only while some are in flight, and its
/// destructor waits for them. Taken before the work is handed over, dropped
/// (on the loop thread) when its completion has run or it was withdrawn.
///
/// A call made `spin_for = false` is waited for but never spun for: a
/// process pool's I/O thread spins for the worker's answer itself, and two
/// spinners beside the worker are one too many on a 2-core machine (W4's
/// round trip doubled whenever both spun). A process call the loop wrote to
/// its worker is spun for after all: the loop reads that answer itself
/// (detail/loop/loop_probe.hpp), and the I/O thread does not spin for it.
class offload_token {
public:
    offload_token() noexcept = default;
    explicit offload_token(event_loop& loop, bool spin_for = true) noexcept
        : m_loop(&loop), m_spin_for(spin_for) {
        ++loop.m_offloads_in_flight;
        if (spin_for) ++loop.m_spun_offloads_in_flight;
    }
    offload_token(offload_token&& other) noexcept
        : m_loop(std::exchange(other.m_loop, nullptr)), m_spin_for(other.m_spin_for) {}
    offload_token& operator=(offload_token&& other) noexcept {
        if (this != &other) {
            reset();
            m_loop = std::exchange(other.m_loop, nullptr);
            m_spin_for = other.m_spin_for;
        }
        return *this;
    }
    ~offload_token() { reset(); }

    /// Stops counting; the call is over.
    void reset() noexcept {
        if (event_loop* loop = std::exchange(m_loop, nullptr)) {
            --loop->m_offloads_in_flight;
            if (m_spin_for) --loop->m_spun_offloads_in_flight;
        }
    }

private:
    event_loop* m_loop = nullptr;
    bool m_spin_for = true;
};

/// Runs one blocking function on a thread of its own and resumes the awaiting
/// coroutine on the loop thread; for work that must not use the pools (such as
/// joining a pool's threads). Not cancellable: what it runs cannot be stopped.
class dedicated_thread_awaiter final : loop_node {
public:
    explicit dedicated_thread_awaiter(std::function<void()> function)
        : loop_node(&on_complete), m_function(std::move(function)) {}

    bool await_ready() const noexcept { return false; }

    bool await_suspend(std::coroutine_handle<> awaiting) {
        event_loop& loop = get_running_loop();
        m_awaiting = awaiting;
        m_in_flight = offload_token(loop);
        try {
            m_thread = std::thread([this, &loop] {
                m_function();
                loop_access::post(loop, this);
            });
        } catch (...) {
            m_in_flight.reset();
            throw;
        }
        return true;
    }

    void await_resume() { m_thread.join(); }

private:
    static void on_complete(loop_node* node) noexcept {
        auto* self = static_cast<dedicated_thread_awaiter*>(node);
        self->m_in_flight.reset();
        self->m_awaiting.resume();
    }

    std::function<void()> m_function;
    std::thread m_thread;
    offload_token m_in_flight;
    std::coroutine_handle<> m_awaiting;
};

} // namespace detail

inline task<> event_loop::shutdown_default_executor() {
    flush_deferred_work(); // work already submitted still reaches the pool before it closes
    m_default_executor_closed = true;
    std::shared_ptr<thread_pool_executor> pool = std::move(m_default_executor);
    if (!pool) co_return;
    // A named awaiter: GCC 12 destroys some temporaries of a co_await
    // full-expression twice (a lambda converted to std::function here).
    detail::dedicated_thread_awaiter joining([pool] { pool->shutdown(true); });
    co_await joining;
}

} // namespace unblock

// The rest of what a loop user needs; each of these includes this header
// first, so any of them can be included on its own. future.hpp brings
// offload.hpp (run_in_executor makes futures).
#include "detail/loop/event_loop_impl.hpp"
#include "future.hpp"
#include "join_handle.hpp"
