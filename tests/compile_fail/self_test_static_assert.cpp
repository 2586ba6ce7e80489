// expect-error: unblock self-test: compile-fail harness works
// Checks the build-failure harness itself: this file must not compile, and the
// test passes only because the compiler reports exactly this message.
#include <unblock/errors.hpp>

#include <type_traits>

template <class T>
inline constexpr bool always_false_v = !std::is_same_v<T, T>;

template <class T>
void instantiate_me() {
    static_assert(always_false_v<T>, "unblock self-test: compile-fail harness works");
}

void trigger() { instantiate_me<unblock::error>(); }
