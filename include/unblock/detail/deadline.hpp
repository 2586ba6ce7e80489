/// \file detail/deadline.hpp
/// `now + timeout` without signed overflow, so `duration::max()` can mean "never".
#pragma once

#include <chrono>
#include <type_traits>

namespace unblock::detail {

/// `now + timeout`, clamped to the time point's range: a timeout too large to
/// add (e.g. `duration::max()`, "never") gives `time_point::max()` instead of
/// overflowing into the past; a negative one likewise stops at `min()`.
template <class Clock, class Duration, class Rep, class Period>
[[nodiscard]] constexpr std::chrono::time_point<Clock, Duration>
saturating_deadline(std::chrono::time_point<Clock, Duration> now,
                    std::chrono::duration<Rep, Period> timeout) noexcept {
    using time_point = std::chrono::time_point<Clock, Duration>;
    Duration step{};
    if constexpr (std::is_same_v<std::chrono::duration<Rep, Period>, Duration>) {
        step = timeout;
    } else {
        // Clamp to Duration's range first, compared in long double seconds so
        // that no unit conversion can overflow on the way.
        using seconds = std::chrono::duration<long double>;
        if (seconds(timeout) >= seconds(Duration::max())) {
            step = Duration::max();
        } else if (seconds(timeout) <= seconds(Duration::min())) {
            step = Duration::min();
        } else {
            step = std::chrono::duration_cast<Duration>(timeout);
        }
    }
    const Duration since_epoch = now.time_since_epoch();
    if (step > Duration::zero() && since_epoch > Duration::max() - step) return time_point::max();
    if (step < Duration::zero() && since_epoch < Duration::min() - step) return time_point::min();
    return now + step;
}

/// `delay` in `To` units, rounded up (a wait never ends early), clamped to
/// `To`'s range where the conversion would overflow (`hours::max()` → `To::max()`).
template <class To, class Rep, class Period>
[[nodiscard]] constexpr To saturating_ceil(std::chrono::duration<Rep, Period> delay) noexcept {
    using seconds = std::chrono::duration<long double>;
    if (seconds(delay) >= seconds(To::max())) return To::max();
    if (seconds(delay) <= seconds(To::min())) return To::min();
    return std::chrono::ceil<To>(delay);
}

} // namespace unblock::detail
