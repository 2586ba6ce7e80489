// W8, the MPI executor (issue 12): run under `mpirun -np 3` (rank 0 runs the
// loop, ranks 1-2 serve), with the same ranks as mpi4py.futures' peer
// (benchmarks/python/w8_mpi_futures.py):
//   round trip  2,000 sequential `co_await run_in_executor(pool, add_one, x)`
//               after 100 warm-up calls: median and p99 in µs;
//   CPU-bound   64 calls at once, each keeping its rank's core busy for 5 ms:
//               tasks/s, and efficiency = tasks/s ÷ (workers / 5 ms), the
//               ideal. A busy loop of fixed length, not a computation, so the
//               C++ and Python peers do the same work per call.
// Prints `W8 unblock median_us=... p99_us=... tasks_per_s=... efficiency=...`.
#include "support/measure.hpp"

#include <unblock/mpi.hpp>
#include <unblock/unblock.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

namespace {

long add_one(long x) { return x + 1; }

/// Keeps this rank's core busy for `ms` milliseconds.
int spin(int ms) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
    }
    return ms;
}

struct figures {
    double median_us = 0;
    double p99_us = 0;
    double tasks_per_s = 0;
    bool ok = false;
};

unblock::task<figures> measure(unblock::mpi_pool_executor& pool, int warmup, int rounds, int tasks,
                               int spin_ms) {
    figures out;
    long x = 0;
    for (int i = 0; i < warmup; ++i)
        x = co_await unblock::run_in_executor(pool, add_one, x);
    std::vector<double> samples;
    for (int i = 0; i < rounds; ++i) {
        const auto start = bench::clock::now();
        x = co_await unblock::run_in_executor(pool, add_one, x);
        samples.push_back(
            std::chrono::duration<double, std::micro>(bench::clock::now() - start).count());
    }
    out.median_us = bench::percentile(samples, 50);
    out.p99_us = bench::percentile(samples, 99);

    const std::vector<int> lengths(static_cast<std::size_t>(tasks), spin_ms);
    const auto start = bench::clock::now();
    const std::vector<int> done = co_await unblock::map(pool, spin, lengths);
    const double seconds = std::chrono::duration<double>(bench::clock::now() - start).count();
    out.tasks_per_s = tasks / seconds;
    out.ok = x == warmup + rounds && done == lengths;
    co_return out;
}

} // namespace

int main(int argc, char** argv) {
    unblock::mpi_environment mpi(argc, argv);
    if (mpi.is_worker()) return mpi.serve();
    const bool smoke = bench::smoke_mode(argc, argv);
    unblock::mpi_pool_executor pool(mpi);
    constexpr int spin_ms = 5;
    const figures f =
        unblock::run(measure(pool, smoke ? 10 : 100, smoke ? 50 : 2000, smoke ? 8 : 64, spin_ms));
    const double ideal = pool.workers() * 1000.0 / spin_ms;
    std::printf("W8 unblock median_us=%.1f p99_us=%.1f tasks_per_s=%.0f "
                "efficiency=%.2f\n",
                f.median_us, f.p99_us, f.tasks_per_s, f.tasks_per_s / ideal);
    return f.ok ? 0 : 1;
}
