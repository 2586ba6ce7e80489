// Uses unblock as an outside project would. Once the umbrella header exists it
// runs a tiny coroutine through unblock::run(); until then it only uses
// errors.hpp.
#if __has_include(<unblock/unblock.hpp>)
#include <unblock/unblock.hpp>
#define UNBLOCK_CONSUMER_UMBRELLA 1
#else
#include <unblock/errors.hpp>
#define UNBLOCK_CONSUMER_UMBRELLA 0
#endif

#include <cstdio>

#if UNBLOCK_CONSUMER_UMBRELLA
namespace {
unblock::task<int> answer() { co_return 42; }
} // namespace
#endif

int main() {
    int value = 42;
#if UNBLOCK_CONSUMER_UMBRELLA
    value = unblock::run(answer());
#endif
    try {
        throw unblock::timeout_error();
    } catch (const unblock::error& e) {
        std::printf("caught: %s\n", e.what());
    }
    if (value != 42) {
        std::printf("unexpected value %d\n", value);
        return 1;
    }
    std::printf("unblock consumer OK (%s)\n", UNBLOCK_CONSUMER_MODE_NAME);
    return 0;
}
