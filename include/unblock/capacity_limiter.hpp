/// \file capacity_limiter.hpp
/// `capacity_limiter`: AnyIO's CapacityLimiter, bounding how many calls
/// handed to other threads run at once.
#pragma once

#include "detail/sync/limited_offload.hpp"
#include "detail/sync/permit_pool.hpp"
#include "offload.hpp"
#include "task.hpp"

#include <cstddef>
#include <utility>

namespace unblock {

/// Bounds how many of the calls that share it run at once (AnyIO's
/// CapacityLimiter): one object shared by any number of `to_thread` calls,
/// whatever thread pool runs them.
///
/// `co_await run(f, args...)` waits first-in first-out for a token, runs
/// `to_thread(f, args...)` and gives the token back when the call has
/// finished (also when it threw or the task was cancelled: a cancel while
/// waiting for a token takes the task out of the queue and runs nothing; a
/// cancel while the call runs is to_thread's, which waits for the call).
/// `acquire()` / `release()` / `scoped()` hold a token across other work.
/// Loop thread only, like every primitive of the loop: a call from another
/// thread or loop throws `invalid_state_error`.
///
///     unblock::capacity_limiter disk(8);
///     std::string text = co_await disk.run(read_file, path); // at most 8 read at once
class capacity_limiter {
public:
    explicit capacity_limiter(std::size_t total_tokens) noexcept
        : m_pool(total_tokens), m_total(total_tokens) {}
    capacity_limiter(const capacity_limiter&) = delete;
    capacity_limiter& operator=(const capacity_limiter&) = delete;

    /// Waits for a token and takes it; throws `cancelled_error` holding none.
    [[nodiscard]] detail::acquire_awaiter<false> acquire() noexcept {
        return {m_pool, "unblock::capacity_limiter::acquire()"};
    }
    /// Like acquire(), and yields a guard that gives the token back.
    [[nodiscard]] detail::acquire_awaiter<true> scoped() noexcept {
        return {m_pool, "unblock::capacity_limiter::scoped()"};
    }
    /// Gives a token back; throws `invalid_state_error` if none is borrowed.
    void release() {
        m_pool.binding().check("unblock::capacity_limiter::release()");
        if (m_pool.free_permits() >= m_total) {
            throw invalid_state_error(
                "unblock::capacity_limiter::release(): no token is borrowed; call release() once "
                "per acquire(), or use run(f, args...) or scoped(), which give it back");
        }
        m_pool.give_back();
    }

    /// Runs `to_thread(f, args...)` holding a token; yields its result or
    /// rethrows. Lazy like to_thread: nothing happens until it is awaited.
    /// Allocates nothing: the await itself waits in the FIFO and offloads.
    template <class Function, class... Args>
    auto run(Function&& f, Args&&... args) {
        constexpr bool valid = detail::check_offloadable<Function, Args...>();
        if constexpr (valid) {
            using call = detail::call_for<Function, Args...>;
            return detail::limited_call<call>(m_pool, call(std::forward<Function>(f),
                                                           std::forward<Args>(args)...));
        }
    }

    /// How many calls may run at once.
    [[nodiscard]] std::size_t total_tokens() const noexcept { return m_total; }
    /// How many tokens are held now.
    [[nodiscard]] std::size_t borrowed_tokens() const noexcept {
        return m_total - m_pool.free_permits();
    }
    /// How many are free.
    [[nodiscard]] std::size_t available_tokens() const noexcept { return m_pool.free_permits(); }

private:
    detail::permit_pool m_pool;
    std::size_t m_total;
};

} // namespace unblock
