// W3 blocking concurrency (BENCHMARKS.md): 64 tasks each offload a 10 ms
// sleep to a 64-thread pool; total wall ms (ideal 10). cold_wall_ms on a
// fresh pool, wall_ms the median of the next 5 rounds. Twice: a pool whose
// threads start on demand (impl `unblock`), and one whose threads all start
// with it (`unblock-min_workers`, comparable with Asio's thread_pool). And
// the floor of every pool that starts threads on demand (`thread-floor`, not
// a peer): plain threads started one after another, each sleeping, no pool.
#include "support/measure.hpp"

#include <unblock/unblock.hpp>

#include <thread>
#include <vector>

unblock::task<double> round_ms(int tasks, std::chrono::milliseconds sleep) {
    std::vector<unblock::task<>> work;
    for (int i = 0; i < tasks; ++i) {
        work.push_back([](std::chrono::milliseconds d) -> unblock::task<> {
            co_await unblock::to_thread([d] { std::this_thread::sleep_for(d); });
        }(sleep));
    }
    const auto start = bench::clock::now();
    co_await unblock::gather(std::move(work));
    co_return std::chrono::duration<double, std::milli>(bench::clock::now() - start).count();
}

/// A fresh pool's first round (cold) and the median of the next 5 (warm).
unblock::task<> measure(const char* impl, bool smoke) {
    const int tasks = smoke ? 4 : 64;
    const auto sleep = std::chrono::milliseconds(smoke ? 1 : 10);
    const double cold = co_await round_ms(tasks, sleep);
    std::vector<double> warm;
    for (int r = 0; r < 5; ++r)
        warm.push_back(co_await round_ms(tasks, sleep));
    std::printf("W3 %s cold_wall_ms=%.2f wall_ms=%.2f\n", impl, cold, bench::median(warm));
}

/// 64 plain std::threads started one after another, each sleeping 10 ms: the
/// wall time until the last ends. What creating the threads costs this kernel,
/// which a cold on-demand pool pays on top of the sleep.
void thread_floor(bool smoke) {
    const int threads = smoke ? 4 : 64;
    const auto sleep = std::chrono::milliseconds(smoke ? 1 : 10);
    std::vector<std::thread> started;
    started.reserve(static_cast<std::size_t>(threads));
    const auto start = bench::clock::now();
    for (int i = 0; i < threads; ++i)
        started.emplace_back([sleep] { std::this_thread::sleep_for(sleep); });
    for (auto& t : started)
        t.join();
    const double wall =
        std::chrono::duration<double, std::milli>(bench::clock::now() - start).count();
    std::printf("W3 thread-floor cold_wall_ms=%.2f\n", wall);
}

int main(int argc, char** argv) {
    const bool smoke = bench::smoke_mode(argc, argv);
    const std::size_t threads = smoke ? 4 : 64;
    // Threads started lazily, on demand (as Tokio, libuv and asyncio do)...
    {
        unblock::event_loop loop;
        loop.set_default_executor(std::make_shared<unblock::thread_pool_executor>(threads));
        loop.run_until_complete(measure("unblock", smoke));
    }
    thread_floor(smoke); // after unblock's cold round, so that one is the process's first
    // ...and all started with the pool (options::min_workers), as Asio's
    // thread_pool does: the cold round then pays no thread creation.
    unblock::thread_pool_executor::options prestarted;
    prestarted.max_workers = threads;
    prestarted.min_workers = threads;
    unblock::event_loop loop;
    loop.set_default_executor(std::make_shared<unblock::thread_pool_executor>(prestarted));
    loop.run_until_complete(measure("unblock-min_workers", smoke));
}
