/// \file detail/mpi/pool_core.hpp
/// The engine of `mpi_pool_executor` in rank 0: the call queue, one slot per
/// worker rank, and the I/O thread — the only thread of rank 0 that calls MPI
/// while the executor runs, so MPI_THREAD_SERIALIZED suffices.
///
/// The I/O thread gives each idle worker the oldest queued call (MPI_Isend),
/// polls for answers (detail/mpi/transport.hpp: spin, then back off up to
/// 1 ms, woken at once by a submission), and completes each call with its
/// answer; the call's `on_done` then posts to the event loop's inbox like
/// every executor's completion. With nothing running and nothing queued it
/// sleeps on a condition variable: an idle executor costs no CPU in rank 0.
#pragma once

#include "../process/call.hpp"
#include "../process/intake.hpp"
#include "../process/wire.hpp"
#include "transport.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <mpi.h>

namespace unblock {

/// A snapshot of an MPI executor's activity (`mpi_pool_executor::stats()`).
struct mpi_pool_stats {
    std::size_t queued = 0;    ///< calls waiting for a worker
    std::size_t running = 0;   ///< calls sent to a worker, not answered yet
    std::size_t completed = 0; ///< calls answered (value or exception)
};

} // namespace unblock

namespace unblock::detail {

/// Where an `mpi_pool_core` finds its workers.
struct mpi_pool_config {
    MPI_Comm comm = MPI_COMM_NULL; ///< the executor's communicator (not owned)
    int first_worker = 1;          ///< rank of the first worker on `comm`
    int workers = 0;               ///< worker ranks: first_worker .. first_worker + workers - 1
    std::uint64_t max_frame = process_default_max_frame;
};

class mpi_pool_core final : public process_call_intake,
                            public std::enable_shared_from_this<mpi_pool_core> {
public:
    explicit mpi_pool_core(mpi_pool_config config)
        : m_config(config), m_workers(static_cast<std::size_t>(config.workers)) {}

    /// Queues `call` (its `m_request` holds the frame). Any thread. Throws
    /// `executor_shutdown_error` after shutdown, `broken_executor_error` once broken.
    void submit(const std::shared_ptr<process_call_base>& call) {
        {
            std::lock_guard lock(m_mutex);
            throw_if_closed_locked();
            call->m_owner = weak_from_this();
            call->m_state = process_call_state::queued;
            m_queue.push_back(call);
        }
        wake_io();
    }

    [[nodiscard]] mpi_pool_stats stats() const {
        std::lock_guard lock(m_mutex);
        return {m_queue.size(), m_running, m_completed};
    }

    /// A queued call is withdrawn. A running one runs to its end: a rank
    /// cannot be killed without ending the MPI job, so, as with
    /// concurrent.futures' Future.cancel() on a running call, it is too late.
    cancel_outcome cancel(process_call_base& call) noexcept override {
        std::unique_lock lock(m_mutex);
        if (!withdraw_queued_locked(call)) return cancel_outcome::too_late;
        lock.unlock();
        call.complete_error(process_make_error<cancelled_error>());
        return cancel_outcome::withdrawn;
    }

    /// The I/O thread: runs until shut down with nothing queued or running.
    /// An MPI failure breaks the executor: every call fails with
    /// `broken_executor_error` saying why.
    void run() noexcept {
        try {
            serve();
        } catch (const std::exception& e) {
            break_executor(std::string("unblock::mpi_pool_executor: MPI failed, the executor is "
                                       "broken: ") +
                           e.what());
        }
    }

private:
    void wake_io() noexcept override { m_wake.notify_one(); }

    struct worker_slot {
        std::shared_ptr<process_call_base> call;     ///< running here, or null when idle
        std::vector<std::byte> sending;              ///< the call frame MPI_Isend reads
        MPI_Request send_request = MPI_REQUEST_NULL; ///< the frame's MPI_Isend
    };

    [[nodiscard]] bool any_running() const noexcept {
        return std::any_of(m_workers.begin(), m_workers.end(),
                           [](const worker_slot& w) { return w.call != nullptr; });
    }

    void serve() {
        mpi_backoff backoff;
        mpi_message answer;
        std::unique_lock lock(m_mutex);
        while (true) {
            dispatch(lock);
            if (!any_running()) {
                if (m_shutdown && m_queue.empty()) return;
                // Nothing can arrive: sleep until a submission or shutdown.
                m_wake.wait(lock, [&] { return m_shutdown || !m_queue.empty(); });
                continue;
            }
            lock.unlock();
            const bool arrived = mpi_poll(m_config.comm, MPI_ANY_SOURCE, answer);
            if (arrived) complete(answer);
            lock.lock();
            if (arrived) {
                backoff.reset();
            } else if (const auto pause = backoff.next(); pause.count() > 0) {
                m_wake.wait_for(lock, pause); // a submission wakes it early
            }
        }
    }

    /// Gives each idle worker the oldest queued call. Called and returns with `lock` held.
    void dispatch(std::unique_lock<std::mutex>& lock) {
        for (std::size_t i = 0; i != m_workers.size() && !m_queue.empty(); ++i) {
            worker_slot& w = m_workers[i];
            if (w.call) continue;
            w.call = std::move(m_queue.front());
            m_queue.pop_front();
            w.call->m_state = process_call_state::running;
            ++m_running;
            w.sending = std::move(w.call->m_request);
            lock.unlock();
            const int code = MPI_Isend(w.sending.data(), integer_cast<int>(w.sending.size()),
                                       MPI_BYTE, m_config.first_worker + static_cast<int>(i),
                                       mpi_tag_call, m_config.comm, &w.send_request);
            lock.lock();
            mpi_check(code, "MPI_Isend");
        }
    }

    /// Completes the call of the worker that sent `answer`.
    void complete(mpi_message& answer) {
        const int index = answer.source - m_config.first_worker;
        if (answer.tag != mpi_tag_answer || index < 0 || index >= m_config.workers) return;
        worker_slot& w = m_workers[static_cast<std::size_t>(index)];
        if (!w.call) return;
        // The worker answered, so it received the frame: this wait returns at once.
        mpi_check(MPI_Wait(&w.send_request, MPI_STATUS_IGNORE), "MPI_Wait");
        w.sending = {};
        const std::shared_ptr<process_call_base> call = std::move(w.call);
        {
            std::lock_guard lock(m_mutex);
            call->m_state = process_call_state::finishing;
            --m_running;
            ++m_completed;
        }
        std::uint64_t length = 0;
        const std::vector<std::byte>& bytes = answer.bytes;
        if (bytes.size() < process_header_bytes + 1 ||
            !process_parse_header(bytes.data(), length) ||
            length != bytes.size() - process_header_bytes) {
            call->complete_error(process_make_error<serialization_error>(
                "unblock::mpi_pool_executor: rank " + std::to_string(answer.source) +
                " answered with a message that is not an answer frame"));
            return;
        }
        if (length > m_config.max_frame) {
            call->complete_error(process_make_error<serialization_error>(
                "unblock::mpi_pool_executor: the result encodes to " + std::to_string(length) +
                " bytes, more than options::max_frame_bytes (" +
                std::to_string(m_config.max_frame) + "); raise max_frame_bytes or return less"));
            return;
        }
        byte_reader in(bytes.data() + process_header_bytes, bytes.size() - process_header_bytes);
        const auto kind = in.read_raw<process_frame>();
        if (kind == process_frame::value) {
            call->complete_value(in);
            return;
        }
        std::exception_ptr error;
        try {
            if (kind != process_frame::exception) {
                throw serialization_error("unblock::mpi_pool_executor: rank " +
                                          std::to_string(answer.source) +
                                          " answered with an unknown frame kind");
            }
            error = process_decode_exception(in);
        } catch (...) {
            error = std::current_exception();
        }
        call->complete_error(std::move(error));
    }

    /// Fails every queued and running call and refuses new ones.
    void break_executor(const std::string& reason) noexcept {
        process_call_queue victims;
        try {
            std::lock_guard lock(m_mutex);
            m_broken_reason = reason;
            m_broken = true;
            victims = withdraw_all_locked();
            for (auto& w : m_workers) {
                if (!w.call) continue;
                w.call->m_state = process_call_state::finishing;
                victims.push_back(std::move(w.call));
            }
        } catch (...) {
            // Out of memory while breaking: the calls already moved still fail below.
        }
        process_fail_all<broken_executor_error>(victims, reason);
    }

    const mpi_pool_config m_config;
    std::condition_variable m_wake;
    std::size_t m_running = 0;          ///< guarded by m_mutex
    std::size_t m_completed = 0;        ///< guarded by m_mutex
    std::vector<worker_slot> m_workers; ///< the I/O thread's, but for break_executor
};

} // namespace unblock::detail
