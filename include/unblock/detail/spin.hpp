/// \file detail/spin.hpp
/// Bounded spinning: wait a few microseconds for something that is about to
/// happen, instead of paying ~11 µs to put a thread to sleep and wake it.
#pragma once

#include "deadline.hpp"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace unblock::detail {

/// Tells the CPU this is a spin-wait (saves power, frees the sibling hyperthread).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

/// Polls `ready()` for at most `limit`; returns whether it became true.
/// The clock is read once every 64 polls, so polling stays cheap.
template <class Ready>
bool spin_until(Ready&& ready, std::chrono::steady_clock::duration limit) noexcept {
    if (limit <= std::chrono::steady_clock::duration::zero()) return ready();
    const auto deadline = saturating_deadline(std::chrono::steady_clock::now(), limit);
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (ready()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() >= deadline) return ready();
    }
}

/// Spinning that stops when it stops paying off (as folly's and Go's runtimes
/// adapt theirs). A spin that sees its event earns the next one the full
/// limit. One that times out halves the next: the event was far away, or —
/// with more runnable threads than cores — this thread's spinning kept the
/// thread that produces the event off the CPU, so spinning made the wait
/// longer. After a few failures in a row it stops spinning; every 16th wait
/// then probes with a short spin, so spinning comes back once it pays again.
/// Not thread-safe: one per spinning thread, or guarded by its owner's lock.
class adaptive_spin {
public:
    /// Spins for at most `limit` as adapted (perhaps not at all); returns whether `ready()`.
    template <class Ready>
    bool spin_until(Ready&& ready, std::chrono::steady_clock::duration limit) noexcept {
        const std::chrono::steady_clock::duration budget = next_limit(limit);
        if (budget <= std::chrono::steady_clock::duration::zero()) return ready();
        const bool seen = detail::spin_until(ready, budget);
        record(seen);
        return seen;
    }

    /// Records the outcome of a spin done elsewhere (e.g. outside the owner's lock).
    void record(bool seen) noexcept {
        if (seen) {
            m_halvings = 0;
        } else if (m_halvings < off) {
            ++m_halvings;
        }
    }

    /// The limit the next spin should use, or zero to skip spinning this time.
    [[nodiscard]] std::chrono::steady_clock::duration
    next_limit(std::chrono::steady_clock::duration limit) noexcept {
        if (limit <= std::chrono::steady_clock::duration::zero()) return limit;
        if (m_halvings >= off) {
            if (++m_waits_without_spin < probe_every)
                return std::chrono::steady_clock::duration::zero();
            m_waits_without_spin = 0;
            return limit / (1 << (off - 1));
        }
        return limit / (1 << m_halvings);
    }

private:
    static constexpr int off = 5;          ///< failures in a row before spinning stops
    static constexpr int probe_every = 16; ///< while off: one short spin per this many waits

    int m_halvings = 0;
    int m_waits_without_spin = 0;
};

} // namespace unblock::detail
