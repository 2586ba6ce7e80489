// W3 blocking concurrency (BENCHMARKS.md), libuv peer: 64 uv_work_t requests
// each sleep 10 ms in their work callback on libuv's threadpool sized to 64
// threads; total wall ms (ideal 10). cold_wall_ms is the first round, which
// also starts the pool (libuv creates all its threads at the first
// uv_queue_work); wall_ms is the median of the next 5 rounds.
//
// libuv has no coroutines: a "task" is a request and its after_work callback.
#include "libuv/peer.hpp"
#include "support/measure.hpp"

#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

using peer::check;

std::chrono::milliseconds g_sleep; // what each work callback blocks for

/// Runs one round of `tasks` sleeping requests; returns its wall time in ms.
double round_ms(uv_loop_t* loop, int tasks) {
    // The requests of one round; sized before the clock starts (not what is measured).
    std::vector<uv_work_t> requests(static_cast<std::size_t>(tasks));
    const auto start = bench::clock::now();
    for (auto& request : requests) {
        check(uv_queue_work(
                  loop, &request, [](uv_work_t*) { std::this_thread::sleep_for(g_sleep); },
                  [](uv_work_t*, int status) { check(status, "after_work status"); }),
              "uv_queue_work");
    }
    uv_run(loop, UV_RUN_DEFAULT); // returns once every request has completed
    return std::chrono::duration<double, std::milli>(bench::clock::now() - start).count();
}

} // namespace

int main(int argc, char** argv) {
    const bool smoke = bench::smoke_mode(argc, argv);
    const int tasks = smoke ? 4 : 64;
    g_sleep = std::chrono::milliseconds(smoke ? 1 : 10);
    peer::use_threadpool_size(tasks);
    uv_loop_t loop;
    check(uv_loop_init(&loop), "uv_loop_init");

    const double cold = round_ms(&loop, tasks);
    std::vector<double> warm;
    for (int r = 0; r < 5; ++r)
        warm.push_back(round_ms(&loop, tasks));
    std::printf("W3 libuv cold_wall_ms=%.2f wall_ms=%.2f\n", cold, bench::median(warm));
    check(uv_loop_close(&loop), "uv_loop_close");
}
