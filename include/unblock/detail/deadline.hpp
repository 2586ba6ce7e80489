/// \file detail/deadline.hpp
/// Deadlines that saturate instead of overflowing: `duration::max()` means "never".
#pragma once

#include <chrono>

namespace unblock::detail {

/// `delay` in `To` units, rounded up (a wait never ends early), clamped to
/// `To`'s range where the conversion would overflow (`hours::max()` → `To::max()`).
template <class To, class Rep, class Period>
[[nodiscard]] constexpr To saturating_ceil(std::chrono::duration<Rep, Period> delay) noexcept {
    using wide = std::chrono::duration<long double, typename To::period>;
    // long double holds every integer duration's magnitude, so the comparison cannot overflow.
    if (std::chrono::duration_cast<wide>(delay) >= std::chrono::duration_cast<wide>(To::max()))
        return To::max();
    if (std::chrono::duration_cast<wide>(delay) <= std::chrono::duration_cast<wide>(To::min()))
        return To::min();
    return std::chrono::ceil<To>(delay);
}

/// `now + delay`, clamped to `time_point::max()` (a deadline that never
/// comes) where the sum would overflow; `now` for a negative delay.
template <class Clock, class Duration>
[[nodiscard]] constexpr std::chrono::time_point<Clock, Duration>
saturating_deadline(std::chrono::time_point<Clock, Duration> now, Duration delay) noexcept {
    using time_point = std::chrono::time_point<Clock, Duration>;
    if (delay <= Duration::zero()) return now;
    if (delay >= time_point::max() - now) return time_point::max();
    return now + delay;
}

} // namespace unblock::detail
