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

/// When a wait began, read lazily: a wait that ends within the first polls of
/// a spin never reads the clock, and counts as taking no time.
class wait_clock {
public:
    using clock = std::chrono::steady_clock;

    /// The wait's start, read now if it was not read before.
    clock::time_point start() noexcept {
        if (!m_read) {
            m_start = clock::now();
            m_read = true;
        }
        return m_start;
    }
    /// How long the wait has taken: zero if its start was never read.
    [[nodiscard]] clock::duration elapsed() const noexcept {
        return m_read ? clock::now() - m_start : clock::duration::zero();
    }

private:
    clock::time_point m_start{};
    bool m_read = false;
};

/// Polls `ready()` for at most `limit`; returns whether it became true. The
/// first `polls_per_clock_read` polls read no clock (most spins that pay end
/// there), then `waited` starts and the clock is read once every
/// `polls_per_clock_read` polls, so polling stays cheap. A poll that is itself
/// a system call wants 1: the clock read then costs less than the poll.
template <class Ready>
bool spin_until(Ready&& ready, std::chrono::steady_clock::duration limit, wait_clock& waited,
                int polls_per_clock_read = 64) noexcept {
    if (limit <= std::chrono::steady_clock::duration::zero()) return ready();
    for (int i = 0; i < polls_per_clock_read; ++i) {
        if (ready()) return true;
        cpu_relax();
    }
    const auto deadline = saturating_deadline(waited.start(), limit);
    for (;;) {
        for (int i = 0; i < polls_per_clock_read; ++i) {
            if (ready()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() >= deadline) return ready();
    }
}

/// Decides, wait by wait, whether spinning before sleeping pays here and now.
///
/// Spinning wins on an idle machine (a completion in under a microsecond
/// instead of a ~10 µs wake-up) and loses on a busy one: the spinner takes the
/// core that the thread it waits for needs (measured with one CPU hog per core:
/// 115 µs round trips with spinning, 15 µs without). So the advisor keeps a
/// running average of how long waits took from start to ready, one for waits
/// that spun and one for waits that slept at once, and spins unless sleeping
/// is clearly faster; one wait in 16 tries the other way, so a change of load
/// is seen. Waits that spin for less than a wake-up could cost (`cheap_wait`) are
/// never second-guessed: no sleep can beat them, and no probe is paid.
/// Not thread-safe: one owner (the loop), or used under a lock (the pool).
class spin_advisor {
public:
    using duration = std::chrono::steady_clock::duration;

    /// A wait this short cannot be beaten by sleeping: a futex wake-up costs more.
    static constexpr duration cheap_wait = std::chrono::microseconds(4);

    explicit spin_advisor(duration max_spin) noexcept : m_max_spin(max_spin) {}

    /// How long the next wait should spin: the maximum, or zero to sleep at once.
    [[nodiscard]] duration next_spin() noexcept {
        if (m_max_spin <= duration::zero()) return duration::zero();
        if (m_spun.average < cheap_wait) {
            m_spinning = true;
            return m_max_spin;
        }
        const bool probe = (++m_waits & 15u) == 0;
        // Sleeping must win clearly (by a quarter): averages of noisy waits
        // that are about even must not flip a run into the slower way.
        const bool spin_is_better = !m_slept.known || 4 * m_slept.average > 3 * m_spun.average;
        m_spinning = spin_is_better != probe;
        return m_spinning ? m_max_spin : duration::zero();
    }

    /// Reports how long the wait that followed next_spin() took, start to ready.
    void record(duration waited) noexcept {
        // Long waits (an idle pool, a slow call) say nothing about spinning:
        // both ways wait just as long. Capped, they cannot swamp the averages.
        const duration cap = 8 * m_max_spin;
        (m_spinning ? m_spun : m_slept).add(waited < cap ? waited : cap);
    }

    [[nodiscard]] bool spinning() const noexcept { return m_spinning; }

private:
    /// Running average, weight 1/8 to the newest wait.
    struct average_wait {
        duration average = duration::zero();
        bool known = false;
        void add(duration sample) noexcept {
            average = known ? average + (sample - average) / 8 : sample;
            known = true;
        }
    };

    duration m_max_spin;
    average_wait m_spun;
    average_wait m_slept;
    unsigned m_waits = 0;
    bool m_spinning = true;
};

} // namespace unblock::detail
