// to_thread(abandon_on_cancel, ...): a cancellation leaves a blocking call behind.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <atomic>
#include <chrono>
#include <latch>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using unblock::task;

TEST_CASE("abandon_on_cancel: values and exceptions pass through", "[abandon][offload]") {
    auto main_task = []() -> task<> {
        const int v = co_await unblock::to_thread(
            unblock::abandon_on_cancel, [](int x) { return x + 1; }, 41);
        CHECK(v == 42);
        bool thrown = false;
        try {
            co_await unblock::to_thread(unblock::abandon_on_cancel,
                                        [] { throw std::out_of_range("boom"); });
        } catch (const std::out_of_range&) {
            thrown = true;
        }
        CHECK(thrown);
    };
    unblock::run(main_task());
}

TEST_CASE("abandon_on_cancel: a timeout resumes the coroutine at once and the call runs to its end",
          "[abandon][cancel]") {
    unblock::thread_pool_executor pool(2);
    std::atomic<bool> released{false};
    std::latch ended(1);
    std::atomic<bool> ran_to_end{false};
    auto blocking = [&released, &ended, &ran_to_end](std::string text) {
        // Ignores stop requests. Bounded, so that without the feature (the
        // timeout waiting for the call) the test fails on time, not hangs.
        const auto give_up = std::chrono::steady_clock::now() + 5s;
        while (!released && std::chrono::steady_clock::now() < give_up)
            std::this_thread::sleep_for(1ms);
        ran_to_end = text == "argument owned by the call";
        ended.count_down();
        return 1;
    };
    std::chrono::steady_clock::duration waited{};
    auto main_task = [&]() -> task<bool> {
        const auto start = std::chrono::steady_clock::now();
        bool timed_out = false;
        try {
            co_await unblock::wait_for(
                unblock::to_thread(unblock::abandon_on_cancel, pool, blocking,
                                   std::string("argument owned by the call")),
                20ms);
        } catch (const unblock::timeout_error&) {
            timed_out = true;
        }
        waited = std::chrono::steady_clock::now() - start;
        co_return timed_out;
    };
    const bool timed_out = unblock::run(main_task());
    // The loop is gone; the abandoned call still runs and ends on its own.
    CHECK(timed_out);
    CHECK(waited < 2s); // resumed at once (20 ms), not when the call returned
    released = true;
    ended.wait();
    CHECK(ran_to_end);
    pool.shutdown(true);
}

TEST_CASE("abandon_on_cancel: a call not started never runs, and a running one is asked to stop",
          "[abandon][cancel]") {
    unblock::thread_pool_executor pool(1);
    std::latch running(1);
    std::atomic<int> later_runs{0};
    std::atomic<bool> stop_seen{false};
    auto main_task = [&]() -> task<> {
        auto first = unblock::create_task(
            unblock::to_thread(unblock::abandon_on_cancel, pool, [&](std::stop_token stop) {
                running.count_down();
                while (!stop.stop_requested())
                    std::this_thread::sleep_for(1ms);
                stop_seen = true;
            }));
        auto second = unblock::create_task(
            unblock::to_thread(unblock::abandon_on_cancel, pool, [&] { ++later_runs; }));
        co_await unblock::to_thread([&] { running.wait(); }); // the first runs; the second waits
        second.cancel();
        first.cancel();
        for (auto* handle : {&first, &second}) {
            try {
                co_await *handle;
            } catch (const unblock::cancelled_error&) {
            }
        }
        CHECK(first.cancelled());
        CHECK(second.cancelled());
    };
    unblock::run(main_task());
    pool.shutdown(true); // the abandoned first call saw its stop request and returned
    CHECK(stop_seen);
    CHECK(later_runs == 0);
}
