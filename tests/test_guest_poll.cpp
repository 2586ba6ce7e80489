// Guest mode with the simplest host there is: a poll() loop that also serves
// its own timer. The recipe of docs/guest-mode.md, written out.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include "guest/guest_work.hpp"

#include <chrono>
#include <thread>

#include <poll.h>

using namespace std::chrono_literals;

TEST_CASE("guest: a poll() host drives the loop and its own timer on one thread", "[guest]") {
    guest_test::guest_work work;
    unblock::event_loop loop;
    auto handle = loop.create_task(work.main(std::this_thread::get_id()));
    auto host_tick = std::chrono::steady_clock::now() + 2ms;
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (!handle.done() && std::chrono::steady_clock::now() < give_up) {
        // Sleep until the loop's fd is readable, its next deadline, or the host's own tick.
        auto wake_at = host_tick;
        if (const auto deadline = loop.next_deadline(); deadline && *deadline < wake_at)
            wake_at = *deadline;
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(
            wake_at - std::chrono::steady_clock::now());
        pollfd watched{loop.pollable_fd(), POLLIN, 0};
        ::poll(&watched, 1, left.count() < 0 ? 0 : static_cast<int>(left.count()));
        if (std::chrono::steady_clock::now() >= host_tick) {
            ++work.host_ticks;
            host_tick += 2ms;
        }
        loop.run_once();
    }
    REQUIRE(handle.done());
    CHECK(handle.result() == 0);            // every resumption on this thread, values intact
    CHECK(work.finished_at_host_ticks > 3); // the host's timer ran while unblock's work did
}

TEST_CASE("guest: run_once waits at most its timeout and runs what became ready", "[guest]") {
    unblock::event_loop loop;
    bool ran = false;
    loop.call_later(5ms, [&] { ran = true; });
    const auto start = std::chrono::steady_clock::now();
    loop.run_once(); // nothing ready: returns at once
    CHECK_FALSE(ran);
    while (!ran && std::chrono::steady_clock::now() - start < 10s)
        loop.run_once(1s); // sleeps until the timer, then runs it
    CHECK(ran);
    REQUIRE(loop.next_deadline() == std::nullopt);
}

TEST_CASE("guest: pollable_fd turns readable when offloaded work completes", "[guest]") {
    unblock::event_loop loop;
    std::atomic<bool> release{false};
    auto handle = loop.create_task(unblock::to_thread([&] {
        while (!release.load())
            std::this_thread::yield();
        return 7;
    }));
    loop.run_once(); // starts the task: it offloads and waits
    loop.run_once();
    CHECK_FALSE(handle.done());
    pollfd watched{loop.pollable_fd(), POLLIN, 0};
    CHECK(::poll(&watched, 1, 0) == 0); // quiet while the call runs
    release = true;
    CHECK(::poll(&watched, 1, 10'000) == 1); // the completion makes it readable
    for (int i = 0; i != 100 && !handle.done(); ++i)
        loop.run_once();
    REQUIRE(handle.done());
    CHECK(handle.result() == 7);
}

TEST_CASE("guest: run_once while another loop runs on the thread is a clear error", "[guest]") {
    unblock::event_loop guest;
    auto main_task = [&]() -> unblock::task<> {
        guest.run_once();
        co_return;
    };
    CHECK_THROWS_AS(unblock::run(main_task()), unblock::invalid_state_error);
}
