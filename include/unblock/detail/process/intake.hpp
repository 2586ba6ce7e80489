/// \file detail/process/intake.hpp
/// `process_call_intake`: the accepting side that the executors of process
/// calls (the process pool and the MPI executor) share — the calls accepted
/// and not yet given to a worker, whether calls are still accepted, and the
/// shutdown that stops accepting them.
///
/// Calls are claimed as everywhere in these executors: under the mutex, by
/// setting `finishing` (call.hpp); the claimed calls are completed after
/// unlocking, since their `on_done` may submit again.
#pragma once

#include "../../errors.hpp"
#include "call.hpp"

#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

namespace unblock::detail {

using process_call_queue = std::deque<std::shared_ptr<process_call_base>>;

/// Completes each claimed call with its own new `Error(args...)`. Without the
/// executor's mutex.
template <class Error, class... Given>
void process_fail_all(const process_call_queue& claimed, const Given&... args) {
    for (const auto& call : claimed) {
        call->complete_error(process_make_error<Error>(args...));
    }
}

/// Base of an executor core whose I/O thread gives queued calls to workers.
/// Thread-safe as documented per member.
class process_call_intake : public process_call_owner {
public:
    /// Throws what a submission would throw once no more calls are accepted. Any thread.
    void check_open() const {
        std::lock_guard lock(m_mutex);
        throw_if_closed_locked();
    }

    /// Accepts no more calls; with `cancel_futures`, completes the queued ones
    /// with `cancelled_error` (their `on_done` runs here). The I/O thread
    /// finishes the running ones. Any thread.
    void shutdown(bool cancel_futures) {
        process_call_queue withdrawn;
        {
            std::lock_guard lock(m_mutex);
            m_shutdown = true;
            if (cancel_futures) {
                withdrawn = withdraw_all_locked();
            }
        }
        wake_io();
        process_fail_all<cancelled_error>(withdrawn);
    }

protected:
    process_call_intake() = default;
    ~process_call_intake() = default;

    /// Makes the I/O thread look at the queue and the shutdown flag again.
    virtual void wake_io() noexcept = 0;

    /// `broken_executor_error` saying why, or `executor_shutdown_error`, once
    /// no more calls are accepted. With m_mutex held.
    void throw_if_closed_locked() const {
        if (m_broken) {
            throw broken_executor_error(m_broken_reason);
        }
        if (m_shutdown) {
            throw executor_shutdown_error();
        }
    }

    /// Removes `call` from the queue and claims it, if it is still queued.
    /// With m_mutex held.
    [[nodiscard]] bool withdraw_queued_locked(process_call_base& call) {
        if (call.m_state != process_call_state::queued) {
            return false;
        }
        const auto it = std::find_if(m_queue.begin(), m_queue.end(),
                                     [&](const auto& queued) { return queued.get() == &call; });
        if (it != m_queue.end()) {
            m_queue.erase(it);
        }
        call.m_state = process_call_state::finishing;
        return true;
    }

    /// Takes every queued call out of the queue and claims it. With m_mutex held.
    [[nodiscard]] process_call_queue withdraw_all_locked() noexcept {
        process_call_queue taken;
        taken.swap(m_queue);
        for (auto& call : taken) {
            call->m_state = process_call_state::finishing;
        }
        return taken;
    }

    mutable std::mutex m_mutex;
    process_call_queue m_queue;  ///< accepted, not given to a worker; guarded by m_mutex
    bool m_shutdown = false;     ///< guarded by m_mutex
    bool m_broken = false;       ///< guarded by m_mutex
    std::string m_broken_reason; ///< why m_broken; guarded by m_mutex
};

} // namespace unblock::detail
