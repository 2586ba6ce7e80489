// W5 loop overhead (BENCHMARKS.md), Boost.Asio peer (an io_context run on the
// main thread; no pool involved):
//   (a) 100,000 coroutines each yield to the loop 10 times (a post of the
//       coroutine's continuation to its own executor): yields_per_s;
//   (b) with --memory, in this fresh process: 100,000 coroutines all suspended
//       on a 1 s steady_timer: bytes_per_task = (VmHWM after - before) / 100,000.
#include "support/measure.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstring>

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> yielder(int yields) {
    const auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < yields; ++i)
        co_await asio::post(ex, asio::use_awaitable);
}

void yields(int tasks, int per_task) {
    asio::io_context loop(1); // concurrency hint: one thread runs it
    const auto start = bench::clock::now();
    for (int i = 0; i < tasks; ++i)
        asio::co_spawn(loop, yielder(per_task), asio::detached);
    loop.run(); // returns once every task has completed
    const double seconds = std::chrono::duration<double>(bench::clock::now() - start).count();
    std::printf("W5 asio yields_per_s=%.0f\n", static_cast<double>(tasks) * per_task / seconds);
}

asio::awaitable<void> sleeper(int& suspended) {
    asio::steady_timer timer(co_await asio::this_coro::executor, 1s);
    ++suspended;
    co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<void> memory(int tasks, int& suspended) {
    const auto ex = co_await asio::this_coro::executor;
    const long before = bench::peak_rss_bytes();
    for (int i = 0; i < tasks; ++i)
        asio::co_spawn(ex, sleeper(suspended), asio::detached);
    asio::steady_timer settle(ex);
    do { // until every task has started and is suspended on its timer
        settle.expires_after(10ms);
        co_await settle.async_wait(asio::use_awaitable);
    } while (suspended < tasks);
    const long after = bench::peak_rss_bytes();
    std::printf("W5 asio bytes_per_task=%.0f\n", static_cast<double>(after - before) / tasks);
}

int main(int argc, char** argv) {
    const bool smoke = bench::smoke_mode(argc, argv);
    const int tasks = smoke ? 1'000 : 100'000;
    bool memory_mode = false;
    for (int i = 1; i < argc; ++i)
        memory_mode = memory_mode || std::strcmp(argv[i], "--memory") == 0;
    if (memory_mode) {
        asio::io_context loop(1);
        int suspended = 0; // sleepers counted in before they suspend
        asio::co_spawn(loop, memory(tasks, suspended), [](std::exception_ptr error) {
            if (error) std::rethrow_exception(error);
        });
        loop.run(); // returns when the sleepers have woken up, after 1 s
    } else {
        yields(tasks, 10);
    }
}
