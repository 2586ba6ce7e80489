// Guest mode inside libuv: a uv_poll_t watches the loop's pollable fd and a
// uv_timer_t wakes it at next_deadline(), while a libuv-native timer ticks on
// the same thread.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include "guest_work.hpp"

#include <uv.h>

#include <chrono>
#include <thread>

namespace {

struct host {
    guest_test::guest_work work;
    unblock::event_loop loop;
    unblock::join_handle<int> handle = loop.create_task(work.main(std::this_thread::get_id()));
    uv_loop_t uv{};
    uv_poll_t loop_fd{};
    uv_timer_t deadline_timer{};
    uv_timer_t host_timer{};
    uv_timer_t watchdog{};

    void drive() {
        loop.run_once();
        if (handle.done()) {
            stop();
            return;
        }
        uv_timer_stop(&deadline_timer);
        if (const auto when = loop.next_deadline()) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(
                *when - std::chrono::steady_clock::now());
            uv_timer_start(&deadline_timer, &on_deadline,
                           left.count() < 0 ? 0 : static_cast<std::uint64_t>(left.count()), 0);
        }
    }

    void stop() {
        uv_poll_stop(&loop_fd);
        uv_timer_stop(&deadline_timer);
        uv_timer_stop(&host_timer);
        uv_timer_stop(&watchdog);
    }

    static host& of(void* handle) {
        return *static_cast<host*>(static_cast<uv_handle_t*>(handle)->data);
    }
    static void on_readable(uv_poll_t* poll, int, int) { of(poll).drive(); }
    static void on_deadline(uv_timer_t* timer) { of(timer).drive(); }
    static void on_tick(uv_timer_t* timer) { ++of(timer).work.host_ticks; }
    static void on_watchdog(uv_timer_t* timer) { of(timer).stop(); } // never hang the suite
};

} // namespace

TEST_CASE("guest: libuv uv_loop hosts the loop", "[guest][libuv]") {
    host h;
    REQUIRE(uv_loop_init(&h.uv) == 0);
    REQUIRE(uv_poll_init(&h.uv, &h.loop_fd, h.loop.pollable_fd()) == 0);
    uv_timer_init(&h.uv, &h.deadline_timer);
    uv_timer_init(&h.uv, &h.host_timer);
    uv_timer_init(&h.uv, &h.watchdog);
    for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&h.loop_fd),
                                reinterpret_cast<uv_handle_t*>(&h.deadline_timer),
                                reinterpret_cast<uv_handle_t*>(&h.host_timer),
                                reinterpret_cast<uv_handle_t*>(&h.watchdog)})
        handle->data = &h;
    uv_poll_start(&h.loop_fd, UV_READABLE, &host::on_readable);
    uv_timer_start(&h.host_timer, &host::on_tick, 2, 2);
    uv_timer_start(&h.watchdog, &host::on_watchdog, 20'000, 0);
    uv_timer_start(&h.deadline_timer, &host::on_deadline, 0, 0); // the first run_once
    uv_run(&h.uv, UV_RUN_DEFAULT);

    REQUIRE(h.handle.done());
    CHECK(h.handle.result() == 0);
    CHECK(h.work.finished_at_host_ticks > 3);

    for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&h.loop_fd),
                                reinterpret_cast<uv_handle_t*>(&h.deadline_timer),
                                reinterpret_cast<uv_handle_t*>(&h.host_timer),
                                reinterpret_cast<uv_handle_t*>(&h.watchdog)})
        uv_close(handle, nullptr);
    uv_run(&h.uv, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&h.uv) == 0);
}
