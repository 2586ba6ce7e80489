// W1 round-trip latency (BENCHMARKS.md): a coroutine on the loop thread
// sequentially awaits the offload of a no-op to a 2-thread pool and resumes
// on the loop thread; 1,000 warm-up round trips, then 20,000 timed one by one.
#include "support/measure.hpp"

#include <unblock/unblock.hpp>

#include <thread>

unblock::task<int> measure(int warmup, int rounds) {
    const auto loop_thread = std::this_thread::get_id();
    int off_loop = 0;
    for (int i = 0; i < warmup; ++i)
        co_await unblock::to_thread([] {});
    std::vector<long> samples;
    samples.reserve(static_cast<std::size_t>(rounds));
    const auto cpu_before = bench::process_cpu_time();
    for (int i = 0; i < rounds; ++i) {
        const auto start = bench::clock::now();
        co_await unblock::to_thread([] {});
        const auto end = bench::clock::now();
        if (std::this_thread::get_id() != loop_thread) ++off_loop;
        samples.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
    }
    const double cpu_ns = bench::cpu_ns_per_op(bench::process_cpu_time() - cpu_before, rounds);
    const long median = bench::percentile(samples, 50);
    const long p99 = bench::percentile(samples, 99);
    std::printf("W1 unblock median_ns=%ld p99_ns=%ld cpu_ns_per_op=%.0f\n", median, p99, cpu_ns);
    if (off_loop != 0) std::fprintf(stderr, "W1: %d resumptions off the loop thread\n", off_loop);
    co_return off_loop == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
    const bool smoke = bench::smoke_mode(argc, argv);
    unblock::event_loop loop;
    loop.set_default_executor(std::make_shared<unblock::thread_pool_executor>(2));
    return loop.run_until_complete(measure(smoke ? 10 : 1'000, smoke ? 100 : 20'000));
}
