// expect-first-error: create_task needs an awaitable .a task<T>, to_thread
// Neither an awaitable nor a callable that returns one.
#include <unblock/unblock.hpp>

unblock::task<> body() {
    auto handle = unblock::create_task(42);
    co_await handle;
}

int main() { unblock::run(body()); }
