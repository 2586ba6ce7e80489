// W1 round-trip latency (BENCHMARKS.md), libuv peer: a uv_loop on the main
// thread sequentially offloads a no-op with uv_queue_work to libuv's
// threadpool (2 threads) and continues in the after_work callback on the loop
// thread; 1,000 warm-up round trips, then 20,000 timed one by one.
//
// libuv is a C library of callbacks: it has no coroutines and no tasks, so the
// "coroutine" here is a hand-written state machine (Chain) whose continuation
// is after_work. That is the point of the comparison: what the same round trip
// costs without any coroutine machinery.
#include "libuv/peer.hpp"
#include "support/measure.hpp"

#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {

using peer::check;

/// The state of the sequential round trips; one uv_work_t, reused (only one is
/// in flight at a time, so a libuv user needs no allocation per round trip).
struct Chain {
    uv_loop_t* loop = nullptr;
    uv_work_t request{};
    std::thread::id loop_thread;
    int warmup = 0;
    int rounds = 0;
    int done = 0;
    int off_loop = 0;
    bench::clock::time_point start;
    std::chrono::microseconds cpu_before{}; ///< process CPU time when the timed rounds began
    std::vector<long> samples;
};

void submit(Chain& chain);

void after_work(uv_work_t* request, int status) {
    const auto end = bench::clock::now();
    check(status, "after_work status");
    auto& chain = *static_cast<Chain*>(request->data);
    // libuv promises after_work_cb runs on the loop thread; check it every time.
    if (std::this_thread::get_id() != chain.loop_thread) ++chain.off_loop;
    if (chain.done >= chain.warmup) {
        chain.samples.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(end - chain.start).count());
    }
    if (++chain.done < chain.warmup + chain.rounds) submit(chain);
}

void submit(Chain& chain) {
    if (chain.done == chain.warmup) chain.cpu_before = bench::process_cpu_time();
    chain.start = bench::clock::now();
    check(uv_queue_work(
              chain.loop, &chain.request, [](uv_work_t*) {}, &after_work),
          "uv_queue_work");
}

} // namespace

int main(int argc, char** argv) {
    const bool smoke = bench::smoke_mode(argc, argv);
    peer::use_threadpool_size(2);

    uv_loop_t loop;
    check(uv_loop_init(&loop), "uv_loop_init");
    Chain chain;
    chain.loop = &loop;
    chain.request.data = &chain;
    chain.loop_thread = std::this_thread::get_id();
    chain.warmup = smoke ? 10 : 1'000;
    chain.rounds = smoke ? 100 : 20'000;
    chain.samples.reserve(static_cast<std::size_t>(chain.rounds));

    submit(chain);
    uv_run(&loop, UV_RUN_DEFAULT); // returns once the last round trip is done
    const double cpu_ns =
        bench::cpu_ns_per_op(bench::process_cpu_time() - chain.cpu_before, chain.rounds);
    check(uv_loop_close(&loop), "uv_loop_close");

    const long median = bench::percentile(chain.samples, 50);
    const long p99 = bench::percentile(chain.samples, 99);
    std::printf("W1 libuv median_ns=%ld p99_ns=%ld cpu_ns_per_op=%.0f\n", median, p99, cpu_ns);
    if (chain.off_loop != 0)
        std::fprintf(stderr, "W1: %d callbacks off the loop thread\n", chain.off_loop);
    return chain.off_loop == 0 ? 0 : 1;
}
