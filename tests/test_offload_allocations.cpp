// Proves that awaiting offloaded work allocates nothing in steady state: the
// awaiter in the coroutine frame is the pool's queue node on the way out and
// the loop's inbox node on the way back. This binary replaces the global
// operator new to count every allocation, on every thread.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

// Sanitizer runtimes define operator new themselves; counting needs a plain build.
#if !defined(UNBLOCK_SANITIZER_THREAD) && !defined(UNBLOCK_SANITIZER_ADDRESS)

#include "support/counting_new.hpp"

#include <latch>
#include <memory>

using unblock::test::allocation_counter;

using unblock::task;

/// Makes a 2-worker pool the default executor, with both threads started (two
/// calls that wait for each other), so no thread starts during a measurement.
task<std::shared_ptr<unblock::thread_pool_executor>> use_warm_pool() {
    auto pool = std::make_shared<unblock::thread_pool_executor>(2);
    unblock::get_running_loop().set_default_executor(pool);
    std::latch both(2);
    auto first = unblock::create_task(unblock::to_thread([&] { both.arrive_and_wait(); }));
    co_await unblock::to_thread([&] { both.arrive_and_wait(); });
    co_await first;
    co_return pool;
}

TEST_CASE("the counting operator new sees allocations", "[offload][allocations]") {
    allocation_counter counter;
    auto* p = new int(3);
    delete p;
    CHECK(counter.count() == 1); // the counter itself works, so a 0 below means something
}

TEST_CASE("co_await to_thread allocates nothing in steady state", "[offload][allocations]") {
    auto body = []() -> task<long> {
        auto pool = co_await use_warm_pool();
        int sum = 0;
        for (int i = 0; i < 1'000; ++i)
            sum += co_await unblock::to_thread([](int v) { return v; }, 1);

        allocation_counter counter;
        for (int i = 0; i < 10'000; ++i)
            sum += co_await unblock::to_thread([](int v) { return v; }, 1);
        const long allocations = counter.count();
        CHECK(sum == 11'000);
        CHECK(pool->stats().threads == 2);
        co_return allocations;
    };
    CHECK(unblock::run(body()) == 0);
}

TEST_CASE("to_thread with a stop token allocates only its stop state", "[offload][allocations]") {
    auto body = []() -> task<long> {
        auto pool = co_await use_warm_pool();
        for (int i = 0; i < 100; ++i)
            co_await unblock::to_thread([](std::stop_token) {});
        allocation_counter counter;
        for (int i = 0; i < 1'000; ++i)
            co_await unblock::to_thread([](std::stop_token) {});
        const long allocations = counter.count();
        CHECK(pool->stats().threads == 2);
        co_return allocations;
    };
    CHECK(unblock::run(body()) == 1'000); // one std::stop_source each, nothing else
}

TEST_CASE("run_in_executor awaited at once allocates nothing in steady state",
          "[offload][allocations]") {
    auto body = []() -> task<long> {
        auto pool = co_await use_warm_pool();
        int sum = 0;
        for (int i = 0; i < 100; ++i)
            sum += co_await unblock::run_in_executor(
                *pool, [](int v) { return v; }, 1);
        allocation_counter counter;
        for (int i = 0; i < 10'000; ++i)
            sum += co_await unblock::run_in_executor(
                *pool, [](int v) { return v; }, 1);
        const long allocations = counter.count();
        CHECK(sum == 10'100);
        co_return allocations;
    };
    // The future's state comes from the loop's frame cache and goes back to
    // it when the future is dropped: the next call reuses it.
    CHECK(unblock::run(body()) == 0);
}

#else

// Under a sanitizer the allocations cannot be counted; the same steady-state
// loop still runs, so the sanitizers check it.
TEST_CASE("10,000 sequential to_thread round trips return every value", "[offload][allocations]") {
    auto body = []() -> unblock::task<int> {
        int sum = 0;
        for (int i = 0; i < 10'000; ++i)
            sum += co_await unblock::to_thread([](int v) { return v; }, 1);
        co_return sum;
    };
    CHECK(unblock::run(body()) == 10'000);
}

#endif // no sanitizer
