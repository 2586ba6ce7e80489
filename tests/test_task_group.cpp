// task_group / with_task_group (asyncio.TaskGroup) and exception_group.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <algorithm>
#include <atomic>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using unblock::task;
using unblock::task_group;

namespace {

/// Waits until cancelled; records that its cleanup ran.
task<int> until_cancelled(std::vector<std::string>& log, std::string name) {
    try {
        co_await unblock::sleep(1h);
    } catch (const unblock::cancelled_error&) {
        log.push_back(name + " cancelled");
        throw;
    }
    co_return 0;
}

task<int> fail_after(std::chrono::milliseconds delay, std::string what) {
    co_await unblock::sleep(delay);
    throw std::runtime_error(what);
}

task<int> value_after(std::chrono::milliseconds delay, int value) {
    co_await unblock::sleep(delay);
    co_return value;
}

} // namespace

TEST_CASE("task_group: waits for every task and returns the body's value", "[task_group]") {
    auto main_task = []() -> task<> {
        int a = 0;
        int b = 0;
        auto body = [&](task_group& group) -> task<int> {
            auto first = group.create_task(value_after(20ms, 1));
            auto second = group.create_task(value_after(10ms, 2));
            CHECK(group.size() == 3); // the body and two tasks
            a = co_await first;
            second.detach(); // the group still waits for it
            co_return 7;
        };
        auto third = [&](task_group& group) -> task<> {
            group.start_soon([&]() -> task<> {
                co_await unblock::sleep(30ms);
                b = 2;
            });
            co_return;
        };
        const int v = co_await unblock::with_task_group(body);
        co_await unblock::with_task_group(third);
        CHECK(v == 7);
        CHECK(a == 1);
        CHECK(b == 2); // the body returned at once; the group waited for its task
    };
    unblock::run(main_task());
}

TEST_CASE("task_group: a failing task cancels the others and the body, then fails as a group",
          "[task_group][cancel]") {
    std::vector<std::string> log;
    auto main_task = [&]() -> task<> {
        auto body = [&](task_group& group) -> task<> {
            group.start_soon(until_cancelled(log, "first"));
            group.start_soon(fail_after(10ms, "second failed"));
            group.start_soon(until_cancelled(log, "third"));
            try {
                co_await unblock::sleep(1h);
            } catch (const unblock::cancelled_error&) {
                log.push_back("body cancelled");
                throw;
            }
        };
        try {
            co_await unblock::with_task_group(body);
            FAIL("with_task_group did not throw");
        } catch (const unblock::exception_group& group_error) {
            log.push_back("group failed");
            REQUIRE(group_error.exceptions().size() == 1);
            CHECK_THROWS_WITH(std::rethrow_exception(group_error.exceptions()[0]), "second failed");
            CHECK_THAT(std::string(group_error.what()),
                       Catch::Contains("1 task failed") && Catch::Contains("second failed"));
        }
    };
    unblock::run(main_task());
    std::sort(log.begin(), log.end() - 1);
    CHECK(log == std::vector<std::string>{"body cancelled", "first cancelled", "third cancelled",
                                          "group failed"});
}

TEST_CASE("task_group: several failures arrive together", "[task_group]") {
    auto main_task = []() -> task<std::size_t> {
        auto body = [](task_group& group) -> task<> {
            group.start_soon(fail_after(5ms, "one"));
            group.start_soon([]() -> task<> { // fails while being cancelled by the first
                try {
                    co_await unblock::sleep(1h);
                } catch (const unblock::cancelled_error&) {
                    throw std::runtime_error("two");
                }
            });
            co_return;
        };
        try {
            co_await unblock::with_task_group(body);
        } catch (const unblock::exception_group& error) {
            CHECK_THAT(std::string(error.what()), Catch::Contains("2 tasks failed") &&
                                                      Catch::Contains("(1) one") &&
                                                      Catch::Contains("(2) two"));
            co_return error.exceptions().size();
        }
        co_return 0;
    };
    CHECK(unblock::run(main_task()) == 2);
}

TEST_CASE("task_group: a failing body cancels the tasks", "[task_group]") {
    std::vector<std::string> log;
    auto main_task = [&]() -> task<> {
        auto body = [&](task_group& group) -> task<> {
            group.start_soon(until_cancelled(log, "child"));
            co_await unblock::sleep(1ms);
            throw std::logic_error("body failed");
        };
        try {
            co_await unblock::with_task_group(body);
        } catch (const unblock::exception_group& error) {
            CHECK_THROWS_AS(std::rethrow_exception(error.exceptions().at(0)), std::logic_error);
            log.push_back("caught");
        }
    };
    unblock::run(main_task());
    CHECK(log == std::vector<std::string>{"child cancelled", "caught"});
}

TEST_CASE("task_group: cancelling the awaiting task cancels everything and waits for it",
          "[task_group][cancel]") {
    std::vector<std::string> log;
    auto main_task = [&]() -> task<> {
        auto body = [&](task_group& group) -> task<> {
            group.start_soon(until_cancelled(log, "child"));
            group.start_soon([&]() -> task<> {
                try {
                    co_await unblock::sleep(1h);
                } catch (const unblock::cancelled_error&) {
                }
                co_await unblock::sleep(20ms); // cleanup that takes time is waited for
                log.push_back("slow child cleaned up");
                throw unblock::cancelled_error();
            });
            co_await until_cancelled(log, "body");
        };
        auto outer = unblock::create_task(unblock::with_task_group(body));
        co_await unblock::sleep(5ms);
        outer.cancel();
        CHECK_THROWS_AS(outer.result(), unblock::invalid_state_error); // not finished yet
        bool cancelled = false;
        try {
            co_await outer;
        } catch (const unblock::cancelled_error&) {
            cancelled = true;
        }
        CHECK(cancelled);
        log.push_back("outer done");
    };
    unblock::run(main_task());
    REQUIRE(log.size() == 4);
    CHECK(log[2] == "slow child cleaned up");
    CHECK(log[3] == "outer done");
}

TEST_CASE("task_group: the group refuses new tasks while shutting down and from another thread",
          "[task_group][misuse]") {
    auto main_task = []() -> task<> {
        std::string refused;
        std::string other_thread;
        auto body = [&](task_group& group) -> task<> {
            std::thread([&] {
                try {
                    group.start_soon(value_after(1ms, 1));
                } catch (const unblock::invalid_state_error& e) {
                    other_thread = e.what();
                }
            }).join();
            group.start_soon([&]() -> task<> {
                try {
                    co_await unblock::sleep(1h);
                } catch (const unblock::cancelled_error&) {
                    CHECK(group.shutting_down());
                    try {
                        group.start_soon(value_after(1ms, 1));
                    } catch (const unblock::invalid_state_error& e) {
                        refused = e.what();
                    }
                    throw;
                }
            });
            co_await unblock::sleep(1ms);
            throw std::runtime_error("stop");
        };
        bool failed_as_group = false;
        try {
            co_await unblock::with_task_group(body);
        } catch (const unblock::exception_group&) {
            failed_as_group = true;
        }
        CHECK(failed_as_group);
        CHECK_THAT(refused, Catch::Contains("shutting down"));
        CHECK_THAT(other_thread, Catch::Contains("outside the group's event loop thread"));
    };
    unblock::run(main_task());
}

TEST_CASE("task_group: a failure of a task whose handle was dropped is reported once, as the group",
          "[task_group]") {
    std::atomic<int> reports{0};
    unblock::event_loop loop;
    loop.set_exception_handler([&](const unblock::event_loop::exception_context&) { ++reports; });
    auto main_task = []() -> task<bool> {
        auto body = [](task_group& group) -> task<> {
            group.create_task(fail_after(1ms, "dropped")).detach();
            co_return;
        };
        try {
            co_await unblock::with_task_group(body);
        } catch (const unblock::exception_group&) {
            co_return true;
        }
        co_return false;
    };
    CHECK(loop.run_until_complete(main_task()));
    CHECK(reports == 0);
}

TEST_CASE("task_group: tasks may start tasks, and offloaded work is waited for",
          "[task_group][offload]") {
    auto main_task = []() -> task<int> {
        std::atomic<int> done{0};
        auto body = [&](task_group& group) -> task<> {
            for (int i = 0; i < 4; ++i) {
                group.start_soon([&group, &done]() -> task<> {
                    co_await unblock::to_thread([&done] { ++done; });
                    group.start_soon(
                        [&done]() -> task<> { co_await unblock::to_thread([&done] { ++done; }); });
                });
            }
            co_return;
        };
        co_await unblock::with_task_group(body);
        co_return done.load();
    };
    CHECK(unblock::run(main_task()) == 8);
}
