/// \file detail/process_offload.hpp
/// `run_in_executor` on a process pool: the future's state for a call that
/// runs in another process.
#pragma once

#include "../future.hpp"
#include "loop_core.hpp"
#include "process_call.hpp"

#include <memory>
#include <type_traits>
#include <utility>

namespace unblock::detail {

/// Executors whose calls cross a process boundary (process_pool_executor):
/// run_in_executor hands them the function and its arguments, not a closure.
template <class E>
concept process_executor = requires {
    typename E::process_executor_tag;
};

/// A future's state for one process-pool call. The pool's completion callback
/// posts the state to the loop's inbox; a withdrawn or killed call is done at
/// once (cancelled) and its completion still arrives, releasing the work's
/// reference.
template <class R>
class process_future_state final : public future_state<R>, public loop_node {
public:
    process_future_state() noexcept : loop_node(&on_complete) {}

    /// Starts `f(args...)` on `pool`. Throws what `pool.start` throws; then
    /// nothing will complete.
    template <class Pool, class F, class... Args>
    void launch(Pool& pool, F&& f, Args&&... args) {
        auto call = pool.start([this] { this->m_event_loop->post_threadsafe(this); },
                               std::forward<F>(f), std::forward<Args>(args)...);
        // A callable the pool refused has already produced the pool's own
        // static_assert; do not pile a type mismatch on top of it.
        if constexpr (std::is_same_v<decltype(call), std::shared_ptr<process_call<R>>>) {
            m_call = std::move(call);
        }
    }

    result_slot<R>& result() noexcept override { return m_result; }

private:
    /// Withdraws a queued call or kills the worker running it: either way the
    /// call is over, with cancelled_error, when this returns.
    bool withdraw() noexcept override { return m_call->cancel() != cancel_outcome::too_late; }
    void request_stop() noexcept override {} // too late: the result is already on its way
    bool completion_follows_withdrawal() const noexcept override { return true; }

    static void on_complete(loop_node* node) noexcept {
        auto* self = static_cast<process_future_state*>(node);
        if (!self->m_done) store_result(self->m_result, [self] { return self->m_call->take(); });
        self->work_completed();
    }

    std::shared_ptr<process_call<R>> m_call;
    result_slot<R> m_result;
};

} // namespace unblock::detail
