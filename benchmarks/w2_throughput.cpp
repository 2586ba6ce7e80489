// W2 throughput (BENCHMARKS.md): start N tasks at once, each awaiting one
// offload of a no-op to a 2-thread pool; time from the first start to the
// last completion. N = 10,000 and 100,000, median of 3 after a warm-up batch.
// Also counts heap allocations per task (this binary replaces operator new).
//
// Measured twice in the same run: with `to_thread` (impl `unblock`) and with
// the tutorial's `run_in_executor(pool, f)` (impl `unblock-run_in_executor`),
// and the second's rate is printed as a ratio of the first's.
#include "support/allocation_counter.hpp"
#include "support/measure.hpp"

#include <unblock/unblock.hpp>

enum class offload { to_thread, run_in_executor };

template <offload How>
unblock::task<> offload_once(unblock::thread_pool_executor& pool) {
    if constexpr (How == offload::to_thread) {
        (void)pool; // the loop's default executor is this pool
        co_await unblock::to_thread([] {});
    } else {
        co_await unblock::run_in_executor(pool, [] {});
    }
}

/// Runs one batch; returns its wall time.
template <offload How>
unblock::task<bench::clock::duration> batch(unblock::thread_pool_executor& pool, int n) {
    std::vector<unblock::join_handle<void>> handles;
    handles.reserve(static_cast<std::size_t>(n));
    const auto start = bench::clock::now();
    for (int i = 0; i < n; ++i)
        handles.push_back(unblock::create_task(offload_once<How>(pool)));
    for (auto& h : handles)
        co_await h;
    co_return bench::clock::now() - start;
}

struct rate {
    double tasks_per_s;
    double allocs_per_task;
    double cpu_ns_per_task;
};

template <offload How>
unblock::task<rate> measure_one(unblock::thread_pool_executor& pool, int n) {
    (void)co_await batch<How>(pool, n); // warm-up: threads started, queues grown
    std::vector<double> rates;
    long allocations = 0;
    const auto cpu_before = bench::process_cpu_time();
    for (int r = 0; r < 3; ++r) {
        const long before = bench::allocations();
        const auto took = co_await batch<How>(pool, n);
        allocations = bench::allocations() - before;
        rates.push_back(n / std::chrono::duration<double>(took).count());
    }
    co_return rate{bench::median(rates), static_cast<double>(allocations) / n,
                   bench::cpu_ns_per_op(bench::process_cpu_time() - cpu_before, 3L * n)};
}

unblock::task<> measure(unblock::thread_pool_executor& pool, bool smoke) {
    const std::vector<int> sizes =
        smoke ? std::vector<int>{100} : std::vector<int>{10'000, 100'000};
    for (int n : sizes) {
        // Calls of operator new per task. A task is one coroutine frame, which the
        // loop recycles while it is busy (detail/frame_cache.hpp): 1 per task in a
        // cold batch, 0 in these warm ones. to_thread itself allocates nothing
        // (tests/test_offload_allocations.cpp); run_in_executor allocates its future.
        const rate direct = co_await measure_one<offload::to_thread>(pool, n);
        const rate tutorial = co_await measure_one<offload::run_in_executor>(pool, n);
        std::printf("W2 unblock n=%d tasks_per_s=%.0f allocs_per_task=%.2f cpu_ns_per_op=%.0f\n", n,
                    direct.tasks_per_s, direct.allocs_per_task, direct.cpu_ns_per_task);
        std::printf("W2 unblock-run_in_executor n=%d tasks_per_s=%.0f allocs_per_task=%.2f "
                    "cpu_ns_per_op=%.0f\n",
                    n, tutorial.tasks_per_s, tutorial.allocs_per_task, tutorial.cpu_ns_per_task);
        std::printf("# W2 n=%d run_in_executor / to_thread = %.2f\n", n,
                    tutorial.tasks_per_s / direct.tasks_per_s);
    }
}

int main(int argc, char** argv) {
    unblock::event_loop loop;
    auto pool = std::make_shared<unblock::thread_pool_executor>(2);
    loop.set_default_executor(pool);
    loop.run_until_complete(measure(*pool, bench::smoke_mode(argc, argv)));
}
