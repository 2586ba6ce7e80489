// W7 limited offloading (BENCHMARKS.md): start N tasks at once, each running
// one no-op through a capacity limiter of 8 on a 2-thread pool (unblock:
// capacity_limiter::run; asyncio: Semaphore(8) + to_thread; Tokio:
// Semaphore(8) + spawn_blocking); time from the first start to the last
// completion. N = 100,000 (100 with --smoke), median of 3 after a warm-up
// batch. Counts heap allocations per task; prints the same program without
// the limiter (`unblock-unlimited`, W2's to_thread) beside it, so that the
// limiter's own cost shows as a ratio from the same run.
#include "support/allocation_counter.hpp"
#include "support/measure.hpp"

#include <unblock/unblock.hpp>

template <bool Limited>
unblock::task<> offload_once(unblock::capacity_limiter& limiter) {
    if constexpr (Limited) {
        co_await limiter.run([] {});
    } else {
        (void)limiter;
        co_await unblock::to_thread([] {});
    }
}

template <bool Limited>
unblock::task<bench::clock::duration> batch(unblock::capacity_limiter& limiter, int n) {
    std::vector<unblock::join_handle<void>> handles;
    handles.reserve(static_cast<std::size_t>(n));
    const auto start = bench::clock::now();
    for (int i = 0; i < n; ++i)
        handles.push_back(unblock::create_task(offload_once<Limited>(limiter)));
    for (auto& h : handles)
        co_await h;
    co_return bench::clock::now() - start;
}

struct rate {
    double tasks_per_s;
    double allocs_per_task;
    double cpu_ns_per_task;
};

template <bool Limited>
unblock::task<rate> measure_one(unblock::capacity_limiter& limiter, int n) {
    (void)co_await batch<Limited>(limiter, n); // warm-up
    std::vector<double> rates;
    long allocations = 0;
    const auto cpu_before = bench::process_cpu_time();
    for (int r = 0; r < 3; ++r) {
        const long before = bench::allocations();
        const auto took = co_await batch<Limited>(limiter, n);
        allocations = bench::allocations() - before;
        rates.push_back(n / std::chrono::duration<double>(took).count());
    }
    co_return rate{bench::median(rates), static_cast<double>(allocations) / n,
                   bench::cpu_ns_per_op(bench::process_cpu_time() - cpu_before, 3L * n)};
}

unblock::task<> measure(bool smoke) {
    const int n = smoke ? 100 : 100'000;
    unblock::capacity_limiter limiter(8);
    const rate limited = co_await measure_one<true>(limiter, n);
    const rate unlimited = co_await measure_one<false>(limiter, n);
    std::printf("W7 unblock n=%d tasks_per_s=%.0f allocs_per_task=%.2f cpu_ns_per_op=%.0f\n", n,
                limited.tasks_per_s, limited.allocs_per_task, limited.cpu_ns_per_task);
    std::printf("W7 unblock-unlimited n=%d tasks_per_s=%.0f allocs_per_task=%.2f "
                "cpu_ns_per_op=%.0f\n",
                n, unlimited.tasks_per_s, unlimited.allocs_per_task, unlimited.cpu_ns_per_task);
    std::printf("# W7 n=%d limited / unlimited = %.2f\n", n,
                limited.tasks_per_s / unlimited.tasks_per_s);
}

int main(int argc, char** argv) {
    unblock::event_loop loop;
    loop.set_default_executor(std::make_shared<unblock::thread_pool_executor>(2));
    loop.run_until_complete(measure(bench::smoke_mode(argc, argv)));
}
