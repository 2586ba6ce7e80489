/// \file detail/process/offload.hpp
/// `run_in_executor` on an executor whose calls run in another process: the
/// future's state for such a call, and `process_executor_api::start_future`.
/// Included at the bottom of process_pool.hpp and mpi.hpp: the loop never
/// includes it.
#pragma once

#include "../../future.hpp"
#include "call.hpp"
#include "executor_api.hpp"

#include <memory>
#include <utility>

namespace unblock::detail {

/// A future's state for one process-pool call. The pool's completion callback
/// posts the state to the loop's inbox; a withdrawn or killed call is done at
/// once (cancelled) and its completion still arrives, releasing the work's
/// reference.
template <class Result>
class process_future_state final : public future_state<Result>, public loop_node {
public:
    process_future_state() noexcept : loop_node(&on_complete) { this->m_completion = this; }

    /// Starts `f(args...)` on `pool` (a process pool, or any executor with
    /// the same `start`). Throws what `pool.start` throws; then nothing will
    /// complete.
    template <class Pool, class Function, class... Args>
    void launch(Pool& pool, Function&& f, Args&&... args) {
        m_call = pool.start([this] { loop_access::post(*this->m_event_loop, this); },
                            std::forward<Function>(f), std::forward<Args>(args)...);
    }

    result_slot<Result>& result() noexcept override { return m_result; }

private:
    /// Withdraws a queued call or kills the worker running it: either way the
    /// call is over, with cancelled_error, when this returns.
    bool withdraw() noexcept override { return m_call->cancel() != cancel_outcome::too_late; }
    void request_stop() noexcept override {} // too late: the result is already on its way
    bool completion_follows_withdrawal() const noexcept override { return true; }

    static void on_complete(loop_node* node) noexcept {
        auto* self = static_cast<process_future_state*>(node);
        if (!self->m_done) store_result(self->m_result, [self] { return self->m_call->take(); });
        self->work_completed_on_loop();
    }

    std::shared_ptr<process_call<Result>> m_call;
    result_slot<Result> m_result;
};

} // namespace unblock::detail

namespace unblock::detail {

template <class Derived>
template <class Loop, class Function, class... Args>
auto process_executor_api<Derived>::start_future(Loop& loop, Function f, Args&&... args)
    -> future<process_result_t<Function, Args...>> {
    check<Function, Args...>();
    using result = process_result_t<Function, Args...>;
    auto* state = new process_future_state<result>();
    // Not spun for by the loop: the executor's I/O thread spins for the
    // answer (pool_core.hpp), and the loop sleeps until it posts it.
    return detail::start_future<result>(
        loop, state,
        [&] {
            state->launch(self(), f, std::forward<Args>(args)...);
            return false; // completes on the executor's I/O thread
        },
        false);
}

} // namespace unblock::detail
