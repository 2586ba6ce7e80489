// A producer and three consumers over a bounded queue<T> (asyncio.Queue),
// with the consumers' blocking work offloaded to threads.
//
// The producer puts 12 jobs into a queue of 4: it waits whenever the queue is
// full (back-pressure). Each consumer takes a job, runs a blocking
// computation with to_thread, and marks it done. join() waits until every job
// is done; shutdown() then ends the consumers (their get() throws
// queue_shut_down_error), as in Python 3.13.
#include <unblock/unblock.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;

/// Blocking: the sum of the squares below n, slowly.
std::uint64_t crunch(std::uint64_t n) {
    std::this_thread::sleep_for(5ms);
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < n; ++i)
        sum += i * i;
    return sum;
}

unblock::task<> consumer(int id, unblock::queue<std::uint64_t>& jobs, std::uint64_t& total,
                         int& handled) {
    try {
        for (;;) {
            const std::uint64_t n = co_await jobs.get();
            total += co_await unblock::to_thread(crunch, n); // back on the loop: no lock
            ++handled;
            jobs.task_done();
        }
    } catch (const unblock::queue_shut_down_error&) {
        std::printf("consumer %d stops\n", id);
    }
}

unblock::task<int> main_task() {
    unblock::queue<std::uint64_t> jobs(4);
    std::uint64_t total = 0;
    int handled = 0;
    std::size_t most_queued = 0;
    co_await unblock::with_task_group([&](unblock::task_group& group) -> unblock::task<> {
        for (int id = 1; id <= 3; ++id)
            group.start_soon(consumer(id, jobs, total, handled));
        for (std::uint64_t n = 1; n <= 12; ++n) {
            co_await jobs.put(n * 1000); // waits while 4 are queued
            if (jobs.qsize() > most_queued) most_queued = jobs.qsize();
        }
        co_await jobs.join(); // every job taken and done
        jobs.shutdown();
    });
    std::uint64_t expected = 0;
    for (std::uint64_t n = 1; n <= 12; ++n)
        expected += crunch(n * 1000);
    std::printf("%d jobs done, at most %zu queued, total %s\n", handled, most_queued,
                total == expected ? "correct" : "WRONG");
    co_return total == expected&& handled == 12 && most_queued <= 4 ? 0 : 1;
}

int main() { return unblock::run(main_task()); }
