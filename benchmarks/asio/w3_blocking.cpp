// W3 blocking concurrency (BENCHMARKS.md), Boost.Asio peer: 64 coroutines on
// the io_context (run on the main thread) each offload a 10 ms sleep to a
// 64-thread asio::thread_pool; total wall ms (ideal 10). cold_wall_ms on a
// fresh pool, wall_ms the median of the next 5 rounds.
// `--offload co_spawn|handwritten`: see offload.hpp.
#include "offload.hpp"
#include "support/measure.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <thread>

asio::awaitable<void> sleeper(asio::thread_pool& pool, peer::offload_impl impl,
                              std::chrono::milliseconds d) {
    co_await peer::offload_with(impl, pool, [d] { std::this_thread::sleep_for(d); });
}

double round_ms(asio::io_context& loop, asio::thread_pool& pool, peer::offload_impl impl, int tasks,
                std::chrono::milliseconds sleep) {
    loop.restart();
    const auto start = bench::clock::now();
    for (int i = 0; i < tasks; ++i)
        asio::co_spawn(loop, sleeper(pool, impl, sleep), asio::detached);
    loop.run(); // returns once every task has completed
    return std::chrono::duration<double, std::milli>(bench::clock::now() - start).count();
}

int main(int argc, char** argv) {
    const bool smoke = bench::smoke_mode(argc, argv);
    const auto impl = peer::parse_offload(argc, argv);
    const int tasks = smoke ? 4 : 64;
    const auto sleep = std::chrono::milliseconds(smoke ? 1 : 10);
    asio::io_context loop(1); // concurrency hint: one thread runs it (see w1_round_trip.cpp)
    asio::thread_pool pool(static_cast<std::size_t>(tasks));
    const double cold = round_ms(loop, pool, impl, tasks, sleep);
    std::vector<double> warm;
    for (int r = 0; r < 5; ++r)
        warm.push_back(round_ms(loop, pool, impl, tasks, sleep));
    std::printf("W3 %s cold_wall_ms=%.2f wall_ms=%.2f\n", peer::impl_name(impl), cold,
                bench::median(warm));
}
