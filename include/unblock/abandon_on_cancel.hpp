/// \file abandon_on_cancel.hpp
/// `to_thread(abandon_on_cancel, f, args...)`: a blocking call that a
/// cancellation leaves behind instead of waiting for (AnyIO's abandon_on_cancel).
#pragma once

#include "detail/loop/cancellable_wait.hpp"
#include "detail/loop/loop_node.hpp"
#include "errors.hpp"
#include "event_loop.hpp"
#include "offload.hpp"
#include "thread_pool.hpp"

#include <atomic>
#include <coroutine>
#include <functional>
#include <type_traits>
#include <utility>

namespace unblock {

/// Tag: `to_thread(abandon_on_cancel, f, args...)`.
struct abandon_on_cancel_t {
    explicit abandon_on_cancel_t() = default;
};
inline constexpr abandon_on_cancel_t abandon_on_cancel{};

namespace detail {

template <class Type>
inline constexpr bool is_reference_wrapper_v = false;
template <class Type>
inline constexpr bool is_reference_wrapper_v<std::reference_wrapper<Type>> = true;

/// A call shared by the awaiting coroutine and the pool (two references), so
/// that it can run to its end after the coroutine has left it behind. It
/// owns the function and the arguments. Its stage decides who hears of the
/// end: the loop (a completion posted) or nobody (abandoned: result dropped).
template <class Call>
class abandonable_call final : public work_item, public loop_node {
public:
    using result_type = typename Call::result_type;

    abandonable_call(Call call, event_loop& loop, std::coroutine_handle<> awaiting)
        : work_item(&run, &never_run),
          loop_node(&on_complete),
          m_call(std::move(call)),
          m_loop(loop),
          m_awaiting(awaiting) {}

    /// Loop thread, once, on cancel. True if the coroutine may resume now (the
    /// call is left behind, or never starts); false if its completion is
    /// already on its way to the loop.
    bool abandon() noexcept {
        stage expected = stage::pending;
        // acq_rel: pairs with the worker's exchanges, so exactly one side wins.
        if (m_stage.compare_exchange_strong(expected, stage::abandoned,
                                            std::memory_order_acq_rel)) {
            return true; // it never runs
        }
        if (expected == stage::running &&
            m_stage.compare_exchange_strong(expected, stage::abandoned,
                                            std::memory_order_acq_rel)) {
            m_call.request_stop(); // a call that takes a stop token may end early
            return true;
        }
        return false; // done: the completion was posted
    }

    result_type take() { return m_result.take(); }

    /// Drops one of the two references.
    void release() noexcept {
        // acq_rel: the last one sees every write of the other side before deleting.
        if (m_references.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

private:
    enum class stage { pending, running, done, abandoned };

    static void run(work_item* item) noexcept {
        auto* self = static_cast<abandonable_call*>(item);
        stage expected = stage::pending;
        if (self->m_stage.compare_exchange_strong(expected, stage::running,
                                                  std::memory_order_acq_rel)) {
            store_result(self->m_result, self->m_call);
            work_done();
            self->finish();
        } else {
            work_done();
        }
        self->release();
    }

    /// The pool drops the call unrun (shutdown with cancel_futures, broken pool).
    static void never_run(work_item* item, std::exception_ptr reason) noexcept {
        auto* self = static_cast<abandonable_call*>(item);
        stage expected = stage::pending;
        if (self->m_stage.compare_exchange_strong(expected, stage::running,
                                                  std::memory_order_acq_rel)) {
            self->m_result.set_exception(std::move(reason));
            self->finish();
        }
        self->release();
    }

    /// Worker side, after the result is stored: posts the completion unless
    /// the coroutine left meanwhile.
    void finish() noexcept {
        stage expected = stage::running;
        if (m_stage.compare_exchange_strong(expected, stage::done, std::memory_order_acq_rel)) {
            // Not abandoned: the coroutine still waits, so its loop is alive.
            loop_access::post(m_loop, this);
        }
    }

    static void on_complete(loop_node* node) noexcept {
        static_cast<abandonable_call*>(node)->m_awaiting.resume();
    }

    Call m_call;
    result_slot<result_type> m_result;
    event_loop& m_loop;
    std::coroutine_handle<> m_awaiting;
    std::atomic<stage> m_stage{stage::pending};
    std::atomic<int> m_references{2}; ///< the awaiter's and the pool's
};

/// Awaits an abandonable call; see `to_thread(abandon_on_cancel, ...)`.
template <class Call>
class abandon_awaiter final : cancellable_wait {
public:
    using result_type = typename Call::result_type;

    abandon_awaiter(Call&& call, thread_pool_executor* pool)
        : m_pending_call(std::move(call)), m_pool(pool) {}
    abandon_awaiter(abandon_awaiter&& other) noexcept
        : m_pending_call(std::move(other.m_pending_call)), m_pool(other.m_pool) {}
    abandon_awaiter& operator=(abandon_awaiter&&) = delete;
    ~abandon_awaiter() {
        if (m_call != nullptr) m_call->release();
    }

    bool await_ready() const noexcept { return false; }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) {
        task_state* waiter = task_of(awaiting);
        event_loop& loop = (waiter && waiter->m_loop) ? *waiter->m_loop : get_running_loop();
        thread_pool_executor& pool = m_pool ? *m_pool : loop.default_executor();
        if (m_call != nullptr) {
            throw invalid_state_error(
                "unblock::to_thread(abandon_on_cancel, ...): this call was already awaited; "
                "call to_thread again to run the function again");
        }
        pool.throw_if_closed();
        m_call = new abandonable_call<Call>(std::move(m_pending_call), loop, awaiting);
        m_loop = &loop;
        m_resume.m_coroutine = awaiting;
        pool.post(m_call); // at once: the batch of the loop iteration cannot take it back
        begin_wait(waiter);
    }

    result_type await_resume() {
        end_wait();
        throw_if_cancelled();
        return m_call->take();
    }

private:
    void on_cancel() noexcept override {
        // Left behind or never started: resume in the next iteration, as a
        // completion would. Else the completion is already on its way.
        if (m_call->abandon()) loop_access::schedule(*m_loop, &m_resume);
    }

    Call m_pending_call;
    thread_pool_executor* m_pool;
    abandonable_call<Call>* m_call = nullptr;
    event_loop* m_loop = nullptr;
    resume_node m_resume;
};

template <class Function, class... Args>
auto abandonable(thread_pool_executor* pool, Function&& f, Args&&... args) {
    static_assert(!is_reference_wrapper_v<std::decay_t<Function>> &&
                      (!is_reference_wrapper_v<std::decay_t<Args>> && ...),
                  "unblock::to_thread(abandon_on_cancel, ...): std::ref/std::cref would let the "
                  "abandoned call use the caller's objects after the caller has gone; pass "
                  "values (they are copied into the call)");
    constexpr bool valid = check_offloadable<Function, Args...>();
    if constexpr (valid) {
        using call = call_for<Function, Args...>;
        return abandon_awaiter<call>(call(std::forward<Function>(f), std::forward<Args>(args)...),
                                     pool);
    }
}

} // namespace detail

/// `to_thread(f, args...)` whose call a cancellation leaves behind (AnyIO's
/// `abandon_on_cancel`): cancelled, the awaiting coroutine resumes at once
/// with `cancelled_error`, and the call runs on to its end on the pool, its
/// result dropped (if it takes a `std::stop_token`, stop is requested too).
/// A call not started yet never starts. Without it, `to_thread` waits for a
/// running call to return before the cancellation completes — the safe
/// default, because the call may use what the coroutine's frame holds.
///
/// So that an abandoned call uses nothing that the coroutine owned, it owns
/// decayed copies of the function and the arguments, and `std::ref` /
/// `std::cref` arguments do not compile. Do not pass pointers to, or
/// functions capturing references to, the coroutine's locals.
///
///     auto rows = co_await unblock::wait_for(
///         unblock::to_thread(unblock::abandon_on_cancel, query, sql), 100ms);
template <class Function, class... Args>
auto to_thread(abandon_on_cancel_t, Function&& f, Args&&... args) {
    return detail::abandonable(nullptr, std::forward<Function>(f), std::forward<Args>(args)...);
}

/// The same on `pool` instead of the loop's default executor. The pool must
/// outlive the abandoned calls it runs (its destructor waits for them).
template <class Function, class... Args>
auto to_thread(abandon_on_cancel_t, thread_pool_executor& pool, Function&& f, Args&&... args) {
    return detail::abandonable(&pool, std::forward<Function>(f), std::forward<Args>(args)...);
}

} // namespace unblock
