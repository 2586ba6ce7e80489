// Storms: many operations at once, cancelled at random, with the invariant
// that nothing is lost and nothing runs twice. Each is bounded by the test
// timeout; all are tagged [stress] (ctest label `stress`), and CI runs them.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <set>
#include <vector>

using namespace std::chrono_literals;
using unblock::join_handle;
using unblock::task;

namespace {

/// How each call of the storm ended, seen from the loop.
struct storm_tally {
    int completed = 0;
    int cancelled = 0;
    int wrong_value = 0;
    int completed_but_not_run_once = 0;
};

} // namespace

TEST_CASE("cancellation storm: 10,000 offloads cancelled at random, each ran once or never",
          "[stress][cancel]") {
    constexpr int count = 10'000;
    const unsigned seed = std::random_device{}();
    INFO("seed " << seed);
    auto runs = std::make_unique<std::atomic<int>[]>(count);

    auto body = [&]() -> task<storm_tally> {
        std::vector<join_handle<int>> handles;
        handles.reserve(count);
        for (int i = 0; i < count; ++i) {
            auto call = [&runs, i] {
                runs[static_cast<std::size_t>(i)].fetch_add(1, std::memory_order_relaxed);
                return i;
            };
            if (i % 2 == 0) {
                // Lazy: to_thread submits when the task first runs.
                handles.push_back(unblock::create_task(unblock::to_thread(call)));
            } else {
                // Eager: the future's work is queued now.
                handles.push_back(unblock::create_task(unblock::run_in_executor(nullptr, call)));
            }
        }
        // Cancel in bursts between loop iterations, so cancels land before a
        // task starts, while its call is queued or running, and after it
        // completed but before the task resumed.
        std::mt19937 rng(seed);
        std::uniform_int_distribution<int> pick(0, count - 1);
        for (int burst = 0; burst < 100; ++burst) {
            for (int k = 0; k < 40; ++k)
                handles[static_cast<std::size_t>(pick(rng))].cancel();
            co_await unblock::sleep(0s);
        }
        storm_tally tally;
        for (int i = 0; i < count; ++i) {
            try {
                const int value = co_await handles[static_cast<std::size_t>(i)];
                ++tally.completed;
                if (value != i) ++tally.wrong_value;
                if (runs[static_cast<std::size_t>(i)].load() != 1)
                    ++tally.completed_but_not_run_once;
            } catch (const unblock::cancelled_error&) {
                ++tally.cancelled;
            }
        }
        co_return tally;
    };
    const storm_tally tally = unblock::run(body());

    int ran_twice = 0;
    for (int i = 0; i < count; ++i)
        if (runs[static_cast<std::size_t>(i)].load() > 1) ++ran_twice;
    INFO(tally.completed << " completed, " << tally.cancelled << " cancelled");
    CHECK(tally.completed + tally.cancelled == count);
    CHECK(tally.cancelled > 0);
    CHECK(tally.completed > 0);
    CHECK(tally.wrong_value == 0);
    CHECK(tally.completed_but_not_run_once == 0);
    CHECK(ran_twice == 0);
}

TEST_CASE("100,000 concurrent offloads all complete, each once", "[stress][offload]") {
    constexpr int count = 100'000;
    auto runs = std::make_unique<std::atomic<int>[]>(count);
    auto body = [&]() -> task<long> {
        std::vector<task<int>> tasks;
        tasks.reserve(count);
        for (int i = 0; i < count; ++i) {
            tasks.push_back([](std::atomic<int>& counter, int v) -> task<int> {
                co_return co_await unblock::to_thread([&counter, v] {
                    counter.fetch_add(1, std::memory_order_relaxed);
                    return v;
                });
            }(runs[static_cast<std::size_t>(i)], i));
        }
        long sum = 0;
        for (int v : co_await unblock::gather(std::move(tasks)))
            sum += v;
        co_return sum;
    };
    CHECK(unblock::run(body()) == static_cast<long>(count) * (count - 1) / 2);
    int not_once = 0;
    for (int i = 0; i < count; ++i)
        if (runs[static_cast<std::size_t>(i)].load() != 1) ++not_once;
    CHECK(not_once == 0);
}

TEST_CASE("process pool under load with max_tasks_per_child = 1: every call, a fresh worker each",
          "[stress][process_pool]") {
    constexpr int calls = 200;
    unblock::process_pool_executor pool({.max_workers = 2, .max_tasks_per_child = 1});
    auto body = [&]() -> task<std::vector<int>> {
        std::vector<unblock::future<int>> futures;
        futures.reserve(calls);
        for (int i = 0; i < calls; ++i)
            futures.push_back(
                unblock::run_in_executor(pool, [] { return static_cast<int>(::getpid()); }));
        std::vector<int> pids;
        pids.reserve(calls);
        for (auto& f : futures)
            pids.push_back(co_await f);
        co_return pids;
    };
    const std::vector<int> pids = unblock::run(body());
    REQUIRE(pids.size() == static_cast<std::size_t>(calls));
    // Each worker ran one call and was replaced: no pid serves twice.
    CHECK(std::set<int>(pids.begin(), pids.end()).size() == pids.size());
    CHECK(pool.stats().crashed == 0);
}
