// Proves that waiting on the loop's synchronisation primitives allocates
// nothing: the awaiter in the coroutine frame is the primitive's FIFO node and
// the loop's ready-queue node. This binary replaces the global operator new to
// count every allocation.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <chrono>

using namespace std::chrono_literals;
using unblock::task;

namespace {

/// Two tasks hand the turn to each other `rounds` times through semaphores,
/// an event pair and a contended lock; every await suspends. Returns the rounds done.
task<int> ping_pong(int rounds) {
    unblock::semaphore to_other(0);
    unblock::semaphore to_main(0);
    unblock::event other_turn;
    unblock::event main_turn;
    unblock::lock mutex;
    int done = 0;
    auto other = [&]() -> task<> {
        for (int i = 0; i < rounds; ++i) {
            co_await to_other.acquire();
            to_main.release();
            co_await other_turn.wait();
            other_turn.clear();
            main_turn.set();
            auto guard = co_await mutex.scoped(); // main holds it: waits
        }
    };
    auto handle = unblock::create_task(other());
    for (int i = 0; i < rounds; ++i) {
        to_other.release();
        co_await to_main.acquire();
        co_await mutex.acquire();
        other_turn.set();
        co_await main_turn.wait();
        main_turn.clear();
        mutex.release(); // to the other task, waiting for it
        co_await unblock::sleep(0s);
        ++done;
    }
    co_await handle;
    co_return done;
}

} // namespace

// Sanitizer runtimes define operator new themselves; counting needs a plain build.
#if !defined(UNBLOCK_SANITIZER_THREAD) && !defined(UNBLOCK_SANITIZER_ADDRESS)

#include "support/counting_new.hpp"

using unblock::test::allocation_counter;

TEST_CASE("the counting operator new of the sync test sees allocations", "[sync][allocations]") {
    allocation_counter counter;
    auto* p = new int(3);
    delete p;
    CHECK(counter.count() == 1); // the counter works, so a 0 below means something
}

TEST_CASE("waiting on semaphore, event and lock allocates nothing in steady state",
          "[sync][allocations]") {
    auto body = []() -> task<long> {
        (void)co_await ping_pong(10); // warm: the frame cache holds the frames used below
        long allocations = 0;
        int done = 0;
        {
            allocation_counter counter;
            done = co_await ping_pong(1'000);
            allocations = counter.count();
        }
        CHECK(done == 1'000);
        co_return allocations;
    };
    CHECK(unblock::run(body()) == 0);
}

TEST_CASE("capacity_limiter::run allocates nothing per call, waiting or not",
          "[sync][allocations][capacity_limiter]") {
    auto body = []() -> task<long> {
        unblock::capacity_limiter limiter(1);
        int runs = 0;
        auto many = [&](int n) -> task<> {
            for (int i = 0; i < n; ++i)
                co_await limiter.run([&runs] { ++runs; });
        };
        co_await many(2); // warm: the pool's thread started
        // Two tasks share one token: each run() waits for the other's call.
        auto first = unblock::create_task(many(100));
        auto second = unblock::create_task(many(100));
        long allocations = 0;
        {
            allocation_counter counter;
            co_await first;
            co_await second;
            allocations = counter.count();
        }
        CHECK(runs == 202);
        co_return allocations;
    };
    CHECK(unblock::run(body()) == 0);
}

#else

// Under a sanitizer the allocations cannot be counted; the same loop still
// runs, so the sanitizers check it.
TEST_CASE("1000 ping-pong rounds through semaphore, event and lock complete",
          "[sync][allocations]") {
    CHECK(unblock::run(ping_pong(1'000)) == 1'000);
}

#endif // no sanitizer
