#include "support/counted.hpp"

#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <atomic>
#include <latch>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using unblock::task;

namespace {

task<int> after(std::chrono::milliseconds delay, int value) {
    co_await unblock::sleep(delay);
    co_return value;
}

} // namespace

TEST_CASE("gather runs awaitables concurrently and keeps argument order", "[gather]") {
    auto body = []() -> task<> {
        auto& loop = unblock::get_running_loop();
        const auto start = loop.time();
        auto [a, b, c] = co_await unblock::gather(after(40ms, 1), after(20ms, 2),
                                                  []() -> task<> { co_return; }());
        const auto took = loop.time() - start;
        CHECK(a == 1);
        CHECK(b == 2);
        STATIC_REQUIRE(std::is_same_v<decltype(c), std::monostate>);
        CHECK(took < 60ms + 500ms); // concurrent: about 40 ms, never the 60 ms sum plus slack
    };
    unblock::run(body());
}

TEST_CASE("gather of a vector returns results in order", "[gather]") {
    auto body = []() -> task<std::vector<int>> {
        std::vector<task<int>> tasks;
        for (int i = 0; i < 10; ++i)
            tasks.push_back(after(std::chrono::milliseconds(10 - i), i));
        co_return co_await unblock::gather(std::move(tasks));
    };
    CHECK(unblock::run(body()) == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("gather: the first failure cancels the others and propagates after they stopped",
          "[gather][cancel]") {
    auto body = []() -> task<> {
        std::vector<std::string> steps;
        auto slow = [&]() -> task<int> {
            try {
                co_await unblock::sleep(1h);
            } catch (const unblock::cancelled_error&) {
                steps.push_back("sibling cancelled");
                throw;
            }
            co_return 0;
        };
        auto failing = [&]() -> task<int> {
            co_await unblock::sleep(1ms);
            throw std::invalid_argument("bad input");
        };
        try {
            co_await unblock::gather(slow(), failing());
        } catch (const std::invalid_argument& e) {
            steps.push_back(e.what());
        }
        CHECK(steps == std::vector<std::string>{"sibling cancelled", "bad input"});
    };
    unblock::run(body());
}

TEST_CASE("gather(return_exceptions, ...) collects values and exceptions", "[gather]") {
    auto body = []() -> task<> {
        auto [ok, bad] =
            co_await unblock::gather(unblock::return_exceptions, after(1ms, 5), []() -> task<int> {
                co_await unblock::sleep(2ms);
                throw std::runtime_error("failed");
            }());
        REQUIRE(ok.has_value());
        CHECK(ok.value() == 5);
        CHECK_FALSE(bad.has_value());
        CHECK_THROWS_WITH(bad.value(), "failed");
    };
    unblock::run(body());
}

TEST_CASE("cancelling a gather cancels every child and waits for them", "[gather][cancel]") {
    auto body = []() -> task<> {
        int cancelled_children = 0;
        auto child = [&]() -> task<> {
            try {
                co_await unblock::sleep(1h);
            } catch (const unblock::cancelled_error&) {
                ++cancelled_children;
                throw;
            }
        };
        auto gatherer_body = [&]() -> task<> {
            co_await unblock::gather(child(), child(), child());
        };
        auto gatherer = unblock::create_task(gatherer_body());
        co_await unblock::sleep(1ms);
        gatherer.cancel();
        CHECK_THROWS_AS(co_await gatherer, unblock::cancelled_error);
        CHECK(cancelled_children == 3);
    };
    unblock::run(body());
}

TEST_CASE("gather destroys every child's values exactly once", "[gather]") {
    unblock::test::counted::reset();
    auto body = []() -> task<int> {
        auto make = [](int v) -> task<unblock::test::counted> {
            co_await unblock::sleep(0s);
            co_return unblock::test::counted(v);
        };
        auto [a, b] = co_await unblock::gather(make(1), make(2));
        co_return a.value() + b.value();
    };
    CHECK(unblock::run(body()) == 3);
    CHECK(unblock::test::counted::alive() == 0);
}

namespace {

int square(int x) { return x * x; }

/// How a task ended: "cancelled", another exception's what(), or "none".
template <class T>
task<std::string> ending_of(unblock::join_handle<T>& handle) {
    try {
        co_await handle;
    } catch (const unblock::cancelled_error&) {
        co_return "cancelled";
    } catch (const std::exception& e) {
        co_return e.what();
    }
    co_return "none";
}

} // namespace

TEST_CASE("gather of a vector of to_thread calls, futures or join_handles returns results in order",
          "[gather]") {
    auto body = []() -> task<> {
        std::vector<decltype(unblock::to_thread(square, 0))> calls;
        for (int i = 0; i < 5; ++i)
            calls.push_back(unblock::to_thread(square, i));
        const std::vector<int> squares = co_await unblock::gather(std::move(calls));
        CHECK(squares == std::vector<int>{0, 1, 4, 9, 16});

        std::vector<unblock::future<int>> futures;
        for (int i = 0; i < 4; ++i)
            futures.push_back(unblock::run_in_executor(nullptr, square, i + 1));
        const std::vector<int> from_futures = co_await unblock::gather(std::move(futures));
        CHECK(from_futures == std::vector<int>{1, 4, 9, 16});

        std::vector<unblock::join_handle<int>> handles;
        for (int i = 0; i < 3; ++i)
            handles.push_back(unblock::create_task(after(std::chrono::milliseconds(3 - i), i)));
        const std::vector<int> from_handles = co_await unblock::gather(std::move(handles));
        CHECK(from_handles == std::vector<int>{0, 1, 2});

        auto no_result = [] {};
        std::vector<decltype(unblock::to_thread(no_result))> voids;
        voids.push_back(unblock::to_thread(no_result));
        voids.push_back(unblock::to_thread(no_result));
        const auto nothing = co_await unblock::gather(std::move(voids));
        STATIC_REQUIRE(std::is_same_v<decltype(nothing), const std::vector<std::monostate>>);
        CHECK(nothing.size() == 2);

        const auto empty =
            co_await unblock::gather(std::vector<decltype(unblock::to_thread(square, 0))>{});
        CHECK(empty.empty());
    };
    unblock::run(body());
}

TEST_CASE("gather(return_exceptions, vector) collects each value or exception in order",
          "[gather]") {
    auto body = []() -> task<> {
        auto checked = [](int x) {
            if (x % 2 != 0) throw std::invalid_argument("odd " + std::to_string(x));
            return x;
        };
        std::vector<decltype(unblock::to_thread(checked, 0))> calls;
        for (int i = 0; i < 4; ++i)
            calls.push_back(unblock::to_thread(checked, i));
        auto outcomes = co_await unblock::gather(unblock::return_exceptions, std::move(calls));
        REQUIRE(outcomes.size() == 4);
        CHECK(outcomes[0].value() == 0);
        CHECK(outcomes[2].value() == 2);
        CHECK_FALSE(outcomes[1].has_value());
        CHECK_THROWS_WITH(outcomes[1].value(), "odd 1");
        CHECK_THROWS_WITH(outcomes[3].value(), "odd 3");

        // Without return_exceptions the first failure propagates.
        std::vector<decltype(unblock::to_thread(checked, 0))> failing;
        failing.push_back(unblock::to_thread(checked, 2));
        failing.push_back(unblock::to_thread(checked, 3));
        std::string error;
        try {
            co_await unblock::gather(std::move(failing));
        } catch (const std::invalid_argument& e) {
            error = e.what();
        }
        CHECK(error == "odd 3");
    };
    unblock::run(body());
}

TEST_CASE("cancelling a gather of a vector cancels every child: queued calls never run, running "
          "ones are stopped",
          "[gather][cancel]") {
    unblock::thread_pool_executor pool(1);
    auto body = [&]() -> task<> {
        std::atomic<int> started{0};
        std::atomic<int> stopped{0};
        std::latch first_started(1);
        std::latch cancel_returned(1); // so the worker cannot take a call not yet withdrawn
        auto wait_for_stop = [&](std::stop_token stop) {
            if (started++ == 0) first_started.count_down();
            while (!stop.stop_requested())
                std::this_thread::yield();
            cancel_returned.wait();
            ++stopped;
        };
        std::vector<decltype(unblock::to_thread(pool, wait_for_stop))> calls;
        for (int i = 0; i < 3; ++i)
            calls.push_back(unblock::to_thread(pool, wait_for_stop));
        auto gatherer = unblock::create_task(unblock::gather(std::move(calls)));
        co_await unblock::to_thread([&] { first_started.wait(); }); // one runs, two are queued
        gatherer.cancel();
        cancel_returned.count_down();
        const std::string ending = co_await ending_of(gatherer);
        CHECK(ending == "cancelled");
        CHECK(started == 1); // the queued two were withdrawn
        CHECK(stopped == 1); // and the gather waited for the running one

        // Futures and join_handles: their work and tasks are cancelled too.
        std::vector<unblock::join_handle<int>> sleepers;
        sleepers.push_back(unblock::create_task(after(1h, 1)));
        sleepers.push_back(unblock::create_task(after(1h, 2)));
        auto first = unblock::create_task(unblock::gather(std::move(sleepers)));
        co_await unblock::sleep(1ms);
        first.cancel();
        const std::string first_ending = co_await ending_of(first);
        CHECK(first_ending == "cancelled");
    };
    unblock::run(body());
}
