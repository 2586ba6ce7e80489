/// \file detail/threads/offload_operation.hpp
/// One offloaded call: runs on an executor's thread, then posts itself back to
/// the loop with the result. Embedded in an awaiter (to_thread) or a future's
/// state (run_in_executor), so the round trip allocates nothing.
#pragma once

#include "../../errors.hpp"
#include "../../event_loop.hpp"
#include "../../thread_pool.hpp"
#include "../loop/loop_node.hpp"
#include "../result.hpp"
#include "work_item.hpp"

#include <atomic>
#include <exception>
#include <utility>

namespace unblock::detail {

/// An operation on a `thread_pool_executor`: the node is queued intrusively
/// and can be withdrawn while it waits.
///
/// The owner sets the loop node's function (what "complete" means for it) and
/// keeps the operation alive until that function has run on the loop.
template <class Call>
class pool_operation : public work_item, public loop_node {
public:
    using result_type = typename Call::result_type;

    pool_operation(Call call, loop_node::run_fn on_complete)
        : work_item(&run, &abandon), loop_node(on_complete), m_call(std::move(call)) {}

    /// Queues the call; returns false (a pool never completes synchronously).
    /// Throws what the pool throws (shut down, broken); then nothing was queued.
    ///
    /// From the thread running `loop`, the call reaches the pool at the end of
    /// the loop iteration (or when the pool is shut down from this thread, if
    /// sooner), with everything else submitted in it: one lock and one wake-up
    /// for all of them instead of one each. From elsewhere, at once.
    bool start(thread_pool_executor& pool, event_loop& loop) { // bool: as executor_operation's
        m_loop = &loop;
        m_pool = &pool;
        if (t_running_loop == &loop) {
            pool.throw_if_closed();
            loop_access::defer_work(loop, pool, this);
        } else {
            pool.post(this);
        }
        return false;
    }

    /// Withdraws the call if it has not started; on success it never runs and no completion is
    /// posted.
    bool withdraw() noexcept {
        if (loop_access::withdraw_deferred_work(*m_loop, this)) return true;
        // Taken by a worker already (or finished): the pool may even be gone.
        // relaxed: a hint; the pool re-checks under its mutex.
        if (m_queue.load(std::memory_order_relaxed) == nullptr) return false;
        return m_pool->withdraw(this);
    }

    /// Requests the call's stop token (if it takes one). Thread-safe.
    void request_stop() noexcept { m_call.request_stop(); }

    result_slot<result_type> m_result;

protected:
    event_loop* m_loop = nullptr;

private:
    static void run(work_item* item) noexcept {
        auto* self = static_cast<pool_operation*>(item);
        store_result(self->m_result, self->m_call);
        work_done(); // the worker counts as idle before the loop can submit the next call
        loop_access::post(*self->m_loop, self); // the inbox's release publishes m_result
    }

    static void abandon(work_item* item, std::exception_ptr reason) noexcept {
        auto* self = static_cast<pool_operation*>(item);
        self->m_result.set_exception(std::move(reason));
        loop_access::post(*self->m_loop, self);
    }

    Call m_call;
    thread_pool_executor* m_pool = nullptr;
};

/// An operation on any executor with `execute(f)`.
///
/// `f` is a one-pointer functor, so it fits std::function's small buffer and
/// users' queues allocate nothing for it either. Executors may copy it; the
/// copies share a reference count, and whoever drops the last reference —
/// the last copy's destructor, or `start()` itself — completes the operation.
/// So the frame is never touched after completion, a call that runs inline
/// completes synchronously, and an executor that destroys the work without
/// running it produces `broken_executor_error` instead of a hang.
template <class Call>
class executor_operation : public loop_node {
public:
    using result_type = typename Call::result_type;

    executor_operation(Call call, loop_node::run_fn on_complete)
        : loop_node(on_complete), m_call(std::move(call)) {}

    /// Hands the call to `executor`. Returns true if it already completed
    /// (ran inline, or was dropped: the result is stored and no completion
    /// will be posted). Rethrows what `execute` throws when the work cannot run.
    template <class Executor>
    bool start(Executor& executor, event_loop& loop) {
        m_loop = &loop;
        // relaxed: nothing is shared yet; execute() publishes the operation to the executor's
        // thread.
        m_references.store(1, std::memory_order_relaxed); // start()'s own reference
        try {
            executor.execute(thunk(this));
        } catch (...) {
            if (!drop_copy())
                return false; // a copy survived the throw and may still run: wait for it
            if (!m_started.load(std::memory_order_relaxed))
                throw;   // nothing will run: the caller gets the error
            return true; // it ran inline, then execute threw: the result stands
        }
        if (!drop_copy()) return false;
        record_if_dropped();
        return true;
    }

    bool withdraw() noexcept { return false; } // an arbitrary executor cannot take work back
    void request_stop() noexcept { m_call.request_stop(); }

    result_slot<result_type> m_result;

protected:
    event_loop* m_loop = nullptr;

private:
    /// The functor given to execute().
    class thunk {
    public:
        explicit thunk(executor_operation* op) noexcept : m_op(op) { op->add_copy(); }
        thunk(const thunk& other) noexcept : m_op(other.m_op) { m_op->add_copy(); }
        thunk& operator=(const thunk&) = delete;
        ~thunk() {
            if (m_op->drop_copy())
                m_op->finish(); // the last reference: nobody else touches the operation
        }
        void operator()() const noexcept {
            // acq_rel: a second call of another copy must not run the work again.
            if (!m_op->m_started.exchange(true, std::memory_order_acq_rel))
                store_result(m_op->m_result, m_op->m_call);
        }

    private:
        executor_operation* m_op;
    };

    void add_copy() noexcept {
        // relaxed: a new copy is made from one that holds a reference, so the count cannot reach
        // zero meanwhile.
        m_references.fetch_add(1, std::memory_order_relaxed);
    }
    /// Drops a reference; true if it was the last. acq_rel: the last one sees every other copy's
    /// writes.
    bool drop_copy() noexcept { return m_references.fetch_sub(1, std::memory_order_acq_rel) == 1; }

    /// The last copy is gone: post the completion.
    void finish() noexcept {
        record_if_dropped();
        loop_access::post(*m_loop, this);
    }

    /// After the last reference: if no copy ran, the executor broke its contract.
    /// relaxed: drop_copy()'s acq_rel made every copy's effects visible.
    void record_if_dropped() noexcept {
        if (m_started.load(std::memory_order_relaxed)) return;
        m_result.set_exception(std::make_exception_ptr(broken_executor_error(
            "unblock: the executor destroyed the work without running it; an executor's execute(f) "
            "must call f exactly once")));
    }

    Call m_call;
    std::atomic<int> m_references{0};
    std::atomic<bool> m_started{false};
};

} // namespace unblock::detail
