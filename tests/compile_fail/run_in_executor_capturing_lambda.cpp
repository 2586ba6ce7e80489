// expect-first-error: capture-less lambda
// run_in_executor on a process pool refuses a capturing lambda: the worker
// process cannot see the captured state.
#include <unblock/unblock.hpp>

unblock::task<int> body(unblock::process_pool_executor& pool) {
    int offset = 1;
    co_return co_await unblock::run_in_executor(
        pool, [offset](int x) { return x + offset; }, 1);
}

int main() {
    unblock::process_pool_executor pool(1);
    return unblock::run(body(pool));
}
