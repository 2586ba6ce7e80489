// run_in_executor on a process_pool_executor: results, errors, crashes and
// cancellation, as seen from coroutines on the loop.
#include <catch2/catch.hpp>

#include "support/start_methods.hpp"
#include <unblock/unblock.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using unblock::task;

namespace {

int square(int x) { return x * x; }
std::string greet(std::string name) { return "hello " + name; }
int reject(int) { throw std::invalid_argument("negative input"); }
int crash(int) {
    std::raise(SIGSEGV);
    return 0;
}
int sleep_long(int seconds) {
    ::sleep(static_cast<unsigned>(seconds));
    return seconds;
}
/// Records in a file that it ran (the parent checks the file).
int touch(std::string path) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (f) std::fclose(f);
    return 1;
}
bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-qualifiers" // a const result is what is being tested
const std::string shout(std::string word) { return word + "!"; }
const int twice(int x) { return 2 * x; }
#pragma GCC diagnostic pop

} // namespace

TEST_CASE("run_in_executor on a process pool returns results on the loop thread",
          "[process_offload]") {
    UNBLOCK_EACH_START_METHOD();
    unblock::process_pool_executor pool(unblock::test::pool_options(2));
    auto body = [&]() -> task<> {
        const auto loop_thread = std::this_thread::get_id();
        auto squared = unblock::run_in_executor(pool, square, 7);
        auto greeting = unblock::run_in_executor(&pool, greet, std::string("unblock"));
        const int value = co_await squared;
        const std::string text = co_await greeting;
        CHECK(value == 49);
        CHECK(text == "hello unblock");
        CHECK(std::this_thread::get_id() == loop_thread);
    };
    unblock::run(body());
}

TEST_CASE("a process pool call's exception arrives as the same type", "[process_offload]") {
    UNBLOCK_EACH_START_METHOD();
    unblock::process_pool_executor pool(unblock::test::pool_options(1));
    auto body = [&]() -> task<std::string> {
        try {
            co_await unblock::run_in_executor(pool, reject, -1);
        } catch (const std::invalid_argument& e) {
            co_return e.what();
        }
        co_return "nothing thrown";
    };
    CHECK(unblock::run(body()) == "negative input");
}

TEST_CASE("a crashing worker fails only its call, and the pool carries on", "[process_offload]") {
    UNBLOCK_EACH_START_METHOD();
    unblock::process_pool_executor pool(unblock::test::pool_options(1));
    auto body = [&]() -> task<> {
        std::string message;
        try {
            co_await unblock::run_in_executor(pool, crash, 0);
        } catch (const unblock::worker_crashed_error& e) {
            message = e.what();
        }
        CHECK_THAT(message, Catch::Contains("SIGSEGV"));
        const int after = co_await unblock::run_in_executor(pool, square, 3);
        CHECK(after == 9);
    };
    unblock::run(body());
}

TEST_CASE("cancelling a queued process call withdraws it at once", "[process_offload][cancel]") {
    UNBLOCK_EACH_START_METHOD();
    unblock::process_pool_executor pool(unblock::test::pool_options(1));
    const std::string marker = "/tmp/unblock_process_offload_" + std::to_string(::getpid());
    auto body = [&]() -> task<> {
        auto busy = unblock::run_in_executor(pool, sleep_long, 60);
        auto queued = unblock::run_in_executor(pool, touch, marker);
        CHECK(queued.cancel());
        CHECK(queued.cancelled()); // at once: it was only queued
        CHECK_THROWS_AS(co_await queued, unblock::cancelled_error);
        CHECK(busy.cancel()); // kills the worker running the 60 s sleep
        CHECK(busy.cancelled());
        CHECK_THROWS_AS(co_await busy, unblock::cancelled_error);
    };
    const auto start = std::chrono::steady_clock::now();
    unblock::run(body());
    CHECK(std::chrono::steady_clock::now() - start < 30s); // the 60 s call did not hold anything up
    pool.shutdown(true);
    CHECK_FALSE(exists(marker));
}

TEST_CASE("wait_for around a process call kills it on timeout and the pool keeps working",
          "[process_offload][cancel]") {
    UNBLOCK_EACH_START_METHOD();
    unblock::process_pool_executor pool(unblock::test::pool_options(1));
    auto body = [&]() -> task<> {
        const auto start = std::chrono::steady_clock::now();
        CHECK_THROWS_AS(co_await unblock::wait_for(unblock::run_in_executor(pool, sleep_long, 60),
                                                   50ms),
                        unblock::timeout_error);
        CHECK(std::chrono::steady_clock::now() - start < 30s); // resumed at once, not after 60 s
        const int after = co_await unblock::run_in_executor(pool, square, 5);
        CHECK(after == 25);
    };
    unblock::run(body());
}

TEST_CASE("run_in_executor on a shut-down process pool throws executor_shutdown_error",
          "[process_offload]") {
    UNBLOCK_EACH_START_METHOD();
    unblock::process_pool_executor pool(unblock::test::pool_options(1));
    pool.shutdown();
    auto body = [&]() -> task<> {
        CHECK_THROWS_AS(unblock::run_in_executor(pool, square, 1),
                        unblock::executor_shutdown_error);
        co_return;
    };
    unblock::run(body());
}

// Regression: a function returning `const T` compiled, then run_in_executor
// dropped the call (the loop and the pool disagreed on the result type) and
// awaiting the future crashed.
TEST_CASE("a process pool function returning const T works through run_in_executor",
          "[process_offload]") {
    UNBLOCK_EACH_START_METHOD();
    unblock::process_pool_executor pool(unblock::test::pool_options(1));
    auto body = [&]() -> task<> {
        auto text = unblock::run_in_executor(pool, shout, std::string("hey"));
        auto number = unblock::run_in_executor(pool, twice, 21);
        static_assert(std::is_same_v<decltype(text), unblock::future<std::string>>);
        const std::string shouted = co_await text;
        const int doubled = co_await number;
        CHECK(shouted == "hey!");
        CHECK(doubled == 42);
    };
    unblock::run(body());
}

TEST_CASE("to_thread(process_pool, f, args...) is lazy, returns results, rethrows and cancels",
          "[process_offload][cancel]") {
    UNBLOCK_EACH_START_METHOD();
    unblock::process_pool_executor pool(unblock::test::pool_options(1));
    const std::string marker = "/tmp/unblock_process_lazy_" + std::to_string(::getpid());
    auto body = [&]() -> task<> {
        auto never_awaited = unblock::to_thread(pool, touch, marker);
        auto later = unblock::to_thread(pool, square, 6);
        co_await unblock::sleep(1ms);
        CHECK(pool.stats().completed == 0); // nothing was submitted
        const int value = co_await later;
        CHECK(value == 36);
        std::string error;
        try {
            co_await unblock::to_thread(pool, reject, -1);
        } catch (const std::invalid_argument& e) {
            error = e.what();
        }
        CHECK(error == "negative input");
        // Cancelling the awaiting task kills the running call's worker at once.
        auto busy = unblock::create_task(unblock::to_thread(pool, sleep_long, 60));
        co_await unblock::sleep(1ms);
        busy.cancel();
        bool cancelled = false;
        try {
            co_await busy;
        } catch (const unblock::cancelled_error&) {
            cancelled = true;
        }
        CHECK(cancelled);
        const int after = co_await unblock::to_thread(pool, square, 3);
        CHECK(after == 9);
    };
    const auto start = std::chrono::steady_clock::now();
    unblock::run(body());
    CHECK(std::chrono::steady_clock::now() - start < 30s);
    pool.shutdown(true);
    CHECK_FALSE(exists(marker));
}

namespace {
int add_one(int x) { return x + 1; }
int sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
}
} // namespace

TEST_CASE("a loop spinning for its process call reads the worker's answer itself",
          "[process_offload]") {
    UNBLOCK_EACH_START_METHOD();
    unblock::process_pool_executor pool(unblock::test::pool_options(1));
    unblock::event_loop::options settings;
    settings.offload_spin = 20ms; // longer than a round trip even on a busy machine
    unblock::event_loop loop(settings);
    constexpr int calls = 50;
    auto body = [&]() -> task<int> {
        int x = 0;
        for (int i = 0; i != calls; ++i)
            x = co_await unblock::run_in_executor(pool, add_one, x);
        co_return x;
    };
    // The pool's I/O thread watches the answer pipe too and may read an
    // answer first (on a busy machine it can win every race of a round, or
    // the loop may find spinning does not pay); it cannot win them all for
    // 20 rounds, and without the loop reading for itself none is read by it.
    std::size_t rounds = 0;
    unblock::process_pool_stats stats;
    do {
        CHECK(loop.run_until_complete(body()) == calls);
        stats = pool.stats();
        ++rounds;
    } while (stats.read_by_loop == 0 && rounds != 20);
    CHECK(stats.completed == rounds * calls);
    // The first call may find no idle worker yet; after it each one is
    // written to the idle worker by the loop, which then polls its pipe.
    CHECK(stats.read_by_loop > 0);
    CHECK(stats.read_by_loop <= stats.completed);
}

TEST_CASE("answers the loop polls for stay exact beside other submitters, recycled workers "
          "and killed calls",
          "[process_offload][cancel]") {
    UNBLOCK_EACH_START_METHOD();
    auto options = unblock::test::pool_options(2);
    options.max_tasks_per_child = 3; // workers end and are replaced under the polling loop
    unblock::process_pool_executor pool(unblock::test::pool_options(options));
    // Another thread submits beside the loop: it competes for the idle workers.
    std::atomic<int> thread_errors{0};
    std::thread other([&] {
        for (int i = 0; i != 100; ++i) {
            if (pool.submit(add_one, i).get() != i + 1) ++thread_errors;
        }
    });
    auto body = [&]() -> task<int> {
        int wrong = 0;
        for (int i = 0; i != 150; ++i) {
            if (i % 25 == 0) {
                // Killed while the loop may be polling its answer pipe.
                try {
                    co_await unblock::wait_for(unblock::run_in_executor(pool, sleep_ms, 10'000),
                                               1ms);
                    ++wrong;
                } catch (const unblock::timeout_error&) {
                }
            }
            if (co_await unblock::run_in_executor(pool, add_one, i) != i + 1) ++wrong;
        }
        co_return wrong;
    };
    CHECK(unblock::run(body()) == 0);
    other.join();
    CHECK(thread_errors == 0);
    CHECK(pool.stats().crashed == 0); // the kills were the pool's own
}

TEST_CASE("shutting a process pool down on the loop thread waits for the loop's own call",
          "[process_offload]") {
    UNBLOCK_EACH_START_METHOD();
    unblock::process_pool_executor pool(unblock::test::pool_options(1));
    auto body = [&]() -> task<int> {
        // After one call the worker is ready and idle, so the next is written
        // to it by the loop, which would read its answer itself; blocked
        // here, it cannot: the pool's thread must.
        const int first = co_await unblock::run_in_executor(pool, add_one, 0);
        CHECK(first == 1);
        auto call = unblock::run_in_executor(pool, sleep_ms, 50);
        pool.shutdown(true);
        co_return co_await call;
    };
    CHECK(unblock::run(body()) == 50);
}
