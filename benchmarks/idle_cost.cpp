// Idle cost (BENCHMARKS.md): a loop whose only task sleeps 1 s, with a
// default executor that has just finished work: CPU time used in that second.
#include "support/measure.hpp"

#include <unblock/unblock.hpp>

using namespace std::chrono_literals;

unblock::task<> idle(std::chrono::milliseconds window) {
    for (int i = 0; i < 100; ++i)
        co_await unblock::to_thread([] {}); // the pool has just worked
    const auto cpu_before = bench::process_cpu_time();
    co_await unblock::sleep(window);
    const auto used = bench::process_cpu_time() - cpu_before;
    std::printf("IDLE unblock cpu_ms_per_s=%.3f\n",
                std::chrono::duration<double, std::milli>(used).count() /
                    std::chrono::duration<double>(window).count());
}

int main(int argc, char** argv) {
    unblock::run(idle(bench::smoke_mode(argc, argv) ? 50ms : 1000ms));
}
