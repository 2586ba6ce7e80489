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

} // namespace unblock::detail
