#include "support/counted.hpp"

#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <stdexcept>
#include <string>
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
