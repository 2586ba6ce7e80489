/// \file detail/process/pool_core.hpp
/// The engine of `process_pool_executor`: the call queue, the worker table and
/// the I/O thread that moves frames between them.
///
/// One I/O thread per pool owns the worker channels (a socket for calls, a
/// pipe for answers: channel.hpp) and the fork server. It polls a wake-up
/// pipe and all worker channels, writes call frames and reads answers
/// without blocking (so a 200 MiB argument going out never stops a result
/// coming in), and never holds the mutex while doing I/O, decoding, or
/// running `on_done`. Sockets are written with MSG_NOSIGNAL: a worker dying
/// mid-write is an EPIPE, never a SIGPIPE, and the program's SIGPIPE
/// disposition is left alone.
///
/// Two shortcuts keep the I/O thread off a small call's round trip: a
/// submitter that finds a worker idle writes the call itself (`submit`), and
/// a loop spinning for the answer reads it itself (`poll_answer`). Each side
/// of a channel has one user at a time (`writer_outside`, `being_read`), and
/// the I/O thread keeps watching every answer pipe, so an answer that nobody
/// polls for is still read at once.
///
/// A worker's death is seen on a pidfd, not only as EOF on its answer pipe: a
/// process the worker forked keeps a copy of that pipe open. A worker that
/// breaks the protocol (a stray header, a frame over `max_frame_bytes`, one
/// the parent cannot allocate) is killed, fails only its own call, and is
/// replaced. A replacement that cannot start (EAGAIN, EMFILE) is retried with
/// back-off; the pool breaks only when no worker is left to run calls.
#pragma once

#include "../../errors.hpp"
#include "../../process_pool_stats.hpp"
#include "../error_text.hpp"
#include "../integer_cast.hpp"
#include "../spin.hpp"
#include "call.hpp"
#include "channel.hpp"
#include "fd.hpp"
#include "intake.hpp"
#include "spawn.hpp"
#include "wire.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace unblock::detail {

/// The shared state of a process pool. Thread-safe except `run()`, which is
/// the body of the pool's single I/O thread.
class process_pool_core final : public process_call_intake,
                                public std::enable_shared_from_this<process_pool_core> {
public:
    /// Starts the fork server and the workers. Throws `std::system_error` if
    /// the fork server or the wake-up pipe cannot be made, and
    /// `broken_executor_error` if a worker cannot be started.
    explicit process_pool_core(const process_pool_config& config)
        : m_config(config), m_server(config) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
            throw process_os_error("pipe2() failed");
        }
        m_wake_read.reset(process_above_stdio(p[0]));
        m_wake_write.reset(process_above_stdio(p[1]));
        if (m_wake_read.get() < 0 || m_wake_write.get() < 0) {
            throw process_os_error("fcntl(F_DUPFD_CLOEXEC) failed");
        }
        replenish(true);
        if (m_broken) {
            throw broken_executor_error(m_broken_reason);
        }
    }

    process_pool_core(const process_pool_core&) = delete;
    process_pool_core& operator=(const process_pool_core&) = delete;
    ~process_pool_core() = default;

    /// Queues `call`. Throws `executor_shutdown_error` after shutdown,
    /// `broken_executor_error` once broken.
    ///
    /// With nothing queued and a worker idle, the caller writes the frame to
    /// that worker itself, so the worker starts without waiting for the I/O
    /// thread to wake. What the socket does not take at once, and a failed
    /// write, are left to the I/O thread.
    void submit(const std::shared_ptr<process_call_base>& call) {
        worker* direct = nullptr;
        {
            std::lock_guard lock(m_mutex);
            throw_if_closed_locked();
            call->m_id = ++m_next_id;
            call->m_owner = weak_from_this();
            call->m_state = process_call_state::queued;
            if (m_queue.empty()) {
                direct = idle_worker_locked();
            }
            if (direct != nullptr) {
                direct->call = call;
                direct->writer_outside = true; // its channel's write side is ours
                call->m_state = process_call_state::running;
                call->m_polled = call->m_submitter_polls;
            } else {
                m_queue.push_back(call);
            }
        }
        if (direct == nullptr) {
            wake_io();
            return;
        }
        // `direct` stays in m_workers while writer_outside is set (sweep and
        // the end of run() wait for it); `call` keeps the frame alive even if
        // the answer or a cancel completes the call meanwhile.
        const bool sent = direct->channel.write_some(call->m_request) &&
                          !direct->channel.wants_write(call->m_request);
        {
            std::lock_guard lock(m_mutex);
            direct->writer_outside = false;
        }
        // What is left of the write (some to send, a dead worker) is the I/O
        // thread's. A call written in full whose submitter polls for the
        // answer needs nothing from it: it watches every answer pipe already.
        // Any other call wakes it so that it spins for the answer
        // (wait_for_events) while the worker runs: one wake-up fewer on the
        // round trip, and it learns whether spinning pays.
        if (!sent || !call->m_polled) {
            wake_io();
        }
    }

    /// Reads the answers of the worker running `call`, unless another
    /// thread is reading them now; may complete `call` on this thread. The
    /// loop polls this while it spins for the answer, which then costs it
    /// no wake-up (detail/process/offload.hpp).
    void poll_answer(process_call_base& call) noexcept override {
        worker* w = nullptr;
        {
            std::lock_guard lock(m_mutex);
            for (const auto& candidate : m_workers) {
                if (candidate->call.get() == &call) {
                    w = candidate.get();
                    break;
                }
            }
            if (w == nullptr || w->dead || w->being_read) {
                return;
            }
            w->being_read = true; // the read side is ours; sweep leaves w alone
        }
        read_from(*w, read_budget, true);
        bool io_needed = false;
        {
            std::lock_guard lock(m_mutex);
            w->being_read = false;
            // A reap, queued calls for the now idle worker, or the end of
            // shutdown wait for the I/O thread, which may be asleep.
            io_needed = w->dead || (w->call == nullptr && (!m_queue.empty() || m_shutdown));
        }
        if (io_needed) {
            wake_io();
        }
    }

    cancel_outcome cancel(process_call_base& call) noexcept override {
        std::unique_lock lock(m_mutex);
        if (withdraw_queued_locked(call)) {
            lock.unlock();
            call.complete_error(process_make_error<cancelled_error>());
            return cancel_outcome::withdrawn;
        }
        if (call.m_state == process_call_state::running) {
            try {
                m_kills.push_back(call.m_id);
            } catch (...) {
                return cancel_outcome::too_late; // out of memory: let it run
            }
            call.m_state = process_call_state::finishing;
            lock.unlock();
            wake_io();
            call.complete_error(process_make_error<cancelled_error>());
            return cancel_outcome::killed;
        }
        return cancel_outcome::too_late;
    }

    /// A snapshot of the counters and workers.
    [[nodiscard]] process_pool_stats stats() const {
        process_pool_stats s;
        std::lock_guard lock(m_mutex);
        s.queued = m_queue.size();
        s.completed = m_completed;
        s.read_by_loop = m_read_by_loop;
        s.crashed = m_crashed;
        for (const auto& w : m_workers) {
            if (w->dead) {
                continue;
            }
            ++s.workers;
            s.worker_pids.push_back(integer_cast<int>(w->pid));
            if (w->call) {
                ++s.running;
            } else if (w->ready) {
                ++s.idle;
            }
        }
        return s;
    }

    /// The I/O thread: runs until shutdown and all calls are finished, then
    /// kills and reaps the workers and the fork server.
    void run() noexcept {
        std::vector<pollfd> fds;
        std::vector<worker*> polled;
        std::vector<std::size_t> send_slot;  // index in fds of polled[i]'s socket, or 0
        std::vector<std::size_t> pidfd_slot; // index in fds of polled[i]'s pidfd, or 0
        for (;;) {
            std::vector<std::uint64_t> kills;
            {
                std::lock_guard lock(m_mutex);
                kills.swap(m_kills);
                for (const std::uint64_t id : kills) {
                    for (auto& w : m_workers) {
                        if (w->call && w->call->m_id == id) {
                            w->dead = true; // the canceller already completed the call
                            w->expected_exit = true;
                        }
                    }
                }
            }
            sweep();
            bool finished = false;
            {
                std::lock_guard lock(m_mutex);
                dispatch_locked();
                finished = m_shutdown && m_queue.empty() &&
                           std::none_of(m_workers.begin(), m_workers.end(), [](const auto& w) {
                               return w->call != nullptr || w->writer_outside || w->being_read;
                           });
                m_sending.clear();
                for (auto& w : m_workers) {
                    if (sends_locked(*w)) {
                        m_sending.push_back(w.get());
                    }
                }
            }
            if (finished) {
                break;
            }
            // Send what was just dispatched now rather than after another
            // poll() turn: the socket almost always takes a small call at once.
            for (worker* w : m_sending) {
                if (!w->channel.write_some(w->call->m_request)) {
                    mark_dead(*w); // EPIPE / ECONNRESET: the worker died
                }
            }
            replenish();
            if (any_dead()) {
                continue;
            }
            fds.clear();
            polled.clear();
            send_slot.clear();
            pidfd_slot.clear();
            fds.push_back({m_wake_read.get(), POLLIN, 0});
            bool answer_due = false; // a call was sent in full: its answer is what comes next
            {
                std::lock_guard lock(m_mutex); // a submitter may be giving a worker its call
                for (auto& w : m_workers) {
                    const bool sends = sends_locked(*w);
                    answer_due = answer_due ||
                                 (w->call != nullptr && !w->call->m_polled && !sends && !w->dead);
                    send_slot.push_back(sends ? 1 : 0); // made an index below
                    fds.push_back({w->channel.answer_fd(), POLLIN, 0});
                    polled.push_back(w.get());
                }
            }
            for (std::size_t i = 0; i != polled.size(); ++i) {
                worker* w = polled[i];
                if (send_slot[i] != 0) {
                    send_slot[i] = fds.size();
                    fds.push_back({w->channel.call_fd(), POLLOUT, 0});
                }
                pidfd_slot.push_back(w->pidfd.get() >= 0 ? fds.size() : 0);
                if (w->pidfd.get() >= 0) {
                    fds.push_back({w->pidfd.get(), POLLIN, 0});
                }
            }
            if (!wait_for_events(fds, answer_due)) {
                continue;
            }
            if (fds[0].revents != 0) {
                char drain[64];
                while (::read(m_wake_read.get(), drain, sizeof drain) > 0) {
                }
            }
            for (std::size_t i = 0; i != polled.size(); ++i) {
                worker& w = *polled[i];
                // POLLOUT is asked for only while w.call has bytes to send,
                // and then only this thread changes w.call.
                if (send_slot[i] != 0 && fds[send_slot[i]].revents != 0 && !is_dead(w) &&
                    !w.channel.write_some(w.call->m_request)) {
                    mark_dead(w); // EPIPE / ECONNRESET: the worker died
                }
                const bool readable = (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
                const std::size_t slot = pidfd_slot[i];
                const bool exited = slot != 0 && fds[slot].revents != 0;
                // A submitter reading w's answers (poll_answer) keeps them:
                // the next poll() reports what it leaves.
                if ((readable || exited) && begin_reading(w)) {
                    if (exited) {
                        // It exited: take what it wrote before, then reap it.
                        read_from(w, ~std::size_t{0});
                        mark_dead(w);
                    } else {
                        read_from(w);
                    }
                    end_reading(w);
                }
            }
        }
        stop_all();
    }

    /// Wakes the I/O thread. Any thread.
    void wake_io() noexcept override {
        const char byte = 1;
        [[maybe_unused]] const ssize_t n = ::write(m_wake_write.get(), &byte, 1); // EAGAIN: pending
    }

    /// The I/O thread's wait for `fds`: false on a poll() error. While an
    /// answer is due it first polls without blocking, for as long as
    /// m_answer_spin says that pays: a small call's answer then is read
    /// within a microsecond instead of after a ~10 µs wake-up, the same trade
    /// the loop makes for its completions (detail/spin.hpp).
    bool wait_for_events(std::vector<pollfd>& fds, bool answer_due) {
        wait_clock waited;
        if (answer_due) {
            const auto spin = m_answer_spin.next_spin();
            int ready = 0;
            const auto poll_now = [&] {
                ready = ::poll(fds.data(), fds.size(), 0);
                return ready != 0;
            };
            if (spin > std::chrono::steady_clock::duration::zero() &&
                spin_until(poll_now, spin, waited, 1)) {
                if (ready > 0) m_answer_spin.record(waited.elapsed());
                return ready > 0;
            }
            (void)waited.start();
        }
        if (::poll(fds.data(), fds.size(), poll_timeout_ms()) < 0) {
            if (errno != EINTR) {
                // EINVAL: more fds than RLIMIT_NOFILE (lowered meanwhile); do not spin.
                ::poll(nullptr, 0, 10);
            }
            return false;
        }
        if (answer_due) m_answer_spin.record(waited.elapsed());
        return true;
    }

private:
    /// One worker process, as the I/O thread sees it.
    struct worker {
        pid_t pid = -1;
        process_channel channel;       ///< I/O thread only
        unique_fd pidfd;               ///< readable once it exits; I/O thread only
        std::string kill_reason;       ///< why the pool killed it; I/O thread only
        bool kill_fails_codec = false; ///< fail its call with serialization_error
        bool ready = false;            ///< sent `ready`; guarded by m_mutex
        bool dead = false;             ///< to be reaped; guarded by m_mutex
        bool expected_exit = false;    ///< the pool stops it; guarded by m_mutex
        bool writer_outside = false;   ///< `submit` is writing its call; guarded by m_mutex
        /// A thread reads its answers now (the I/O thread, or a submitter
        /// in poll_answer); guarded by m_mutex.
        bool being_read = false;
        std::shared_ptr<process_call_base> call; ///< guarded by m_mutex
        std::size_t calls_done = 0;              ///< guarded by m_mutex
    };

    [[nodiscard]] static bool idle_locked(const worker& w) noexcept {
        return w.ready && !w.dead && !w.call && !w.writer_outside;
    }

    /// A worker that can take a call now, or null.
    [[nodiscard]] worker* idle_worker_locked() const noexcept {
        if (m_broken) {
            return nullptr;
        }
        for (const auto& w : m_workers) {
            if (idle_locked(*w)) {
                return w.get();
            }
        }
        return nullptr;
    }

    /// Whether the I/O thread is to send the rest of `w`'s call frame.
    [[nodiscard]] static bool sends_locked(const worker& w) noexcept {
        return w.call && !w.dead && !w.writer_outside && w.channel.wants_write(w.call->m_request);
    }

    /// Hands queued calls to ready, idle workers.
    void dispatch_locked() {
        if (m_broken) {
            return;
        }
        for (auto& w : m_workers) {
            if (m_queue.empty()) {
                return;
            }
            if (idle_locked(*w)) {
                w->call = std::move(m_queue.front());
                m_queue.pop_front();
                w->call->m_state = process_call_state::running;
            }
        }
    }

    [[nodiscard]] bool any_dead() const {
        std::lock_guard lock(m_mutex);
        return std::any_of(m_workers.begin(), m_workers.end(), [](const auto& w) {
            return w->dead && !w->writer_outside && !w->being_read;
        });
    }

    /// Starts workers until there are `max_workers` (while there is work to
    /// do). A start that fails is retried with back-off while the pool has
    /// live workers; with none, it breaks the pool (at once when
    /// `constructing`, else after `spawn_attempts` failures in a row).
    void replenish(bool constructing = false) {
        for (;;) {
            std::size_t live = 0;
            {
                std::lock_guard lock(m_mutex);
                live =
                    static_cast<std::size_t>(std::count_if(m_workers.begin(), m_workers.end(),
                                                           [](const auto& w) { return !w->dead; }));
                if (m_broken || live >= m_config.max_workers || (m_shutdown && m_queue.empty())) {
                    return;
                }
            }
            if (m_spawn_failures != 0 && std::chrono::steady_clock::now() < m_retry_at) {
                return; // poll_timeout_ms() wakes the loop then
            }
            try {
                spawn();
                m_spawn_failures = 0;
            } catch (...) {
                const std::string what = error_text(std::current_exception());
                if (m_server.gone()) {
                    break_pool("unblock::process_pool_executor: the fork server died (" + what +
                               "); the pool is broken and runs no more work");
                    return;
                }
                ++m_spawn_failures;
                if (live == 0 && (constructing || m_spawn_failures >= spawn_attempts)) {
                    break_pool("unblock::process_pool_executor: could not start a worker process "
                               "(" +
                               what + "); the pool is broken and runs no more work");
                    return;
                }
                // 10 ms, 20 ms, ... 1.28 s: transient limits (EAGAIN, EMFILE) pass.
                const int shift = static_cast<int>(std::min<std::size_t>(m_spawn_failures - 1, 7));
                m_retry_at =
                    std::chrono::steady_clock::now() + std::chrono::milliseconds(10 << shift);
                return;
            }
        }
    }

    /// Failed starts in a row, with no live worker, that break the pool (~2.5 s).
    static constexpr std::size_t spawn_attempts = 8;

    /// poll()'s timeout: until the next start attempt is due, or none.
    [[nodiscard]] int poll_timeout_ms() const {
        if (m_spawn_failures == 0) {
            return -1;
        }
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(
            m_retry_at - std::chrono::steady_clock::now());
        return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, 2000));
    }

    void spawn() {
        unique_fd mine;
        unique_fd theirs;
        process_socketpair(mine, theirs);
        const int buffer = 4 << 20; // fewer wake-ups for large payloads; the kernel may cap it
        for (const int fd : {mine.get(), theirs.get()}) {
            ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
            ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
        }
        process_set_nonblocking(mine.get());
        unique_fd answers; // the pipe's read end: ours
        unique_fd answer_end;
        process_pipe(answers, answer_end);
        // 1 MiB (the unprivileged limit) where allowed: fewer wake-ups for large answers.
        ::fcntl(answer_end.get(), F_SETPIPE_SZ, 1 << 20);
        process_set_nonblocking(answers.get());
        auto w = std::make_unique<worker>();
        w->pid = m_server.spawn(theirs.get(), answer_end.get());
#if defined(SYS_pidfd_open)
        // Safe from pid reuse: only the fork server reaps, and only when asked.
        // Without it (kernel < 5.3) a death is seen as EOF only.
        w->pidfd.reset(process_above_stdio(static_cast<int>(::syscall(SYS_pidfd_open, w->pid, 0))));
#endif
        w->channel = process_channel(std::move(mine), std::move(answers), m_config.max_frame_bytes);
        try {
            std::lock_guard lock(m_mutex);
            m_workers.push_back(std::move(w));
        } catch (...) {
            static_cast<void>(m_server.reap(w->pid)); // not tracked: do not leak it
            throw;
        }
    }

    /// Bytes read from one worker per turn: fairness between workers.
    static constexpr std::size_t read_budget = std::size_t{16} << 20;

    /// Reads `w`'s answers (by the thread that set w.being_read: the I/O
    /// thread, or a submitter in poll_answer if `by_submitter`); kills `w` if
    /// it broke the protocol, marks it dead on EOF.
    void read_from(worker& w, std::size_t budget = read_budget, bool by_submitter = false) {
        process_read_status status = process_read_status::open;
        try {
            status = w.channel.read_some(
                [&](std::vector<std::byte> payload) {
                    handle_frame(w, std::move(payload), by_submitter);
                    return !is_dead(w);
                },
                budget);
        } catch (...) {
            kill_worker(w, "handling its answer failed (" + error_text(std::current_exception()) +
                               ")");
            return;
        }
        switch (status) {
            case process_read_status::open: return;
            case process_read_status::closed: mark_dead(w); return; // EOF: it died
            case process_read_status::bad_header:
                if (w.channel.rejected_foreign()) {
                    kill_worker(w, "it sent bytes that are not a frame of the pool's protocol "
                                   "(does the function write to a socket or fd it does not own?)");
                } else {
                    kill_worker(w, "it announced a frame of " +
                                       std::to_string(w.channel.rejected_length()) +
                                       " bytes, more than options::max_frame_bytes (" +
                                       std::to_string(w.channel.max_frame()) + ")");
                }
                return;
            case process_read_status::no_memory:
                kill_worker(w,
                            "its answer of " + std::to_string(w.channel.rejected_length()) +
                                " bytes could not be allocated in this process (std::bad_alloc); "
                                "return less, or lower options::max_frame_bytes so that the "
                                "worker refuses such a result",
                            true);
                return;
        }
    }

    /// Marks `w` dead because of `reason`: its call fails with
    /// worker_crashed_error (serialization_error if `codec`) saying so.
    void kill_worker(worker& w, std::string reason, bool codec = false) noexcept {
        if (w.kill_reason.empty()) {
            w.kill_reason = std::move(reason);
            w.kill_fails_codec = codec;
        }
        mark_dead(w);
    }

    void handle_frame(worker& w, std::vector<std::byte> payload, bool by_submitter) {
        byte_reader in(payload.data(), payload.size());
        const auto kind = in.read_raw<process_frame>();
        if (kind == process_frame::ready) {
            std::lock_guard lock(m_mutex);
            w.ready = true;
            m_unready_deaths = 0;
            return;
        }
        if (kind == process_frame::init_failed) {
            std::string what = "unknown error";
            try {
                std::rethrow_exception(process_decode_exception(in));
            } catch (const std::exception& e) {
                what = process_demangle(typeid(e).name()) + ": " + e.what();
            } catch (...) {
            }
            break_pool("unblock::process_pool_executor: the worker initializer failed (" + what +
                       "); the pool is broken and runs no more work");
            return;
        }
        if (kind != process_frame::value && kind != process_frame::exception) {
            kill_worker(w, "it sent a frame of unknown kind " +
                               std::to_string(static_cast<int>(kind)));
            return;
        }
        std::shared_ptr<process_call_base> call;
        bool claimed = false;
        {
            std::lock_guard lock(m_mutex);
            call = std::move(w.call); // leaves w.call empty
            if (call && call->m_state == process_call_state::running) {
                call->m_state = process_call_state::finishing;
                claimed = true;
                ++m_completed;
                m_read_by_loop += by_submitter ? 1 : 0;
            }
            ++w.calls_done;
            if (m_config.max_tasks_per_child != 0 && w.calls_done >= m_config.max_tasks_per_child) {
                w.dead = true;
                w.expected_exit = true;
            }
        }
        if (!call) {
            kill_worker(w, "it sent an answer while it ran no call");
            return;
        }
        if (!claimed) {
            return; // cancelled meanwhile: the canceller completed it
        }
        if (kind == process_frame::value) {
            call->complete_value(in);
        } else {
            std::exception_ptr error;
            try {
                error = process_decode_exception(in);
            } catch (...) {
                error = std::current_exception();
            }
            call->complete_error(std::move(error));
        }
    }

    void mark_dead(worker& w) {
        std::lock_guard lock(m_mutex);
        w.dead = true;
    }

    [[nodiscard]] bool is_dead(const worker& w) const {
        std::lock_guard lock(m_mutex);
        return w.dead;
    }

    /// Takes `w`'s read side for the I/O thread: false if it is dead or a
    /// submitter is reading it (poll_answer).
    [[nodiscard]] bool begin_reading(worker& w) {
        std::lock_guard lock(m_mutex);
        if (w.dead || w.being_read) {
            return false;
        }
        w.being_read = true;
        return true;
    }

    void end_reading(worker& w) {
        std::lock_guard lock(m_mutex);
        w.being_read = false;
    }

    /// Reaps dead workers, fails their calls with `worker_crashed_error`, and
    /// breaks the pool if a worker died in its initializer.
    void sweep() {
        for (;;) {
            worker* w = nullptr;
            {
                std::lock_guard lock(m_mutex);
                for (auto& candidate : m_workers) {
                    if (candidate->dead && !candidate->writer_outside &&
                        !candidate->being_read) { // else submit or poll_answer wakes us
                        w = candidate.get();
                        break;
                    }
                }
            }
            if (w == nullptr) {
                return;
            }
            w->channel.close();
            std::string how = "unknown status (the fork server is gone)";
            bool exited = false; // by exit(), not by a signal
            if (!m_server.gone()) {
                try {
                    const int status = m_server.reap(w->pid);
                    exited = WIFEXITED(status);
                    how = process_describe_status(status);
                } catch (...) {
                    how = "unknown status (" + error_text(std::current_exception()) + ")";
                }
            }
            if (!w->kill_reason.empty()) {
                how = "killed by the pool because " + w->kill_reason; // not "signal 9"
            }
            const bool fails_codec = w->kill_fails_codec;
            std::shared_ptr<process_call_base> call;
            bool claimed = false;
            bool in_initializer = false;
            bool failed_start = false;
            bool replaced = false;
            const pid_t pid = w->pid;
            {
                std::lock_guard lock(m_mutex);
                replaced = !m_shutdown && !m_broken && !m_server.gone();
                call = std::move(w->call);
                if (call && call->m_state == process_call_state::running) {
                    call->m_state = process_call_state::finishing;
                    claimed = true;
                }
                if (!w->expected_exit) {
                    ++m_crashed;
                    in_initializer = !w->ready && m_config.initializer != nullptr;
                    if (!w->ready && m_config.method == start_method::spawn) {
                        // A spawned worker that exits before `ready` did not
                        // enter the worker (or its image cannot start); one that
                        // keeps dying before `ready` is no better.
                        failed_start = exited || ++m_unready_deaths >= spawn_attempts;
                    }
                }
                m_workers.erase(std::find_if(m_workers.begin(), m_workers.end(),
                                             [&](const auto& x) { return x.get() == w; }));
            }
            if (claimed) {
                const std::string next = replaced ? "; a replacement is starting" : "";
                const std::string what = "unblock::process_pool_executor: the worker process "
                                         "(pid " +
                                         std::to_string(pid) +
                                         ") died while running the call: " + how + next;
                call->complete_error(fails_codec ? process_make_error<serialization_error>(what)
                                                 : process_make_error<worker_crashed_error>(what));
            }
            if (in_initializer) {
                break_pool("unblock::process_pool_executor: the worker initializer failed (the "
                           "worker process ended before it was ready: " +
                           how + "); the pool is broken and runs no more work" +
                           (failed_start ? std::string("; if it is not the initializer: ") +
                                               process_worker_hook_hint
                                         : std::string()));
            } else if (failed_start && exited) {
                break_pool("unblock::process_pool_executor: a spawned worker process ended before "
                           "it was ready (" +
                           how + "); " + process_worker_hook_hint +
                           "; the pool is broken and runs no more work");
            } else if (failed_start) {
                // Killed, not exited: the hook may be fine, the image or the
                // machine is not (a crash at start-up, an OOM killer).
                break_pool("unblock::process_pool_executor: " + std::to_string(spawn_attempts) +
                           " spawned worker processes in a row ended before they were ready "
                           "(the last: " +
                           how +
                           "), so new ones would too; the pool is broken and runs no more work");
            }
            if (m_server.gone()) {
                break_pool("unblock::process_pool_executor: the fork server died; the pool is "
                           "broken and runs no more work");
            }
        }
    }

    /// Fails every queued and running call with `broken_executor_error` and
    /// stops all workers; later submissions throw it.
    void break_pool(const std::string& reason) {
        process_call_queue victims;
        {
            std::lock_guard lock(m_mutex);
            if (m_broken) {
                return;
            }
            m_broken = true;
            m_broken_reason = reason;
            victims = withdraw_all_locked();
            for (auto& w : m_workers) {
                if (w->call && w->call->m_state == process_call_state::running) {
                    w->call->m_state = process_call_state::finishing;
                    victims.push_back(w->call);
                }
                w->dead = true;
                w->expected_exit = true;
            }
        }
        process_fail_all<broken_executor_error>(victims, reason);
    }

    /// Stops every worker and the fork server (I/O thread, at the end).
    void stop_all() noexcept {
        std::vector<std::unique_ptr<worker>> workers;
        {
            std::lock_guard lock(m_mutex);
            workers.swap(m_workers);
        }
        for (auto& w : workers) {
            w->channel.close(); // an idle worker sees EOF
            if (!m_server.gone()) {
                try {
                    static_cast<void>(m_server.reap(w->pid));
                } catch (...) {
                    // gone, or this pid failed: the server kills the rest when it stops
                }
            }
        }
        m_server.stop();
    }

    const process_pool_config m_config;
    process_launcher m_server;        // I/O thread only (and the constructor)
    std::size_t m_spawn_failures = 0; // in a row; I/O thread only
    std::size_t m_unready_deaths = 0; // spawned workers dead before `ready`, in a row; I/O thread
    std::chrono::steady_clock::time_point m_retry_at; // next start attempt; I/O thread only
    unique_fd m_wake_read;
    unique_fd m_wake_write;
    /// Whether the I/O thread spins for answers; I/O thread only.
    spin_advisor m_answer_spin{std::chrono::microseconds(50)};

    std::vector<std::unique_ptr<worker>> m_workers; // guarded by m_mutex; I/O thread mutates
    std::vector<std::uint64_t> m_kills;             // guarded by m_mutex
    std::vector<worker*> m_sending; // workers with a frame to send this turn; I/O thread only
    std::uint64_t m_next_id = 0;    // guarded by m_mutex
    std::size_t m_completed = 0;    // guarded by m_mutex
    std::size_t m_read_by_loop = 0; // guarded by m_mutex
    std::size_t m_crashed = 0;      // guarded by m_mutex
};

} // namespace unblock::detail
