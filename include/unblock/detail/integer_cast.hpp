/// \file detail/integer_cast.hpp
/// An integer conversion that is no cast where the types already agree.
#pragma once

#include <type_traits>

namespace unblock::detail {

/// `static_cast<To>(from)`, except where `To` and `From` are the same type
/// (`std::uint64_t` and `std::size_t` on LP64, `pid_t` and `int`): there a
/// cast would trip users' -Wuseless-cast, and on other platforms it is needed.
template <class To, class From>
[[nodiscard]] constexpr To integer_cast(From from) noexcept {
    static_assert(std::is_integral_v<To> && std::is_integral_v<From>);
    if constexpr (std::is_same_v<To, From>) {
        return from;
    } else {
        return static_cast<To>(from);
    }
}

} // namespace unblock::detail
