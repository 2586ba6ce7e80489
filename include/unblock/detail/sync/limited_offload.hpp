/// \file detail/sync/limited_offload.hpp
/// `capacity_limiter::run`'s awaiter: wait for a token, then offload, in one
/// awaiter and without a coroutine frame of its own.
#pragma once

#include "../../errors.hpp"
#include "../../event_loop.hpp"
#include "../../thread_pool.hpp"
#include "../loop/cancellable_wait.hpp"
#include "../threads/offload_operation.hpp"
#include "permit_pool.hpp"
#include "waiter_list.hpp"

#include <coroutine>
#include <exception>
#include <utility>

namespace unblock::detail {

/// Takes a token of `permits` (waiting first-in first-out if none is free),
/// runs the call on the loop's default executor, gives the token back when
/// the call has finished, and yields its result. Allocates nothing: the
/// awaiter is the FIFO node, the work item and the completion node.
///
/// Cancelled while waiting for a token, it leaves the FIFO and runs nothing
/// (granted meanwhile, it passes the token on); cancelled while the call
/// runs, it behaves as to_thread (withdraws queued work, requests the stop
/// token of running work, and waits for it).
template <class Call>
class limited_offload_awaiter final : public pool_operation<Call>, cancellable_wait {
    using operation = pool_operation<Call>;

public:
    using result_type = typename operation::result_type;

    limited_offload_awaiter(permit_pool& permits, Call&& call)
        : operation(std::move(call), &on_complete), m_permits(&permits), m_grant(this) {}
    limited_offload_awaiter(const limited_offload_awaiter&) = delete;
    limited_offload_awaiter& operator=(const limited_offload_awaiter&) = delete;

    bool await_ready() const noexcept { return false; }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) {
        task_state* waiter = task_of(awaiting);
        m_event_loop = (waiter && waiter->m_loop) ? waiter->m_loop : &get_running_loop();
        m_awaiting = awaiting;
        this->m_task = waiter; // debug mode names the task the completion resumes
        if (m_permits->try_take("unblock::capacity_limiter::run()")) {
            try {
                start();
            } catch (...) {
                m_permits->give_back();
                throw;
            }
        } else {
            m_permits->waiters().push(m_grant, awaiting, waiter);
        }
        begin_wait(waiter);
    }

    result_type await_resume() {
        end_wait();
        throw_if_cancelled();
        return this->m_result.take();
    }

private:
    /// The FIFO node; scheduled when granted a token or withdrawn by a cancel.
    struct grant_node final : waiter_node {
        explicit grant_node(limited_offload_awaiter* owner) noexcept
            : waiter_node(&on_scheduled), m_owner(owner) {}
        static void on_scheduled(loop_node* node) noexcept {
            static_cast<grant_node*>(node)->m_owner->granted();
        }
        limited_offload_awaiter* m_owner;
    };

    /// Hands the call to the pool; from now on its completion resumes us.
    void start() {
        offload_token in_flight(*m_event_loop);
        operation::start(m_event_loop->default_executor(), *m_event_loop); // never inline
        m_in_flight = std::move(in_flight);
        m_running = true;
    }

    /// The grant node ran: start the call, or resume to throw.
    void granted() noexcept {
        if (m_grant.is_granted() && !cancel_requested()) {
            try {
                start();
                return;
            } catch (...) {
                this->m_result.set_exception(std::current_exception());
            }
        }
        if (m_grant.is_granted()) m_permits->give_back(); // cancelled after the grant
        m_awaiting.resume();
    }

    static void on_complete(loop_node* node) noexcept {
        auto* self = static_cast<limited_offload_awaiter*>(static_cast<operation*>(node));
        self->m_in_flight.reset();
        self->m_permits->give_back(); // the next waiter is granted before we resume
        self->m_awaiting.resume();
    }

    void on_cancel() noexcept override {
        if (!m_running) {
            // Still in the FIFO: leave it (the node runs and resumes us). Granted
            // already: the scheduled node sees the cancel and passes the token on.
            static_cast<void>(waiter_list::withdraw(*m_event_loop, m_grant));
        } else if (this->withdraw()) {
            // The call never runs: complete in the next iteration, as it would.
            loop_access::schedule(*m_event_loop,
                                  static_cast<loop_node*>(static_cast<operation*>(this)));
        } else {
            this->request_stop();
        }
    }

    permit_pool* m_permits;
    grant_node m_grant;
    std::coroutine_handle<> m_awaiting;
    event_loop* m_event_loop = nullptr;
    offload_token m_in_flight;
    bool m_running = false;
};

/// What `capacity_limiter::run` returns: lazy, awaitable once; the await
/// builds the awaiter in place (it is a FIFO node and a work item: never moved).
template <class Call>
class [[nodiscard]] limited_call {
public:
    limited_call(permit_pool& permits, Call call) : m_permits(&permits), m_call(std::move(call)) {}

    limited_offload_awaiter<Call> operator co_await() && { return {*m_permits, take_call()}; }
    limited_offload_awaiter<Call> operator co_await() & { return {*m_permits, take_call()}; }

private:
    Call&& take_call() {
        if (m_awaited) {
            throw invalid_state_error(
                "unblock::capacity_limiter::run(): this call was already awaited, and its "
                "arguments were moved into it; call run(f, args...) again to run f again");
        }
        m_awaited = true;
        return std::move(m_call);
    }

    permit_pool* m_permits;
    Call m_call;
    bool m_awaited = false;
};

} // namespace unblock::detail
