// The one cancellation policy (detail/loop/cancellable_wait.hpp), checked for
// every awaiter kind at the three moments a cancel can arrive:
//   (a) before the awaiter suspends (the cancel is pending on the task),
//   (b) while it is suspended,
//   (c) after what it waits for completed, before the coroutine resumed.
// The observable behaviour is the same everywhere: the await throws
// cancelled_error, nothing runs twice, and nothing the task waited for is
// still running when it resumes.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <stop_token>
#include <thread>

using namespace std::chrono_literals;
using unblock::task;

namespace {

/// Blocks the loop thread until `deadline` has passed: the only way to make a
/// timer due while the loop cannot run it.
void hold_loop_until(std::chrono::steady_clock::time_point deadline) {
    while (std::chrono::steady_clock::now() < deadline) {
    }
}

/// Runs `body` as a task that is cancelled before its first suspension, and
/// returns whether its await threw cancelled_error.
template <class Body>
task<bool> cancelled_before_suspending(Body body) {
    auto handle = unblock::create_task(body());
    handle.cancel(); // not started yet: the cancel waits on the task
    try {
        co_await handle;
    } catch (const unblock::cancelled_error&) {
        co_return true;
    }
    co_return false;
}

/// Awaits `handle`; returns whether it ended with cancelled_error.
template <class Value>
task<bool> ends_cancelled(unblock::join_handle<Value>& handle) {
    try {
        co_await handle;
    } catch (const unblock::cancelled_error&) {
        co_return true;
    }
    co_return false;
}

} // namespace

// --- to_thread -----------------------------------------------------------------

TEST_CASE("to_thread (a): a pending cancel withdraws the call before it runs", "[cancel]") {
    std::atomic<int> runs{0};
    auto body = [&]() -> task<> {
        const bool threw = co_await cancelled_before_suspending(
            [&]() -> task<> { co_await unblock::to_thread([&] { ++runs; }); });
        CHECK(threw);
        co_await unblock::to_thread([] {}); // FIFO: anything still queued would have run by now
    };
    unblock::run(body());
    CHECK(runs == 0);
}

TEST_CASE("to_thread (b): a cancel while the call runs stops it and waits for it", "[cancel]") {
    std::latch started(1);
    std::atomic<bool> returned{false};
    auto body = [&]() -> task<> {
        auto handle = unblock::create_task(unblock::to_thread([&](std::stop_token stop) {
            started.count_down();
            while (!stop.stop_requested())
                std::this_thread::yield();
            returned = true;
        }));
        co_await unblock::to_thread([&] { started.wait(); });
        handle.cancel();
        CHECK_THROWS_AS(co_await handle, unblock::cancelled_error);
        CHECK(returned); // resumed only after the call returned
    };
    unblock::run(body());
}

TEST_CASE("to_thread (c): a cancel after the call returned still wins, the result is dropped",
          "[cancel]") {
    std::latch finished(1);
    std::atomic<int> runs{0};
    auto body = [&]() -> task<> {
        auto handle = unblock::create_task(unblock::to_thread([&] {
            ++runs;
            finished.count_down();
            return 7;
        }));
        co_await unblock::sleep(0s); // the task submits its call...
        co_await unblock::sleep(0s); // ...which reaches the pool at the end of that iteration
        finished.wait();             // holds the loop: the completion cannot be resumed yet
        handle.cancel();
        CHECK_THROWS_AS(co_await handle, unblock::cancelled_error);
    };
    unblock::run(body());
    CHECK(runs == 1);
}

// --- to_thread(executor, ...) ---------------------------------------------------

TEST_CASE("to_thread(pool, ...) (a): a pending cancel withdraws the call before it runs",
          "[cancel]") {
    unblock::thread_pool_executor pool(1);
    std::atomic<int> runs{0};
    auto body = [&]() -> task<> {
        const bool threw = co_await cancelled_before_suspending(
            [&]() -> task<> { co_await unblock::to_thread(pool, [&] { ++runs; }); });
        CHECK(threw);
        co_await unblock::to_thread(pool, [] {}); // FIFO on one worker
    };
    unblock::run(body());
    CHECK(runs == 0);
}

TEST_CASE("to_thread(pool, ...) (c): a cancel after the call returned still wins", "[cancel]") {
    unblock::thread_pool_executor pool(1);
    std::latch finished(1);
    auto body = [&]() -> task<> {
        auto handle = unblock::create_task(unblock::to_thread(pool, [&] {
            finished.count_down();
            return 7;
        }));
        co_await unblock::sleep(0s); // the task submits its call...
        co_await unblock::sleep(0s); // ...which reaches the pool at the end of that iteration
        finished.wait();             // holds the loop: the completion cannot be resumed yet
        handle.cancel();
        const bool cancelled = co_await ends_cancelled(handle);
        CHECK(cancelled);
    };
    unblock::run(body());
}

// --- future (run_in_executor) ----------------------------------------------------

TEST_CASE("future (a): a pending cancel cancels the future, and the await throws", "[cancel]") {
    std::latch release(1);
    auto body = [&]() -> task<> {
        unblock::thread_pool_executor pool(1);
        auto busy = unblock::run_in_executor(pool, [&] { release.wait(); });
        auto queued = unblock::run_in_executor(pool, [] { return 1; });
        const bool threw =
            co_await cancelled_before_suspending([&]() -> task<> { (void)co_await queued; });
        CHECK(threw);
        CHECK(queued.cancelled()); // withdrawn: it never runs
        release.count_down();
        co_await busy;
    };
    unblock::run(body());
}

TEST_CASE("future (b): a cancel while the work runs stops it and waits for it", "[cancel]") {
    std::latch started(1);
    std::atomic<bool> returned{false};
    auto body = [&]() -> task<> {
        auto work = unblock::run_in_executor(nullptr, [&](std::stop_token stop) {
            started.count_down();
            while (!stop.stop_requested())
                std::this_thread::yield();
            returned = true;
        });
        auto await_work = [&]() -> task<> { co_await work; }; // outlives the task
        auto waiter = unblock::create_task(await_work());
        co_await unblock::to_thread([&] { started.wait(); });
        co_await unblock::sleep(0s); // the waiter is suspended on the future
        waiter.cancel();
        CHECK_THROWS_AS(co_await waiter, unblock::cancelled_error);
        CHECK(returned);
    };
    unblock::run(body());
}

TEST_CASE("future (c): a cancel after the work finished still wins at the await", "[cancel]") {
    std::latch finished(1);
    auto body = [&]() -> task<> {
        auto work = unblock::run_in_executor(nullptr, [&] {
            finished.count_down();
            return 3;
        });
        auto await_work = [&]() -> task<int> { co_return co_await work; }; // outlives the task
        auto waiter = unblock::create_task(await_work());
        co_await unblock::sleep(0s); // the waiter is suspended on the future
        finished.wait();             // holds the loop: the completion cannot be resumed yet
        waiter.cancel();
        CHECK_THROWS_AS(co_await waiter, unblock::cancelled_error);
    };
    unblock::run(body());
}

// --- join_handle ------------------------------------------------------------------

TEST_CASE("join_handle (a): a pending cancel cancels the awaited task and waits for it",
          "[cancel]") {
    std::atomic<bool> child_cleaned_up{false};
    auto body = [&]() -> task<> {
        auto sleep_and_clean_up = [&]() -> task<> { // outlives the task
            try {
                co_await unblock::sleep(10s);
            } catch (const unblock::cancelled_error&) {
                child_cleaned_up = true;
                throw;
            }
        };
        auto child = unblock::create_task(sleep_and_clean_up());
        const bool threw =
            co_await cancelled_before_suspending([&]() -> task<> { co_await child; });
        CHECK(threw);
        CHECK(child_cleaned_up);
        CHECK(child.cancelled());
    };
    unblock::run(body());
}

TEST_CASE("join_handle (b): a cancel while waiting cancels the awaited task", "[cancel]") {
    auto body = []() -> task<> {
        auto child = unblock::create_task(unblock::sleep(10s));
        auto await_child = [&]() -> task<> { co_await child; }; // outlives the task
        auto waiter = unblock::create_task(await_child());
        co_await unblock::sleep(0s);
        waiter.cancel();
        CHECK_THROWS_AS(co_await waiter, unblock::cancelled_error);
        CHECK(child.cancelled());
    };
    unblock::run(body());
}

// join_handle and gather (c): the awaited task's last step resumes the waiter
// directly, so there is no moment between completion and resumption to cancel in.

// --- gather ---------------------------------------------------------------------

TEST_CASE("gather (a): a pending cancel cancels every child and waits for them", "[cancel]") {
    std::atomic<int> stopped{0};
    auto body = [&]() -> task<> {
        auto child = [&]() -> task<> {
            try {
                co_await unblock::sleep(10s);
            } catch (const unblock::cancelled_error&) {
                ++stopped;
                throw;
            }
        };
        const bool threw = co_await cancelled_before_suspending(
            [&]() -> task<> { co_await unblock::gather(child(), child()); });
        CHECK(threw);
    };
    unblock::run(body());
    CHECK(stopped == 2);
}

TEST_CASE("gather (b): a cancel while waiting cancels every child", "[cancel]") {
    auto body = []() -> task<> {
        auto waiter = unblock::create_task([]() -> task<> {
            co_await unblock::gather(unblock::sleep(10s), unblock::sleep(10s));
        }());
        co_await unblock::sleep(0s);
        waiter.cancel();
        CHECK_THROWS_AS(co_await waiter, unblock::cancelled_error);
    };
    unblock::run(body());
}

// --- sleep ----------------------------------------------------------------------

TEST_CASE("sleep (a): a pending cancel ends the sleep in the next iteration", "[cancel]") {
    auto body = []() -> task<> {
        const auto start = std::chrono::steady_clock::now();
        const bool threw =
            co_await cancelled_before_suspending([]() -> task<> { co_await unblock::sleep(10s); });
        CHECK(threw);
        CHECK(std::chrono::steady_clock::now() - start < 5s);
    };
    unblock::run(body());
}

TEST_CASE("sleep (b): a cancel while sleeping ends the sleep at once", "[cancel]") {
    auto body = []() -> task<> {
        auto sleeper = unblock::create_task(unblock::sleep(10s));
        co_await unblock::sleep(0s);
        sleeper.cancel();
        CHECK_THROWS_AS(co_await sleeper, unblock::cancelled_error);
    };
    unblock::run(body());
}

TEST_CASE("sleep (c): a cancel after the timer fired, before the task resumed, still wins",
          "[cancel]") {
    auto body = []() -> task<> {
        auto& loop = unblock::get_running_loop();
        auto sleeper = unblock::create_task(unblock::sleep(1ms));
        co_await unblock::sleep(0s); // the sleeper is on the timer heap
        hold_loop_until(std::chrono::steady_clock::now() + 5ms);
        // Queued before the due timer is taken: in the next iteration this
        // runs first, then the timer's node resumes the sleeper.
        loop.call_soon([&] { sleeper.cancel(); });
        CHECK_THROWS_AS(co_await sleeper, unblock::cancelled_error);
    };
    unblock::run(body());
}

// --- sleep_until ------------------------------------------------------------------

TEST_CASE("sleep_until (a): a pending cancel ends the sleep in the next iteration", "[cancel]") {
    auto body = []() -> task<> {
        auto& loop = unblock::get_running_loop();
        const auto start = loop.time();
        const bool threw = co_await cancelled_before_suspending(
            [&]() -> task<> { co_await unblock::sleep_until(start + 10s); });
        CHECK(threw);
        CHECK(loop.time() - start < 5s);
    };
    unblock::run(body());
}

TEST_CASE("sleep_until (b): a cancel while sleeping ends the sleep at once", "[cancel]") {
    auto body = []() -> task<> {
        auto& loop = unblock::get_running_loop();
        auto sleeper = unblock::create_task(unblock::sleep_until(loop.time() + 10s));
        co_await unblock::sleep(0s);
        sleeper.cancel();
        const bool cancelled = co_await ends_cancelled(sleeper);
        CHECK(cancelled);
    };
    unblock::run(body());
}

TEST_CASE("sleep_until (c): a cancel after the timer fired, before the task resumed, still wins",
          "[cancel]") {
    auto body = []() -> task<> {
        auto& loop = unblock::get_running_loop();
        auto sleeper = unblock::create_task(unblock::sleep_until(loop.time() + 1ms));
        co_await unblock::sleep(0s); // the sleeper is on the timer heap
        hold_loop_until(std::chrono::steady_clock::now() + 5ms);
        loop.call_soon([&] { sleeper.cancel(); }); // runs before the due timer's node
        const bool cancelled = co_await ends_cancelled(sleeper);
        CHECK(cancelled);
    };
    unblock::run(body());
}
