#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <latch>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using unblock::task;

TEST_CASE("wait_for returns the value when the work finishes in time", "[time]") {
    auto body = []() -> task<int> {
        co_return co_await unblock::wait_for(
            []() -> task<int> {
                co_await unblock::sleep(1ms);
                co_return 9;
            }(),
            10s);
    };
    CHECK(unblock::run(body()) == 9);
}

TEST_CASE("wait_for cancels the work on timeout, waits for it, then throws timeout_error",
          "[time][cancel]") {
    auto body = []() -> task<> {
        std::vector<std::string> steps;
        auto slow = [&]() -> task<int> {
            bool cancelled = false;
            try {
                co_await unblock::sleep(1h);
            } catch (const unblock::cancelled_error&) {
                steps.push_back("inner cancelled");
                cancelled = true;
            }
            if (cancelled) {
                co_await unblock::sleep(2ms); // cleanup that takes a while
                steps.push_back("inner cleaned up");
                throw unblock::cancelled_error();
            }
            co_return 1;
        };
        try {
            co_await unblock::wait_for(slow(), 5ms);
            steps.push_back("no timeout");
        } catch (const unblock::timeout_error& e) {
            steps.push_back("timeout");
            CHECK_THAT(e.what(), Catch::Contains("timed out after 5 ms"));
        }
        CHECK(steps == std::vector<std::string>{"inner cancelled", "inner cleaned up", "timeout"});
    };
    unblock::run(body());
}

TEST_CASE("wait_for passes the work's own exception through", "[time]") {
    auto body = []() -> task<> {
        co_await unblock::wait_for(
            []() -> task<> {
                co_await unblock::sleep(0s);
                throw std::out_of_range("inner");
            }(),
            1s);
    };
    CHECK_THROWS_AS(unblock::run(body()), std::out_of_range);
}

TEST_CASE("cancelling a task inside wait_for cancels the inner work", "[time][cancel]") {
    auto body = []() -> task<> {
        bool inner_cancelled = false;
        auto outer_body = [&]() -> task<> {
            co_await unblock::wait_for(
                [&]() -> task<> {
                    try {
                        co_await unblock::sleep(1h);
                    } catch (const unblock::cancelled_error&) {
                        inner_cancelled = true;
                        throw;
                    }
                }(),
                1h);
        };
        auto outer = unblock::create_task(outer_body());
        co_await unblock::sleep(1ms);
        outer.cancel();
        CHECK_THROWS_AS(co_await outer, unblock::cancelled_error);
        CHECK(inner_cancelled);
    };
    unblock::run(body());
}

TEST_CASE("sleep outside a loop throws no_running_loop_error when awaited", "[time]") {
    // A coroutine that is not driven by unblock has no loop to sleep on.
    struct detached_coroutine {
        struct promise_type {
            std::exception_ptr error;
            detached_coroutine get_return_object() {
                return {std::coroutine_handle<promise_type>::from_promise(*this)};
            }
            std::suspend_never initial_suspend() noexcept { return {}; }
            std::suspend_always final_suspend() noexcept { return {}; }
            void return_void() {}
            void unhandled_exception() { error = std::current_exception(); }
        };
        std::coroutine_handle<promise_type> handle;
    };
    auto coroutine = []() -> detached_coroutine { co_await unblock::sleep(1ms); }();
    REQUIRE(coroutine.handle.done());
    CHECK_THROWS_AS(std::rethrow_exception(coroutine.handle.promise().error),
                    unblock::no_running_loop_error);
    coroutine.handle.destroy();
}

TEST_CASE("wait_for whose work finishes in the iteration its timeout fires returns the value",
          "[time][cancel]") {
    // The work's sleep and the timeout both fall due while another task blocks
    // the loop, so the work's completion and the timeout run in the same
    // iteration (this was a use after free, caught by ASan).
    auto body = []() -> task<int> {
        auto work = []() -> task<int> {
            co_await unblock::sleep(10ms);
            co_return 4;
        };
        auto blocker = []() -> task<> {
            co_await unblock::sleep(0s); // let the work start its sleep first
            co_await unblock::sleep(0s);
            std::this_thread::sleep_for(50ms);
        };
        auto blocking = unblock::create_task(blocker());
        const int value = co_await unblock::wait_for(work(), 20ms);
        co_await blocking;
        co_return value;
    };
    CHECK(unblock::run(body()) == 4);
}

TEST_CASE("a sleep can be awaited once, like the coroutine asyncio.sleep returns", "[time]") {
    std::string message;
    bool first_slept = false;
    unblock::run([&]() -> task<> {
        auto tick = unblock::sleep(1ms);
        co_await tick;
        first_slept = true;
        try {
            co_await tick; // its delay is used up: an error, never a sleep of the wrong length
        } catch (const unblock::invalid_state_error& e) {
            message = e.what();
        }
    }());
    CHECK(first_slept);
    CHECK_THAT(message, Catch::Contains("already awaited"));
}

TEST_CASE("a cancellation pending when wait_for starts cancels the inner work and waits for it",
          "[time][cancel]") {
    bool inner_cancelled = false;
    bool inner_finished = false;
    auto inner = [&]() -> task<> {
        try {
            co_await unblock::sleep(1h);
            inner_finished = true;
        } catch (const unblock::cancelled_error&) {
            inner_cancelled = true;
            throw;
        }
    };
    auto outer = [&]() -> task<> { co_await unblock::wait_for(inner(), 1h); };
    auto body = [&]() -> task<bool> {
        auto handle = unblock::create_task(outer());
        handle.cancel(); // before outer has run: pending until its first suspension
        try {
            co_await handle;
        } catch (const unblock::cancelled_error&) {
        }
        co_return inner_cancelled; // already stopped when outer finished, not left running
    };
    CHECK(unblock::run(body()));
    CHECK_FALSE(inner_finished);
}

// Regression: duration::max() as "no timeout" overflowed now + d and fired at once.
TEST_CASE("duration::max() means never, for sleep, wait_for and call_later", "[time]") {
    using namespace std::chrono;
    auto body = []() -> task<> {
        auto& loop = unblock::get_running_loop();
        bool fired = false;
        auto later = loop.call_later(steady_clock::duration::max(), [&] { fired = true; });
        auto sleeper = unblock::create_task(unblock::sleep(hours::max()));
        const int value = co_await unblock::wait_for(
            []() -> task<int> {
                co_await unblock::sleep(1ms);
                co_return 9;
            }(),
            nanoseconds::max());
        CHECK(value == 9);
        const int slow = co_await unblock::wait_for(
            []() -> task<int> {
                co_await unblock::sleep(20ms);
                co_return 10;
            }(),
            hours::max());
        CHECK(slow == 10);
        CHECK_FALSE(fired);
        CHECK_FALSE(sleeper.done());
        CHECK(later.cancel());
        sleeper.cancel();
        CHECK_THROWS_AS(co_await sleeper, unblock::cancelled_error);
    };
    unblock::run(body());
}

TEST_CASE("a sleep can be handed to create_task, wait_for and gather", "[time]") {
    auto body = []() -> task<> {
        auto napping = unblock::create_task(unblock::sleep(1ms));
        co_await unblock::wait_for(unblock::sleep(1ms), 5s);
        co_await unblock::gather(unblock::sleep(1ms), unblock::sleep(0s));
        co_await napping;
        CHECK(napping.done());
    };
    unblock::run(body());
}

TEST_CASE("wait_for's timeout message says how long the wait really took", "[time]") {
    std::latch started(1);
    auto body = [&]() -> task<> {
        auto running = unblock::run_in_executor(nullptr, [&] {
            started.count_down();
            std::this_thread::sleep_for(300ms); // a blocking call that ignores its stop token
        });
        co_await unblock::to_thread([&] { started.wait(); }); // it runs: it can only be waited for
        try {
            co_await unblock::wait_for(std::move(running), 20ms);
            FAIL("no timeout");
        } catch (const unblock::timeout_error& e) {
            const std::string what = e.what();
            CHECK_THAT(what, Catch::Contains("timed out after 20 ms"));
            CHECK_THAT(what, Catch::Contains("stop_token"));
        }
    };
    unblock::run(body());
}

TEST_CASE("a sleep_until ticker does not drift: each deadline is exactly start + n * period",
          "[time]") {
    // Each step wakes late on purpose. The exact deadline the sleeper waits
    // for is pinned between two call_at callbacks registered before it: one
    // at the deadline (runs before the sleeper, ties go in scheduling order)
    // and one a nanosecond later (runs after it). No timing is asserted.
    auto body = []() -> task<> {
        auto& loop = unblock::get_running_loop();
        constexpr auto period = 2ms;
        const auto start = loop.time();
        std::vector<std::string> events;
        std::vector<unblock::timer_handle> handles;
        auto next = start;
        bool never_early = true;
        for (int n = 1; n <= 4; ++n) {
            const auto deadline = start + n * period;
            const std::string step = std::to_string(n);
            handles.push_back(
                loop.call_at(deadline, [&events, step] { events.push_back("at " + step); }));
            handles.push_back(loop.call_at(deadline + 1ns,
                                           [&events, step] { events.push_back("after " + step); }));
            next += period;
            co_await unblock::sleep_until(next);
            events.push_back("tick " + step);
            never_early = never_early && loop.time() >= deadline;
            while (loop.time() < deadline + period / 2) {
                // late work: the next deadline must not move
            }
        }
        co_await unblock::sleep(0s); // lets "after 4" run
        CHECK(never_early);
        CHECK(events == std::vector<std::string>{"at 1", "tick 1", "after 1", "at 2", "tick 2",
                                                 "after 2", "at 3", "tick 3", "after 3", "at 4",
                                                 "tick 4", "after 4"});
        for (std::size_t i = 0; i < handles.size(); i += 2) {
            const auto n = static_cast<int>(i / 2 + 1);
            CHECK(handles[i].when() == start + n * period);
            CHECK(handles[i + 1].when() == start + n * period + 1ns);
        }
    };
    unblock::run(body());
}

TEST_CASE("call_at runs callbacks in deadline order, equal deadlines in scheduling order",
          "[time][event_loop]") {
    auto body = []() -> task<> {
        auto& loop = unblock::get_running_loop();
        const auto t = loop.time();
        std::vector<std::string> order;
        loop.call_at(t + 3ms, [&] { order.push_back("3"); });
        loop.call_at(t + 1ms, [&] { order.push_back("1"); });
        auto two_a = loop.call_at(t + 2ms, [&] { order.push_back("2a"); });
        loop.call_at(t + 2ms, [&] { order.push_back("2b"); });
        loop.call_at(t - 1s, [&] { order.push_back("past"); });
        auto dropped = loop.call_at(t + 1ms, [&] { order.push_back("cancelled"); });
        // A coarser clock duration converts exactly.
        loop.call_at(std::chrono::time_point_cast<std::chrono::hours>(t) - 1h,
                     [&] { order.push_back("coarse past"); });
        CHECK(dropped.cancel());
        CHECK(dropped.cancelled());
        CHECK(two_a.when() == t + 2ms);
        co_await unblock::sleep_until(t + 3ms); // registered after "3": runs after it
        CHECK(order == std::vector<std::string>{"coarse past", "past", "1", "2a", "2b", "3"});
    };
    unblock::run(body());
}

TEST_CASE("sleep_until: a past deadline yields, time_point::max() means never, a cancel wakes it",
          "[time][cancel]") {
    using namespace std::chrono;
    auto ends_cancelled = [](unblock::join_handle<void>& handle) -> task<bool> {
        try {
            co_await handle;
        } catch (const unblock::cancelled_error&) {
            co_return true;
        }
        co_return false;
    };
    auto body = [&]() -> task<> {
        auto& loop = unblock::get_running_loop();
        std::vector<std::string> order;
        auto other = unblock::create_task([&]() -> task<> {
            order.push_back("other");
            co_return;
        });
        co_await unblock::sleep_until(loop.time() - 1h); // the ready task goes first
        order.push_back("past deadline");
        CHECK(order == std::vector<std::string>{"other", "past deadline"});
        co_await other;

        // Saturates: never fires, and the loop does not spin on it.
        auto forever = unblock::create_task(unblock::sleep_until(steady_clock::time_point::max()));
        auto coarse = unblock::create_task(
            unblock::sleep_until(time_point<steady_clock, hours>(hours::max())));
        co_await unblock::sleep(1ms);
        CHECK_FALSE(forever.done());
        CHECK_FALSE(coarse.done());
        CHECK(forever.cancel());
        CHECK(coarse.cancel());
        const bool forever_cancelled = co_await ends_cancelled(forever);
        const bool coarse_cancelled = co_await ends_cancelled(coarse);
        CHECK(forever_cancelled);
        CHECK(coarse_cancelled);
        CHECK(forever.cancelled());

        // A cancel that comes before the task reaches sleep_until.
        auto early = unblock::create_task(unblock::sleep_until(loop.time() + 1h));
        early.cancel();
        const bool early_cancelled = co_await ends_cancelled(early);
        CHECK(early_cancelled);
    };
    unblock::run(body());
}
