// W1 round-trip latency (BENCHMARKS.md), Boost.Asio peer: a coroutine on the
// io_context (run on the main thread) sequentially awaits the offload of a
// no-op to a 2-thread asio::thread_pool and resumes on the io_context; 1,000
// warm-up round trips, then 20,000 timed one by one.
// `--offload co_spawn|handwritten`: see offload.hpp.
#include "offload.hpp"
#include "support/measure.hpp"

#include <boost/asio/io_context.hpp>

#include <thread>

asio::awaitable<int> measure(asio::thread_pool& pool, peer::offload_impl impl, int warmup,
                             int rounds) {
    const auto loop_thread = std::this_thread::get_id();
    int off_loop = 0;
    for (int i = 0; i < warmup; ++i)
        co_await peer::offload_with(impl, pool, [] {});
    std::vector<long> samples;
    samples.reserve(static_cast<std::size_t>(rounds));
    const auto cpu_before = bench::process_cpu_time();
    for (int i = 0; i < rounds; ++i) {
        const auto start = bench::clock::now();
        co_await peer::offload_with(impl, pool, [] {});
        const auto end = bench::clock::now();
        if (std::this_thread::get_id() != loop_thread) ++off_loop;
        samples.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
    }
    const double cpu_ns = bench::cpu_ns_per_op(bench::process_cpu_time() - cpu_before, rounds);
    const long median = bench::percentile(samples, 50);
    const long p99 = bench::percentile(samples, 99);
    std::printf("W1 %s median_ns=%ld p99_ns=%ld cpu_ns_per_op=%.0f\n", peer::impl_name(impl),
                median, p99, cpu_ns);
    if (off_loop != 0) std::fprintf(stderr, "W1: %d resumptions off the loop thread\n", off_loop);
    co_return off_loop == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
    const bool smoke = bench::smoke_mode(argc, argv);
    const auto impl = peer::parse_offload(argc, argv);
    // Concurrency hint 1: only the main thread runs this io_context, so Asio
    // may queue the loop's own posts without locking (the pool still posts
    // completions to it safely). What a skilled user sets for a 1-thread loop.
    asio::io_context loop(1);
    asio::thread_pool pool(2);
    int exit_code = 1;
    asio::co_spawn(loop, measure(pool, impl, smoke ? 10 : 1'000, smoke ? 100 : 20'000),
                   [&exit_code](std::exception_ptr error, int code) {
                       if (error) std::rethrow_exception(error);
                       exit_code = code;
                   });
    loop.run();
    return exit_code;
}
