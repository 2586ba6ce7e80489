// The asyncio tutorial's CPU-bound example (03_process_pool.cpp) spread over
// MPI ranks: count the primes below 5,000,000 in 20 chunks with
// mpi_pool_executor, while main goes on and sleeps, then awaits the result.
//
// On one machine, rank 0 runs this loop and the other ranks serve:
//   mpirun -np 4 ./mpi_primes                       (add --oversubscribe for more ranks than cores)
// On several machines, the same binary at the same path on each:
//   mpirun -np 16 --hostfile hosts ./mpi_primes     (hosts: one "name slots=N" line per machine)
// Started alone (no mpirun), it starts one worker itself with MPI_Comm_spawn.
//
// Prints:
//   Main running the blocking task on N MPI workers
//   Main doing other things
//   348513 primes below 5000000
//   Task done
#include <unblock/mpi.hpp>
#include <unblock/unblock.hpp>

#include <chrono>
#include <cstdio>
#include <numeric>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

/// Prints a line at once (Python's print(..., flush=True)).
void print(const char* line) {
    std::puts(line);
    std::fflush(stdout);
}

// a blocking cpu-bound task: the primes in [begin, end), by trial division
int count_primes(std::pair<long, long> range) {
    int count = 0;
    for (long n = std::max(range.first, 2L); n < range.second; ++n) {
        bool prime = true;
        for (long d = 2; d * d <= n; ++d) {
            if (n % d == 0) {
                prime = false;
                break;
            }
        }
        count += prime ? 1 : 0;
    }
    return count;
}

// main coroutine
unblock::task<> main_coroutine(unblock::mpi_pool_executor& exe) {
    constexpr long limit = 5'000'000;
    constexpr long chunk = limit / 20;
    std::vector<std::pair<long, long>> ranges;
    for (long begin = 0; begin < limit; begin += chunk)
        ranges.emplace_back(begin, begin + chunk);
    // report a message
    std::printf("Main running the blocking task on %d MPI workers\n", exe.workers());
    // schedule the chunks to run on the workers (an awaitable map)
    auto counting = unblock::create_task(unblock::map(exe, count_primes, ranges));
    // report a message
    print("Main doing other things");
    // sleep a moment
    co_await unblock::sleep(100ms);
    // await the task
    const std::vector<int> counts = co_await counting;
    std::printf("%d primes below %ld\n", std::accumulate(counts.begin(), counts.end(), 0), limit);
    print("Task done");
}

// run the program
int main(int argc, char** argv) {
    unblock::mpi_environment mpi(argc, argv);
    if (mpi.is_worker()) return mpi.serve(); // ranks 1..N-1 (and spawned workers) serve
    // Under mpirun: the job's other ranks. Alone: one spawned worker.
    unblock::mpi_pool_executor exe(mpi, {.spawn_workers = mpi.world_size() > 1 ? 0 : 1});
    unblock::run(main_coroutine(exe));
}
