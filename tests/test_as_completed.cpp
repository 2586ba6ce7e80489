// as_completed (asyncio.as_completed) and wait (asyncio.wait).
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using unblock::task;

namespace {

task<int> value_after(std::chrono::milliseconds delay, int value) {
    co_await unblock::sleep(delay);
    co_return value;
}

task<int> fail_after(std::chrono::milliseconds delay) {
    co_await unblock::sleep(delay);
    throw std::runtime_error("failed");
}

} // namespace

TEST_CASE("as_completed hands tasks back in completion order, failures included",
          "[as_completed]") {
    auto main_task = []() -> task<std::vector<std::string>> {
        std::vector<task<int>> tasks;
        tasks.push_back(value_after(30ms, 3));
        tasks.push_back(value_after(1ms, 1));
        tasks.push_back(fail_after(15ms));
        auto finished = unblock::as_completed(std::move(tasks));
        CHECK(finished.size() == 3);
        std::vector<std::string> order;
        while (auto done = co_await finished.next()) {
            try {
                order.push_back(std::to_string(done->result()));
            } catch (const std::runtime_error& e) {
                order.push_back(e.what());
            }
        }
        CHECK(finished.size() == 0);
        co_return order;
    };
    CHECK(unblock::run(main_task()) == std::vector<std::string>{"1", "failed", "3"});
}

TEST_CASE("as_completed: a cancelled next() loses no task", "[as_completed][cancel]") {
    auto main_task = []() -> task<std::vector<int>> {
        std::vector<task<int>> tasks;
        tasks.push_back(value_after(20ms, 1));
        tasks.push_back(value_after(40ms, 2));
        auto finished = unblock::as_completed(std::move(tasks));
        std::vector<int> got;
        // A next() cut short by a timeout: the tasks keep running, nothing is lost.
        bool timed_out = false;
        try {
            co_await unblock::wait_for(finished.next(), 1ms);
        } catch (const unblock::timeout_error&) {
            timed_out = true;
        }
        CHECK(timed_out);
        while (auto done = co_await finished.next())
            got.push_back(done->result());
        co_return got;
    };
    CHECK(unblock::run(main_task()) == std::vector<int>{1, 2});
}

TEST_CASE("as_completed: misuse is refused, and tasks not taken are cancelled at the end",
          "[as_completed][misuse]") {
    auto main_task = []() -> task<> {
        std::vector<unblock::join_handle<int>> handles;
        handles.emplace_back(); // empty
        std::string error;
        try {
            auto finished = unblock::as_completed(std::move(handles));
        } catch (const unblock::invalid_state_error& e) {
            error = e.what();
        }
        CHECK_THAT(error, Catch::Contains("empty join_handle"));

        bool cleaned_up = false;
        auto slow = [&]() -> task<int> {
            try {
                co_await unblock::sleep(1h);
            } catch (const unblock::cancelled_error&) {
                cleaned_up = true;
                throw;
            }
            co_return 0;
        };
        {
            std::vector<task<int>> tasks;
            tasks.push_back(slow());
            auto finished = unblock::as_completed(std::move(tasks));
            co_await unblock::sleep(1ms); // it started
        }
        co_await unblock::sleep(1ms); // the cancel is delivered in the next iteration
        CHECK(cleaned_up);
    };
    unblock::run(main_task());
}

TEST_CASE("wait: first_completed, first_exception and all_completed", "[wait]") {
    auto main_task = []() -> task<> {
        auto start = [] {
            std::vector<unblock::join_handle<int>> handles;
            handles.push_back(unblock::create_task(value_after(40ms, 1)));
            handles.push_back(unblock::create_task(fail_after(20ms)));
            handles.push_back(unblock::create_task(value_after(1ms, 3)));
            return handles;
        };
        auto first = co_await unblock::wait(start(), unblock::return_when::first_completed);
        REQUIRE(first.done.size() == 1);
        CHECK(first.done[0].result() == 3);
        CHECK(first.pending.size() == 2); // not cancelled: they run on
        for (auto& handle : first.pending)
            CHECK_FALSE(handle.cancelled());

        auto failing = co_await unblock::wait(start(), unblock::return_when::first_exception);
        CHECK(failing.done.size() == 2); // the 1 ms one, then the failure
        CHECK(failing.pending.size() == 1);
        CHECK_THROWS_AS(failing.done[1].result(), std::runtime_error);

        auto all = co_await unblock::wait(start());
        CHECK(all.done.size() == 3);
        CHECK(all.pending.empty());
        for (auto& handle : all.done)
            if (handle.cancelled()) FAIL("nothing is cancelled");
        CHECK_THROWS(all.done[1].result());
        CHECK(all.done[2].result() == 1);
        // Let the ones still pending finish before the loop ends.
        for (auto& handle : first.pending)
            try {
                co_await handle;
            } catch (const std::runtime_error&) {
            }
        for (auto& handle : failing.pending)
            co_await handle;
    };
    unblock::run(main_task());
}
