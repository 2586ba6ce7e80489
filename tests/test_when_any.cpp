// when_any: the first to finish wins; the others are cancelled and waited for.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <algorithm>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using unblock::task;

namespace {

task<int> value_after(std::chrono::milliseconds delay, int value, std::vector<std::string>& log) {
    try {
        co_await unblock::sleep(delay);
    } catch (const unblock::cancelled_error&) {
        log.push_back("cancelled " + std::to_string(value));
        throw;
    }
    co_return value;
}

} // namespace

TEST_CASE("when_any: the first to finish wins and the losers are stopped before it returns",
          "[when_any][cancel]") {
    std::vector<std::string> log;
    auto main_task = [&]() -> task<> {
        auto [index, value] =
            co_await unblock::when_any(value_after(1h, 1, log), value_after(5ms, 2, log),
                                       [&]() -> task<std::string> {
                                           co_await value_after(1h, 3, log);
                                           co_return "never";
                                       }());
        log.push_back("returned");
        CHECK(index == 1);
        CHECK(std::get<1>(value) == 2);

        std::vector<task<int>> tasks;
        tasks.push_back(value_after(1h, 4, log));
        tasks.push_back(value_after(1h, 5, log));
        tasks.push_back(value_after(1ms, 6, log));
        auto winner = co_await unblock::when_any(std::move(tasks));
        CHECK(winner.index == 2);
        CHECK(winner.value == 6);
    };
    unblock::run(main_task());
    REQUIRE(log.size() == 5);
    CHECK(log[2] == "returned"); // both losers were cancelled before when_any returned
    CHECK(std::find(log.begin(), log.end(), "cancelled 4") != log.end());
    CHECK(std::find(log.begin(), log.end(), "cancelled 5") != log.end());
}

TEST_CASE("when_any: a failing winner's exception is rethrown, and offloaded losers are withdrawn",
          "[when_any][offload]") {
    std::vector<std::string> log;
    auto main_task = [&]() -> task<> {
        bool thrown = false;
        try {
            co_await unblock::when_any(value_after(1h, 1, log), []() -> task<int> {
                co_await unblock::sleep(1ms);
                throw std::out_of_range("first to finish");
            }());
        } catch (const std::out_of_range&) {
            thrown = true;
        }
        CHECK(thrown);
        CHECK(log == std::vector<std::string>{"cancelled 1"});

        // A to_thread loser that watches its stop token stops when it loses.
        auto [index, value] =
            co_await unblock::when_any(unblock::to_thread([](std::stop_token stop) {
                                           while (!stop.stop_requested())
                                               std::this_thread::sleep_for(1ms);
                                           return 0;
                                       }),
                                       value_after(5ms, 7, log));
        CHECK(index == 1);
        CHECK(std::get<1>(value) == 7);
    };
    unblock::run(main_task());
}

TEST_CASE("when_any: cancelling the caller cancels every child, and no awaitables is an error",
          "[when_any][cancel][misuse]") {
    std::vector<std::string> log;
    auto main_task = [&]() -> task<> {
        auto racing = unblock::create_task(
            unblock::when_any(value_after(1h, 1, log), value_after(1h, 2, log)));
        co_await unblock::sleep(2ms);
        racing.cancel();
        bool cancelled = false;
        try {
            co_await racing;
        } catch (const unblock::cancelled_error&) {
            cancelled = true;
        }
        CHECK(cancelled);
        CHECK(log.size() == 2);

        std::string error;
        try {
            co_await unblock::when_any(std::vector<task<int>>{});
        } catch (const std::invalid_argument& e) {
            error = e.what();
        }
        CHECK_THAT(error, Catch::Contains("pass at least one"));
    };
    unblock::run(main_task());
}
