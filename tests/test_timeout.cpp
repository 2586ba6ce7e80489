// timeout / timeout_at (asyncio.timeout) and shield (asyncio.shield).
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using unblock::task;
using unblock::timeout_scope;

namespace {

task<int> value_after(std::chrono::milliseconds delay, int value) {
    co_await unblock::sleep(delay);
    co_return value;
}

} // namespace

TEST_CASE("timeout: a body that finishes in time returns its value", "[timeout]") {
    auto main_task = []() -> task<int> {
        const int a = co_await unblock::timeout(10s, value_after(1ms, 1));
        const int b = co_await unblock::timeout(10s, [](timeout_scope& scope) -> task<int> {
            CHECK_FALSE(scope.expired());
            co_return co_await value_after(1ms, 2);
        });
        co_await unblock::sleep(5ms); // a disarmed timer does nothing later
        co_return a + b;
    };
    CHECK(unblock::run(main_task()) == 3);
}

TEST_CASE("timeout: the deadline cancels the body, waits for it, then throws timeout_error",
          "[timeout][cancel]") {
    std::vector<std::string> log;
    auto main_task = [&]() -> task<> {
        auto body = [&](timeout_scope&) -> task<> {
            try {
                co_await unblock::sleep(1h);
            } catch (const unblock::cancelled_error&) {
                log.push_back("body cancelled");
                throw;
            }
        };
        try {
            co_await unblock::timeout(10ms, body);
        } catch (const unblock::timeout_error& e) {
            log.push_back("timeout_error");
            CHECK_THAT(std::string(e.what()), Catch::Contains("deadline passed"));
        }
        try {
            co_await unblock::timeout(5ms, unblock::sleep(1h));
        } catch (const unblock::timeout_error&) {
            log.push_back("awaitable timed out");
        }
    };
    unblock::run(main_task());
    CHECK(log ==
          std::vector<std::string>{"body cancelled", "timeout_error", "awaitable timed out"});
}

TEST_CASE("timeout: the deadline can be moved later or earlier while the body runs", "[timeout]") {
    auto main_task = []() -> task<> {
        auto& loop = unblock::get_running_loop();
        // Later: a 30 ms body under a 10 ms deadline moved 10 s out finishes.
        const int v = co_await unblock::timeout(10ms, [&](timeout_scope& scope) -> task<int> {
            scope.reschedule(loop.time() + 10s);
            co_return co_await value_after(30ms, 5);
        });
        CHECK(v == 5);
        // Never: time_point::max() removes the deadline.
        const int w = co_await unblock::timeout(10ms, [&](timeout_scope& scope) -> task<int> {
            scope.reschedule(timeout_scope::clock::time_point::max());
            co_return co_await value_after(30ms, 6);
        });
        CHECK(w == 6);
        // Earlier: a 1 h deadline moved to now expires at once.
        bool timed_out = false;
        try {
            co_await unblock::timeout_at(loop.time() + 1h, [&](timeout_scope& scope) -> task<> {
                scope.reschedule(loop.time());
                co_await unblock::sleep(1h);
            });
        } catch (const unblock::timeout_error&) {
            timed_out = true;
        }
        CHECK(timed_out);
    };
    unblock::run(main_task());
}

TEST_CASE("timeout: rescheduling after expiry is refused", "[timeout][misuse]") {
    auto main_task = []() -> task<std::string> {
        std::string refused;
        try {
            co_await unblock::timeout(1ms, [&](timeout_scope& scope) -> task<> {
                try {
                    co_await unblock::sleep(1h);
                } catch (const unblock::cancelled_error&) {
                    CHECK(scope.expired());
                    try {
                        scope.reschedule(scope.when() + 1h);
                    } catch (const unblock::invalid_state_error& e) {
                        refused = e.what();
                    }
                    throw;
                }
            });
        } catch (const unblock::timeout_error&) {
        }
        co_return refused;
    };
    CHECK_THAT(unblock::run(main_task()), Catch::Contains("already passed"));
}

TEST_CASE("timeout: a failure of the body and a cancel from outside pass through unchanged",
          "[timeout][cancel]") {
    auto main_task = []() -> task<> {
        bool runtime = false;
        try {
            co_await unblock::timeout(10s, []() -> task<> {
                co_await unblock::sleep(1ms);
                throw std::runtime_error("body failed");
            }());
        } catch (const std::runtime_error& e) {
            runtime = std::string(e.what()) == "body failed";
        }
        CHECK(runtime);

        auto outer = unblock::create_task(unblock::timeout(10s, unblock::sleep(1h)));
        co_await unblock::sleep(2ms);
        outer.cancel();
        bool cancelled = false;
        try {
            co_await outer;
        } catch (const unblock::timeout_error&) {
            FAIL("an outside cancel is not a timeout");
        } catch (const unblock::cancelled_error&) {
            cancelled = true;
        }
        CHECK(cancelled);
    };
    unblock::run(main_task());
}

TEST_CASE("shield: the value passes through, and a cancel leaves the inner work running",
          "[shield][cancel]") {
    std::vector<std::string> log;
    auto main_task = [&]() -> task<> {
        const int v = co_await unblock::shield(value_after(1ms, 3));
        CHECK(v == 3);

        unblock::event release;
        auto inner = [&]() -> task<int> {
            co_await release.wait();
            log.push_back("inner finished");
            co_return 4;
        };
        auto outer = unblock::create_task(unblock::shield(inner()));
        co_await unblock::sleep(2ms);
        outer.cancel();
        try {
            co_await outer;
        } catch (const unblock::cancelled_error&) {
            log.push_back("outer cancelled");
        }
        release.set(); // only now can the shielded work finish
        co_await unblock::sleep(2ms);
    };
    unblock::run(main_task());
    CHECK(log == std::vector<std::string>{"outer cancelled", "inner finished"});
}

TEST_CASE("shield: an exception of the inner work is rethrown", "[shield]") {
    auto main_task = []() -> task<bool> {
        try {
            co_await unblock::shield([]() -> task<> {
                co_await unblock::sleep(1ms);
                throw std::out_of_range("inner");
            }());
        } catch (const std::out_of_range&) {
            co_return true;
        }
        co_return false;
    };
    CHECK(unblock::run(main_task()));
}
