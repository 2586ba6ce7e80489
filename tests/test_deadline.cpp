#include <catch2/catch.hpp>
#include <unblock/detail/deadline.hpp>

#include <chrono>

using namespace std::chrono_literals;
using unblock::detail::saturating_deadline;
using clock_type = std::chrono::steady_clock;

TEST_CASE("saturating_deadline adds like now + timeout within range", "[deadline]") {
    const auto now = clock_type::now();
    CHECK(saturating_deadline(now, 5ms) == now + 5ms);
    CHECK(saturating_deadline(now, -5ms) == now - 5ms);
    CHECK(saturating_deadline(now, clock_type::duration::zero()) == now);
    CHECK(saturating_deadline(now, std::chrono::duration<double>(0.5)) == now + 500ms);
}

TEST_CASE("saturating_deadline clamps instead of overflowing", "[deadline]") {
    const auto now = clock_type::now();
    CHECK(saturating_deadline(now, clock_type::duration::max()) == clock_type::time_point::max());
    // Coarser units whose max() does not even fit in the clock's nanoseconds.
    CHECK(saturating_deadline(now, std::chrono::hours::max()) == clock_type::time_point::max());
    const auto before_epoch = clock_type::time_point{} - 1ns;
    CHECK(saturating_deadline(before_epoch, clock_type::duration::min()) ==
          clock_type::time_point::min());
    CHECK(saturating_deadline(before_epoch, std::chrono::seconds::min()) ==
          clock_type::time_point::min());
    CHECK(saturating_deadline(clock_type::time_point::min() + 1ns, -2ns) ==
          clock_type::time_point::min());
    CHECK(saturating_deadline(clock_type::time_point::max() - 1ns, 1ns) ==
          clock_type::time_point::max());
    CHECK(saturating_deadline(clock_type::time_point::max() - 2ns, 1ns) ==
          clock_type::time_point::max() - 1ns);
    static_assert(saturating_deadline(clock_type::time_point{}, 1s) ==
                  clock_type::time_point{} + 1s);
}
