// Idle cost (BENCHMARKS.md), libuv peer: libuv's threadpool (2 threads) runs
// 100 sequential no-op uv_queue_work requests, then the loop's only work is a
// 1 s uv_timer: CPU time (user + system) the process uses in that second.
//
// libuv has no coroutines: the sequence is a chain of after_work callbacks.
#include "libuv/peer.hpp"
#include "support/measure.hpp"

#include <uv.h>

#include <cstdio>
#include <cstdlib>

namespace {

using peer::check;

struct Idle {
    uv_loop_t* loop = nullptr;
    uv_work_t request{};
    uv_timer_t timer{};
    int offloads_left = 100;
    std::chrono::milliseconds window{};
    std::chrono::microseconds cpu_before{};
};

void offload(Idle& idle);

void after_window(uv_timer_t* timer) {
    auto& idle = *static_cast<Idle*>(timer->data);
    const auto used = bench::process_cpu_time() - idle.cpu_before;
    std::printf("IDLE libuv cpu_ms_per_s=%.3f\n",
                std::chrono::duration<double, std::milli>(used).count() /
                    std::chrono::duration<double>(idle.window).count());
    uv_close(reinterpret_cast<uv_handle_t*>(timer), nullptr);
}

void after_work(uv_work_t* request, int status) {
    check(status, "after_work status");
    auto& idle = *static_cast<Idle*>(request->data);
    if (--idle.offloads_left > 0) {
        offload(idle);
        return;
    }
    // The pool has just worked; now the loop only waits for the timer.
    idle.cpu_before = bench::process_cpu_time();
    check(uv_timer_start(&idle.timer, &after_window, static_cast<uint64_t>(idle.window.count()), 0),
          "uv_timer_start");
}

void offload(Idle& idle) {
    check(uv_queue_work(
              idle.loop, &idle.request, [](uv_work_t*) {}, &after_work),
          "uv_queue_work");
}

} // namespace

int main(int argc, char** argv) {
    peer::use_threadpool_size(2);
    uv_loop_t loop;
    check(uv_loop_init(&loop), "uv_loop_init");
    Idle idle;
    idle.loop = &loop;
    idle.window = std::chrono::milliseconds(bench::smoke_mode(argc, argv) ? 50 : 1000);
    idle.request.data = &idle;
    check(uv_timer_init(&loop, &idle.timer), "uv_timer_init");
    idle.timer.data = &idle;

    offload(idle);
    uv_run(&loop, UV_RUN_DEFAULT); // returns after the timer has fired and closed
    check(uv_loop_close(&loop), "uv_loop_close");
}
