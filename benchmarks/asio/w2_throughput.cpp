// W2 throughput (BENCHMARKS.md), Boost.Asio peer: start N coroutines at once
// on the io_context (run on the main thread), each awaiting one offload of a
// no-op to a 2-thread asio::thread_pool; time from the first start to the last
// completion (when io_context::run() runs out of work). N = 10,000 and
// 100,000, median of 3 after a warm-up batch. Also counts heap allocations
// per task (this binary replaces operator new; CMakeLists.txt routes Asio's
// own allocations through it). `--offload co_spawn|handwritten`: see offload.hpp.
#include "offload.hpp"
#include "support/allocation_counter.hpp"
#include "support/measure.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

asio::awaitable<void> offload_once(asio::thread_pool& pool, peer::offload_impl impl) {
    co_await peer::offload_with(impl, pool, [] {});
}

/// Runs one batch; returns its wall time.
bench::clock::duration batch(asio::io_context& loop, asio::thread_pool& pool,
                             peer::offload_impl impl, int n) {
    loop.restart();
    const auto start = bench::clock::now();
    for (int i = 0; i < n; ++i)
        asio::co_spawn(loop, offload_once(pool, impl), asio::detached);
    loop.run(); // returns once every task has completed
    return bench::clock::now() - start;
}

int main(int argc, char** argv) {
    const bool smoke = bench::smoke_mode(argc, argv);
    const auto impl = peer::parse_offload(argc, argv);
    asio::io_context loop(1); // concurrency hint: one thread runs it (see w1_round_trip.cpp)
    asio::thread_pool pool(2);
    const std::vector<int> sizes =
        smoke ? std::vector<int>{100} : std::vector<int>{10'000, 100'000};
    for (int n : sizes) {
        (void)batch(loop, pool, impl, n); // warm-up: threads started, queues grown
        std::vector<double> rates;
        long allocations = 0;
        const auto cpu_before = bench::process_cpu_time();
        for (int r = 0; r < 3; ++r) {
            const long before = bench::allocations();
            const auto took = batch(loop, pool, impl, n);
            allocations = bench::allocations() - before;
            rates.push_back(n / std::chrono::duration<double>(took).count());
        }
        // Per task, as unblock counts it (last batch / N): the task's own
        // coroutine frames are counted too, and whatever the offload allocates.
        const double cpu_ns = bench::cpu_ns_per_op(bench::process_cpu_time() - cpu_before, 3L * n);
        std::printf("W2 %s n=%d tasks_per_s=%.0f allocs_per_task=%.2f cpu_ns_per_op=%.0f\n",
                    peer::impl_name(impl), n, bench::median(rates),
                    static_cast<double>(allocations) / n, cpu_ns);
    }
}
