// Idle cost (BENCHMARKS.md), Boost.Asio peer: an io_context (run on the main
// thread) whose only coroutine sleeps 1 s on a steady_timer, right after 100
// no-op offloads to a 2-thread asio::thread_pool: CPU time used in that second.
// `--offload co_spawn|handwritten`: see offload.hpp.
#include "offload.hpp"
#include "support/measure.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

using namespace std::chrono_literals;

asio::awaitable<void> idle(asio::thread_pool& pool, peer::offload_impl impl,
                           std::chrono::milliseconds window) {
    for (int i = 0; i < 100; ++i)
        co_await peer::offload_with(impl, pool, [] {}); // the pool has just worked
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto cpu_before = bench::process_cpu_time();
    timer.expires_after(window);
    co_await timer.async_wait(asio::use_awaitable);
    const auto used = bench::process_cpu_time() - cpu_before;
    std::printf("IDLE %s cpu_ms_per_s=%.3f\n", peer::impl_name(impl),
                std::chrono::duration<double, std::milli>(used).count() /
                    std::chrono::duration<double>(window).count());
}

int main(int argc, char** argv) {
    const auto impl = peer::parse_offload(argc, argv);
    asio::io_context loop(1); // concurrency hint: one thread runs it (see w1_round_trip.cpp)
    asio::thread_pool pool(2);
    asio::co_spawn(loop, idle(pool, impl, bench::smoke_mode(argc, argv) ? 50ms : 1000ms),
                   [](std::exception_ptr error) {
                       if (error) std::rethrow_exception(error);
                   });
    loop.run();
}
