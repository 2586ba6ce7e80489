// W2 throughput (BENCHMARKS.md): start N tasks at once, each awaiting one
// offload of a no-op to a 2-thread pool; time from the first start to the
// last completion. N = 10,000 and 100,000, median of 3 after a warm-up batch.
// Also counts heap allocations per task (this binary replaces operator new).
#include "support/allocation_counter.hpp"
#include "support/measure.hpp"

#include <unblock/unblock.hpp>

unblock::task<> offload_once() {
    co_await unblock::to_thread([] {});
}

/// Runs one batch; returns its wall time.
unblock::task<bench::clock::duration> batch(int n) {
    std::vector<unblock::join_handle<void>> handles;
    handles.reserve(static_cast<std::size_t>(n));
    const auto start = bench::clock::now();
    for (int i = 0; i < n; ++i)
        handles.push_back(unblock::create_task(offload_once()));
    for (auto& h : handles)
        co_await h;
    co_return bench::clock::now() - start;
}

unblock::task<> measure(bool smoke) {
    const std::vector<int> sizes =
        smoke ? std::vector<int>{100} : std::vector<int>{10'000, 100'000};
    for (int n : sizes) {
        (void)co_await batch(n); // warm-up: threads started, queues grown
        std::vector<double> rates;
        long allocations = 0;
        for (int r = 0; r < 3; ++r) {
            const long before = bench::allocations();
            const auto took = co_await batch(n);
            allocations = bench::allocations() - before;
            rates.push_back(n / std::chrono::duration<double>(took).count());
        }
        // Calls of operator new per task. A task is one coroutine frame, which the
        // loop recycles while it is busy (detail/frame_cache.hpp): 1 per task in a
        // cold batch, 0 in these warm ones. The offload itself allocates nothing
        // (tests/test_offload_allocations.cpp).
        std::printf("W2 unblock n=%d tasks_per_s=%.0f allocs_per_task=%.2f\n", n,
                    bench::median(rates), static_cast<double>(allocations) / n);
    }
}

int main(int argc, char** argv) {
    unblock::event_loop loop;
    loop.set_default_executor(std::make_shared<unblock::thread_pool_executor>(2));
    loop.run_until_complete(measure(bench::smoke_mode(argc, argv)));
}
