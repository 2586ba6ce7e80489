// W4 process-pool round trip (BENCHMARKS.md): 2,000 sequential calls of
// f(x) = x + 1 in a 2-worker process pool after 100 warm-up calls; median and
// p99 in µs, for the fork server (`unblock`) and the spawn start method
// (`unblock-spawn`, with its ratio to the fork server), each with the time to
// start a pool until its first call returned. Also measures, in the same run,
// the floor: a ping-pong of one 8-byte message over a pair of pipes between
// two processes.
#include "support/measure.hpp"

#include <unblock/unblock.hpp>

#include <cmath>
#include <sys/wait.h>
#include <unistd.h>

long add_one(long x) { return x + 1; }

/// One start method's round trip: medians in µs, and the start-up cost.
struct round_trip {
    double median_us = 0;
    double p99_us = 0;
    double start_ms = 0; ///< constructing a 2-worker pool until its first call returned
    bool ok = false;     ///< every call returned x + 1
};

unblock::task<round_trip> measure(int warmup, int rounds, unblock::start_method method) {
    round_trip out;
    const auto constructed = bench::clock::now();
    unblock::process_pool_executor::options options;
    options.max_workers = 2;
    options.start_method = method;
    unblock::process_pool_executor pool(options);
    long x = co_await unblock::run_in_executor(pool, add_one, 0L);
    out.start_ms =
        std::chrono::duration<double, std::milli>(bench::clock::now() - constructed).count();
    for (int i = 1; i < warmup; ++i)
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
    out.ok = x == warmup + rounds;
    co_return out;
}

/// The fork server's round trip and the spawn method's, in the same run.
unblock::task<bool> measure_both(int warmup, int rounds) {
    const round_trip fork = co_await measure(warmup, rounds, unblock::start_method::fork_server);
    const round_trip spawn = co_await measure(warmup, rounds, unblock::start_method::spawn);
    std::printf("W4 unblock median_us=%.1f p99_us=%.1f start_ms=%.1f\n", fork.median_us,
                fork.p99_us, fork.start_ms);
    std::printf("W4 unblock-spawn median_us=%.1f p99_us=%.1f start_ms=%.1f "
                "median_vs_fork_server=%.2f start_vs_fork_server=%.1f\n",
                spawn.median_us, spawn.p99_us, spawn.start_ms, spawn.median_us / fork.median_us,
                spawn.start_ms / fork.start_ms);
    co_return fork.ok&& spawn.ok;
}

/// The same round trip with nothing but two pipes and a forked child.
void pipe_floor(int warmup, int rounds) {
    int to_child[2];
    int to_parent[2];
    if (::pipe(to_child) != 0 || ::pipe(to_parent) != 0) return;
    const pid_t child = ::fork();
    if (child == 0) {
        ::close(to_child[1]); // or the read below never sees end-of-file
        ::close(to_parent[0]);
        long v = 0;
        while (::read(to_child[0], &v, sizeof v) == sizeof v) {
            ++v;
            if (::write(to_parent[1], &v, sizeof v) != sizeof v) break;
        }
        ::_exit(0);
    }
    ::close(to_child[0]);
    ::close(to_parent[1]);
    std::vector<double> samples;
    long v = 0;
    for (int i = 0; i < warmup + rounds; ++i) {
        const auto start = bench::clock::now();
        if (::write(to_child[1], &v, sizeof v) != sizeof v ||
            ::read(to_parent[0], &v, sizeof v) != sizeof v)
            break;
        if (i >= warmup)
            samples.push_back(
                std::chrono::duration<double, std::micro>(bench::clock::now() - start).count());
    }
    ::close(to_child[1]);
    ::close(to_parent[0]);
    ::waitpid(child, nullptr, 0);
    if (samples.empty()) return;
    const double median = bench::percentile(samples, 50);
    const double p99 = bench::percentile(samples, 99);
    std::printf("W4 pipe-floor median_us=%.1f p99_us=%.1f\n", median, p99);
}

double sum_of_roots(long n) {
    double sum = 0;
    for (long i = 0; i < n; ++i)
        sum += std::sqrt(static_cast<double>(i));
    return sum;
}

/// CPU-bound scaling: the same 4 calls on 1 worker, then on 2.
unblock::task<> scaling(long n) {
    double walls[2] = {};
    for (std::size_t workers : {1u, 2u}) {
        unblock::process_pool_executor pool(workers);
        co_await unblock::run_in_executor(pool, sum_of_roots, 1L); // workers are up
        const auto start = bench::clock::now();
        std::vector<unblock::future<double>> calls;
        for (int i = 0; i < 4; ++i)
            calls.push_back(unblock::run_in_executor(pool, sum_of_roots, n));
        for (auto& call : calls)
            co_await call;
        walls[workers - 1] =
            std::chrono::duration<double, std::milli>(bench::clock::now() - start).count();
    }
    std::printf("W4 unblock scaling_ms_1_worker=%.0f scaling_ms_2_workers=%.0f "
                "scaling_speedup=%.2f\n",
                walls[0], walls[1], walls[0] / walls[1]);
}

int main(int argc, char** argv) {
    if (unblock::is_worker_process(argc, argv)) return unblock::worker_main(); // spawned workers
    const bool smoke = bench::smoke_mode(argc, argv);
    const int warmup = smoke ? 10 : 100;
    const int rounds = smoke ? 50 : 2'000;
    pipe_floor(warmup, rounds);
    const bool results_ok = unblock::run(measure_both(warmup, rounds));
    unblock::run(scaling(smoke ? 1'000 : 50'000'000));
    return results_ok ? 0 : 1;
}
