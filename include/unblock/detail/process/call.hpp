/// \file detail/process/call.hpp
/// `process_call<R>`: the shared state of one process-pool call, the boundary
/// between the pool and whatever waits for the result (`std::future`, the
/// event loop's awaitables).
#pragma once

#include "../../codec.hpp"
#include "../../errors.hpp"
#include "wire.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace unblock::detail {

/// What `process_call::cancel()` did.
enum class cancel_outcome {
    withdrawn, ///< the call was still queued; it never runs
    killed,    ///< the call was running; its worker is killed and replaced
    too_late,  ///< the call has completed (or is completing) on its own
};

class process_call_base;

/// A new `E` as an `exception_ptr`. The temporary `E` is destroyed before this
/// returns, i.e. before the pointer is published to another thread: a
/// temporary outliving the publication would drop its share of the
/// (reference-counted) message while the other thread reads it.
template <class Error, class... Given>
[[nodiscard]] std::exception_ptr process_make_error(Given&&... args) {
    return std::make_exception_ptr(Error(std::forward<Given>(args)...));
}

/// The pool side of a call: what `cancel()` asks. Implemented by the pool.
class process_call_owner {
public:
    /// See `process_call_base::cancel()`.
    virtual cancel_outcome cancel(process_call_base& call) noexcept = 0;
    /// See `process_call_base::poll_answer()`. An owner that cannot be polled
    /// does nothing: its own thread delivers every answer.
    virtual void poll_answer(process_call_base& call) noexcept { static_cast<void>(call); }

protected:
    ~process_call_owner() = default;
};

/// Where a call is; guarded by the owning pool's mutex.
enum class process_call_state : std::uint8_t {
    queued,   ///< waiting in the pool's queue
    running,  ///< assigned to a worker
    finishing ///< someone has claimed the right to complete it
};

/// Type-independent part of `process_call<R>`.
///
/// Thread-safe as documented per member. The pool claims a call (state
/// `finishing`, under its mutex) before completing it, so exactly one thread
/// completes each call and runs `on_done` exactly once.
class process_call_base {
public:
    process_call_base(const process_call_base&) = delete;
    process_call_base& operator=(const process_call_base&) = delete;
    virtual ~process_call_base() = default;

    /// True once the result or error is stored. Any thread.
    [[nodiscard]] bool done() const noexcept {
        // acquire: pairs with the release in finish(), so the stored value or
        // error is visible to whoever saw done() == true.
        return m_done.load(std::memory_order_acquire);
    }

    /// Withdraws the call if it is queued, or kills its worker if it is
    /// running (the pool replaces the worker); either way the call is done
    /// with `cancelled_error` and `on_done` has run when this returns.
    /// `too_late` when the call completed or is completing on its own
    /// (`on_done` then runs, or ran, on the pool's thread). Any thread.
    cancel_outcome cancel() noexcept {
        if (done()) {
            return cancel_outcome::too_late;
        }
        const std::shared_ptr<process_call_owner> owner = m_owner.lock();
        return owner ? owner->cancel(*this) : cancel_outcome::too_late;
    }

    /// Reads the answer if it has arrived, completing the call here (then
    /// `on_done` runs on this thread); never blocks. For a submitter that
    /// spins for its answer (`m_polled`); the pool's I/O thread reads it
    /// otherwise. Any thread.
    void poll_answer() noexcept {
        if (done()) {
            return;
        }
        if (const std::shared_ptr<process_call_owner> owner = m_owner.lock()) {
            owner->poll_answer(*this);
        }
    }

    // ---- used by the pool -------------------------------------------------

    /// Decodes the worker's answer and stores the value; a decode failure is
    /// stored as the error. Then finishes. Only by the thread that claimed it.
    void complete_value(byte_reader& in) noexcept {
        try {
            try {
                store_value(in);
            } catch (...) {
                process_rethrow_as_serialization("decoding the result failed");
            }
        } catch (...) {
            m_error = std::current_exception();
        }
        finish();
    }

    /// Stores `error` and finishes. Only by the thread that claimed the call.
    void complete_error(std::exception_ptr error) noexcept {
        m_error = std::move(error);
        finish();
    }

    std::vector<std::byte> m_request; ///< encoded call frame; freed once sent
    process_call_state m_state = process_call_state::queued; ///< guarded by the pool's mutex
    std::uint64_t m_id = 0;                                  ///< set by the pool at submission
    std::weak_ptr<process_call_owner> m_owner;               ///< set by the pool at submission
    /// The submitter will spin for the answer and poll it (`poll_answer`);
    /// set before submission.
    bool m_submitter_polls = false;
    /// The submitter wrote the call to its worker itself and polls for the
    /// answer, so the pool's I/O thread does not spin for it. Set by the
    /// pool at submission, before `submit` returns; guarded by its mutex.
    bool m_polled = false;
    std::function<void()> m_on_done;

protected:
    process_call_base() = default;

    /// Decodes and stores the value (throws on malformed input).
    virtual void store_value(byte_reader& in) = 0;

    std::exception_ptr m_error;

private:
    void finish() noexcept {
        std::function<void()> on_done = std::move(m_on_done);
        m_on_done = nullptr;
        // release: publishes m_value / m_error to threads that acquire-load m_done.
        m_done.store(true, std::memory_order_release);
        if (on_done) {
            on_done();
        }
    }

    std::atomic<bool> m_done{false};
};

/// Shared state of one process-pool call returning `R`. Thread-safe.
///
/// Created by `process_pool_executor::start()`. `done()`, `cancel()` from any
/// thread; `take()` once, after `done()` (or inside `on_done`).
template <class Result>
class process_call final : public process_call_base {
public:
    process_call() = default;

    /// The value, or rethrows the stored exception. Call once, after done().
    Result take() {
        if (m_error) {
            // Moved out: the taking thread holds the last reference, so the
            // exception is freed where it was used (also keeps TSan, which
            // cannot see libstdc++'s exception_ptr refcount, accurate).
            std::rethrow_exception(std::exchange(m_error, nullptr));
        }
        return std::move(*m_value);
    }

private:
    void store_value(byte_reader& in) override {
        m_value.emplace(codec<Result>::decode(in));
        if (in.remaining() != 0) {
            m_value.reset();
            throw serialization_error("unblock::process_pool_executor: the result was not fully "
                                      "decoded; the result codec's encode and decode disagree");
        }
    }

    std::optional<Result> m_value;
};

/// `process_call` of a call without a result.
template <>
class process_call<void> final : public process_call_base {
public:
    process_call() = default;

    /// Returns, or rethrows the stored exception. Call once, after done().
    void take() {
        if (m_error) {
            // Moved out: the taking thread holds the last reference, so the
            // exception is freed where it was used (also keeps TSan, which
            // cannot see libstdc++'s exception_ptr refcount, accurate).
            std::rethrow_exception(std::exchange(m_error, nullptr));
        }
    }

private:
    void store_value(byte_reader& in) override {
        if (in.remaining() != 0) {
            throw serialization_error("unblock::process_pool_executor: unexpected result bytes");
        }
    }
};

} // namespace unblock::detail
