// W5 loop overhead (BENCHMARKS.md):
//   (a) 100,000 tasks each yield to the loop 10 times: yields_per_s;
//   (b) with --memory, in this fresh process: 100,000 tasks all suspended on
//       a 1 s timer: bytes_per_task = (VmHWM after - before) / 100,000.
#include "support/measure.hpp"

#include <unblock/unblock.hpp>

#include <cstring>

using namespace std::chrono_literals;

unblock::task<> yielder(int yields) {
    for (int i = 0; i < yields; ++i)
        co_await unblock::sleep(0s);
}

unblock::task<> yields(int tasks, int per_task) {
    std::vector<unblock::join_handle<void>> handles;
    handles.reserve(static_cast<std::size_t>(tasks));
    const auto start = bench::clock::now();
    for (int i = 0; i < tasks; ++i)
        handles.push_back(unblock::create_task(yielder(per_task)));
    for (auto& h : handles)
        co_await h;
    const double seconds = std::chrono::duration<double>(bench::clock::now() - start).count();
    std::printf("W5 unblock yields_per_s=%.0f\n", static_cast<double>(tasks) * per_task / seconds);
}

unblock::task<> sleeper() { co_await unblock::sleep(1s); }

unblock::task<> memory(int tasks) {
    std::vector<unblock::join_handle<void>> handles;
    // Reserved, not touched: its pages (8 bytes per task) count after the
    // baseline, as Tokio's JoinHandle vector does; Asio's detached tasks have none.
    handles.reserve(static_cast<std::size_t>(tasks));
    const long before = bench::peak_rss_bytes();
    for (int i = 0; i < tasks; ++i)
        handles.push_back(unblock::create_task(sleeper()));
    co_await unblock::sleep(10ms); // every task has started and is suspended on its timer
    const long after = bench::peak_rss_bytes();
    std::printf("W5 unblock bytes_per_task=%.0f\n", static_cast<double>(after - before) / tasks);
    for (auto& h : handles)
        co_await h;
}

int main(int argc, char** argv) {
    const bool smoke = bench::smoke_mode(argc, argv);
    const int tasks = smoke ? 1'000 : 100'000;
    bool memory_mode = false;
    for (int i = 1; i < argc; ++i)
        memory_mode = memory_mode || std::strcmp(argv[i], "--memory") == 0;
    if (memory_mode) {
        unblock::run(memory(tasks));
    } else {
        unblock::run(yields(tasks, 10));
    }
}
