// <unblock/offload.hpp> alone: to_thread with a stop token and on a pool, run_in_executor.
#include <unblock/offload.hpp>
#include <unblock/offload.hpp> // the include guard holds

#include <stop_token>

namespace {
int add(int a, int b) { return a + b; }
unblock::task<int> main_task(unblock::thread_pool_executor& pool) {
    const int a = co_await unblock::to_thread(add, 1, 2);
    const int b = co_await unblock::to_thread([](std::stop_token, int x) { return x; }, 3);
    const int c = co_await unblock::run_in_executor(pool, add, 4, 5);
    const int d = co_await unblock::to_thread(pool, add, 6, 7);
    co_return a + b + c + d;
}
} // namespace

int header_use_offload() {
    unblock::thread_pool_executor pool(1);
    return unblock::run(main_task(pool));
}
