/// \file detail/process/offload.hpp
/// `run_in_executor` on an executor whose calls run in another process: the
/// future's state for such a call, and `process_executor_api::start_future`.
/// Included at the bottom of process_pool.hpp and mpi.hpp: the loop never
/// includes it.
#pragma once

#include "../../future.hpp"
#include "../loop/loop_probe.hpp"
#include "call.hpp"
#include "executor_api.hpp"

#include <memory>
#include <utility>

namespace unblock::detail {

/// A future's state for one process-pool call. The pool's completion callback
/// posts the state to the loop's inbox; a withdrawn or killed call is done at
/// once (cancelled) and its completion still arrives, releasing the work's
/// reference.
///
/// A call its submitting loop wrote to an idle worker itself (`m_polled`) is
/// also a probe of that loop: while the loop spins for it, it reads the
/// worker's answer pipe itself (process_pool_core::poll_answer), so the
/// answer costs neither the pool's I/O thread nor a wake-up of the loop.
template <class Result>
class process_future_state final : public future_state<Result>,
                                   public loop_node,
                                   public loop_probe {
public:
    process_future_state() noexcept : loop_node(&on_complete), loop_probe(&poll) {
        this->m_completion = this;
    }

    /// The call's shared state with `on_done` set: it posts this state to
    /// the loop. For `launch` in process_executor_api::start_future.
    template <class Call>
    std::shared_ptr<Call> make_call() {
        auto call = std::make_shared<Call>();
        call->m_on_done = [this] { loop_access::post(*this->m_event_loop, this); };
        call->m_submitter_polls = true;
        return call;
    }

    /// `call` was submitted; if the loop wrote it to its worker, the loop
    /// spins for the answer and reads it itself.
    void started(std::shared_ptr<process_call<Result>> call) noexcept {
        m_call = std::move(call);
        if (m_call->m_polled) { // written by this thread, in submit
            this->m_in_flight = offload_token(*this->m_event_loop, true);
            loop_access::add_probe(*this->m_event_loop, this);
        }
    }

    ~process_future_state() override { static_cast<loop_probe&>(*this).unlink(); }

    result_slot<Result>& result() noexcept override { return m_result; }

private:
    /// Withdraws a queued call or kills the worker running it: either way the
    /// call is over, with cancelled_error, when this returns.
    bool withdraw() noexcept override { return m_call->cancel() != cancel_outcome::too_late; }
    void request_stop() noexcept override {} // too late: the result is already on its way
    bool completion_follows_withdrawal() const noexcept override { return true; }

    static void on_complete(loop_node* node) noexcept {
        auto* self = static_cast<process_future_state*>(node);
        static_cast<loop_probe&>(*self).unlink();
        if (!self->m_done) store_result(self->m_result, [self] { return self->m_call->take(); });
        self->work_completed_on_loop();
    }

    static void poll(loop_probe* probe) noexcept {
        static_cast<process_future_state*>(probe)->m_call->poll_answer();
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
    // Spun for by the loop only if it reads the answer itself (`started`):
    // otherwise the executor's I/O thread spins for the answer
    // (pool_core.hpp), and two spinners beside the worker are one too many.
    return detail::start_future<result>(
        loop, state,
        [&] {
            auto call = state->template make_call<process_call<result>>();
            launch(call, f, std::forward<Args>(args)...);
            state->started(std::move(call));
            return false; // completes on the executor's I/O thread, or in a probe
        },
        false);
}

} // namespace unblock::detail
