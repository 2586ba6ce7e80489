// W2 throughput (BENCHMARKS.md), libuv peer: N uv_work_t requests (each a
// no-op) queued at once to libuv's threadpool (2 threads) from the loop
// thread; time from the first uv_queue_work to the last after_work callback.
// N = 10,000 and 100,000, median of 3 after a warm-up batch. Also counts heap
// allocations per task with the replaced operator new of this binary.
//
// libuv has no coroutines or tasks: a "task" here is one uv_work_t request and
// its after_work callback, the way a libuv user writes it. Its figure is the
// callback floor that unblock's coroutines are compared with.
//
// Allocation: each request is allocated with one `new` (and freed in its
// after_work), as a libuv user does when requests outlive the function that
// starts them. That is the comparable choice: unblock counts a task's own
// coroutine frame as its allocation. libuv itself allocates nothing per
// request (its queue is intrusive), and its malloc calls would not be counted
// by operator new anyway (as for the other C++ peers, only operator new is).
#include "libuv/peer.hpp"
#include "support/allocation_counter.hpp"
#include "support/measure.hpp"

#include <uv.h>

#include <cstdio>
#include <cstdlib>

namespace {

using peer::check;

/// One batch in flight: how many requests are left and when the last finished.
struct Batch {
    int remaining = 0;
    bench::clock::time_point end;
};

void after_work(uv_work_t* request, int status) {
    check(status, "after_work status");
    auto& batch = *static_cast<Batch*>(request->data);
    delete request;
    if (--batch.remaining == 0) batch.end = bench::clock::now();
}

/// Runs one batch of n requests on `loop`; returns its wall time.
bench::clock::duration run_batch(uv_loop_t* loop, int n) {
    Batch batch;
    batch.remaining = n;
    const auto start = bench::clock::now();
    for (int i = 0; i < n; ++i) {
        auto* request = new uv_work_t{};
        request->data = &batch;
        check(uv_queue_work(
                  loop, request, [](uv_work_t*) {}, &after_work),
              "uv_queue_work");
    }
    uv_run(loop, UV_RUN_DEFAULT); // returns once every request has completed
    return batch.end - start;
}

} // namespace

int main(int argc, char** argv) {
    const bool smoke = bench::smoke_mode(argc, argv);
    peer::use_threadpool_size(2);
    uv_loop_t loop;
    check(uv_loop_init(&loop), "uv_loop_init");

    const std::vector<int> sizes =
        smoke ? std::vector<int>{100} : std::vector<int>{10'000, 100'000};
    for (int n : sizes) {
        (void)run_batch(&loop, n); // warm-up: threads started, allocator warmed
        std::vector<double> rates;
        long allocations = 0;
        const auto cpu_before = bench::process_cpu_time();
        for (int r = 0; r < 3; ++r) {
            const long before = bench::allocations();
            const auto took = run_batch(&loop, n);
            allocations = bench::allocations() - before; // the last batch's, like unblock's
            rates.push_back(n / std::chrono::duration<double>(took).count());
        }
        const double cpu_ns = bench::cpu_ns_per_op(bench::process_cpu_time() - cpu_before, 3L * n);
        std::printf("W2 libuv n=%d tasks_per_s=%.0f allocs_per_task=%.2f cpu_ns_per_op=%.0f\n", n,
                    bench::median(rates), static_cast<double>(allocations) / n, cpu_ns);
    }
    check(uv_loop_close(&loop), "uv_loop_close");
}
