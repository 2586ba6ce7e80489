// expect-first-error: std::ref/std::cref would let the abandoned call use the caller's objects
// An abandoned call outlives the coroutine that started it: it must not
// reference the coroutine's objects, so std::ref is refused.
#include <unblock/abandon_on_cancel.hpp>

#include <functional>

void touch(int& value) { ++value; }

unblock::task<> use() {
    int counter = 0;
    co_await unblock::to_thread(unblock::abandon_on_cancel, touch, std::ref(counter));
}
