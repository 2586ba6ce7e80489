// W5 loop overhead (BENCHMARKS.md), libuv peer: in this fresh process,
// 100,000 uv_timer_t all armed for 1 s at once:
// bytes_per_task = (VmHWM after - before) / 100,000.
//
// libuv has no coroutines and no tasks, so this is the floor a coroutine
// library's suspended task is compared with: a "task" is a bare uv_timer_t,
// allocated with one `new` each (a wait with no state of its own).
// W5's yields_per_s has no libuv counterpart (BENCHMARKS.md: "no tasks").
#include "libuv/peer.hpp"
#include "support/measure.hpp"

#include <uv.h>

#include <cstdio>
#include <cstdlib>

namespace {

using peer::check;

// --- memory -----------------------------------------------------------------

struct Probe {
    uv_timer_t timer{};
    int tasks = 0;
    long before = 0;
};

void memory(int tasks) {
    uv_loop_t loop;
    check(uv_loop_init(&loop), "uv_loop_init");
    Probe probe; // the measuring timer: set up before the baseline, not per-task memory
    probe.tasks = tasks;
    probe.timer.data = &probe;
    check(uv_timer_init(&loop, &probe.timer), "uv_timer_init");
    probe.before = bench::peak_rss_bytes();
    for (int i = 0; i < tasks; ++i) {
        auto* timer = new uv_timer_t{};
        check(uv_timer_init(&loop, timer), "uv_timer_init");
        check(uv_timer_start(
                  timer,
                  [](uv_timer_t* fired) {
                      uv_close(reinterpret_cast<uv_handle_t*>(fired), [](uv_handle_t* handle) {
                          delete reinterpret_cast<uv_timer_t*>(handle);
                      });
                  },
                  1000, 0),
              "uv_timer_start");
    }
    // After 10 ms every timer is armed and the loop is waiting: measure then.
    check(uv_timer_start(
              &probe.timer,
              [](uv_timer_t* timer) {
                  const auto& p = *static_cast<Probe*>(timer->data);
                  const long after = bench::peak_rss_bytes();
                  std::printf("W5 libuv bytes_per_task=%.0f\n",
                              static_cast<double>(after - p.before) / p.tasks);
                  uv_close(reinterpret_cast<uv_handle_t*>(timer), nullptr);
              },
              10, 0),
          "uv_timer_start");
    uv_run(&loop, UV_RUN_DEFAULT); // returns once every timer has fired and closed
    check(uv_loop_close(&loop), "uv_loop_close");
}

} // namespace

int main(int argc, char** argv) {
    const bool smoke = bench::smoke_mode(argc, argv);
    const int tasks = smoke ? 1'000 : 100'000;
    memory(tasks); // --memory, the only mode, is accepted for symmetry with the other W5 programs
}
