// <unblock/thread_pool.hpp> alone: a pool used from plain code.
#include <unblock/thread_pool.hpp>
#include <unblock/thread_pool.hpp> // the include guard holds

int header_use_thread_pool() {
    unblock::thread_pool_executor pool(unblock::thread_pool_executor::options{});
    std::future<int> result = pool.submit([](int x) { return x + 1; }, 1);
    pool.execute([] {});
    const int value = result.get();
    pool.shutdown();
    return value + static_cast<int>(pool.stats().threads);
}
