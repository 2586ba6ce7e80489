// expect-first-error: the function cannot be called with these arguments
// Arguments of the wrong type, on a chosen executor: the message that says
// what to do is the first error.
#include <unblock/unblock.hpp>

#include <string>

int twice(int x) { return 2 * x; }

unblock::task<int> body(unblock::thread_pool_executor& pool) {
    co_return co_await unblock::to_thread(pool, twice, std::string("two"));
}

int main() {
    unblock::thread_pool_executor pool(1);
    return unblock::run(body(pool));
}
