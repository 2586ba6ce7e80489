#include "support/counted.hpp"

#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <memory>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;
using unblock::task;
using unblock::test::counted;

namespace {

task<int> answer() { co_return 42; }
task<> nothing() { co_return; }
task<int> fail() {
    throw std::runtime_error("boom");
    co_return 0;
}
task<int> completes_synchronously(int i) { co_return i; }

int global_value = 5;
task<int&> reference() { co_return global_value; }

task<counted> make_counted(int v) { co_return counted(v); }

} // namespace

TEST_CASE("a task is lazy: its body runs only when awaited", "[task]") {
    bool ran = false;
    auto body = [&]() -> task<> {
        ran = true;
        co_return;
    };
    task<> t = body();
    CHECK_FALSE(ran);
    unblock::run([&]() -> task<> { co_await t; }());
    CHECK(ran);
}

TEST_CASE("a task yields its value, void, and references", "[task]") {
    CHECK(unblock::run(answer()) == 42);
    unblock::run(nothing());
    int& r = unblock::run([]() -> task<int&> { co_return co_await reference(); }());
    CHECK(&r == &global_value);
}

TEST_CASE("a task rethrows its exception to the awaiter", "[task]") {
    auto outer = []() -> task<std::string> {
        try {
            co_await fail();
        } catch (const std::runtime_error& e) {
            co_return e.what();
        }
        co_return "not thrown";
    };
    CHECK(unblock::run(outer()) == "boom");
    CHECK_THROWS_AS(unblock::run(fail()), std::runtime_error);
}

TEST_CASE("a million synchronously completing awaits do not overflow the stack", "[task]") {
    auto loop = []() -> task<long> {
        long sum = 0;
        for (int i = 0; i < 1'000'000; ++i)
            sum += co_await completes_synchronously(1);
        co_return sum;
    };
    CHECK(unblock::run(loop()) == 1'000'000);
}

TEST_CASE("a deep chain of nested tasks completes", "[task]") {
    // Nesting is real recursion (each level is a live frame); 10,000 levels
    // must work on every compiler and optimisation level.
    struct chain {
        static task<int> depth(int n) {
            if (n == 0) co_return 0;
            co_return 1 + co_await depth(n - 1);
        }
    };
    CHECK(unblock::run(chain::depth(10'000)) == 10'000);
}

TEST_CASE("task values and frames are destroyed exactly once", "[task]") {
    counted::reset();
    {
        auto outer = []() -> task<int> {
            counted local(1);
            counted v = co_await make_counted(7);
            co_await unblock::sleep(0ms);
            co_return v.value() + local.value();
        };
        CHECK(unblock::run(outer()) == 8);
    }
    CHECK(counted::alive() == 0);
    CHECK(counted::constructed > 0);

    counted::reset();
    {
        // Never started: destroying the task destroys its frame and its arguments.
        auto never = [](counted c) -> task<int> { co_return c.value(); };
        task<int> t = never(counted(3));
        CHECK(counted::alive() >= 1);
    }
    CHECK(counted::alive() == 0);
}

TEST_CASE("task is move-only and an empty or finished task cannot be awaited again", "[task]") {
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<task<int>>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<task<int>>);
    auto body = []() -> task<> {
        task<int> t = answer();
        task<int> moved = std::move(t);
        CHECK_FALSE(t.valid()); // NOLINT(bugprone-use-after-move)
        CHECK_THROWS_AS(co_await t, unblock::invalid_state_error);
        const auto value = co_await moved;
        CHECK(value == 42);
        CHECK_THROWS_AS(co_await moved, unblock::invalid_state_error);
    };
    unblock::run(body());
}
