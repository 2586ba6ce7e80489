/// \file detail/process/offload.hpp
/// `run_in_executor` on a process pool: the future's state for a call that
/// runs in another process, and `process_pool_executor::start_future`.
/// Included at the bottom of process_pool.hpp: the loop never includes it.
#pragma once

#include "../../future.hpp"
#include "../../process_pool.hpp"
#include "call.hpp"

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

namespace unblock {

template <class Loop, class Function, class... Args>
auto process_pool_executor::start_future(Loop& loop, Function f, Args&&... args)
    -> future<detail::process_result_t<Function, Args...>> {
    check<Function, Args...>();
    using result = detail::process_result_t<Function, Args...>;
    auto* state = new detail::process_future_state<result>();
    return detail::start_future<result>(loop, state, [&] {
        state->launch(*this, f, std::forward<Args>(args)...);
        return false; // completes on the pool's I/O thread
    });
}

} // namespace unblock
