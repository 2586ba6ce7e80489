// Guest mode inside Boost.Asio: the io_context watches the loop's pollable fd
// through a posix::stream_descriptor and wakes it at next_deadline() with a
// steady_timer, while an Asio-native timer ticks on the same thread.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include "guest_work.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <thread>

#include <unistd.h>

namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST_CASE("guest: Boost.Asio io_context hosts the loop", "[guest][asio]") {
    guest_test::guest_work work;
    asio::io_context io;
    unblock::event_loop loop;
    auto handle = loop.create_task(work.main(std::this_thread::get_id()));

    // A dup: the descriptor object closes its fd, the loop closes its own.
    asio::posix::stream_descriptor loop_fd(io, ::dup(loop.pollable_fd()));
    asio::steady_timer deadline_timer(io);
    asio::steady_timer host_timer(io);
    asio::steady_timer watchdog(io, 20s);
    bool fd_wait_pending = false;
    // cancel() cannot withdraw a handler Asio has already queued: every
    // handler checks this flag too, or a queued tick re-arms forever.
    bool stopped = false;

    std::function<void()> drive;
    auto arm = [&] {
        if (!fd_wait_pending) {
            fd_wait_pending = true;
            loop_fd.async_wait(asio::posix::stream_descriptor::wait_read,
                               [&](const boost::system::error_code& error) {
                                   fd_wait_pending = false;
                                   if (!error) drive();
                               });
        }
        deadline_timer.cancel();
        if (const auto when = loop.next_deadline()) {
            deadline_timer.expires_at(*when);
            deadline_timer.async_wait([&](const boost::system::error_code& error) {
                if (!error) drive();
            });
        }
    };
    drive = [&] {
        if (stopped) return;
        loop.run_once();
        if (handle.done()) {
            stopped = true;
            loop_fd.cancel();
            deadline_timer.cancel();
            host_timer.cancel();
            watchdog.cancel();
            return;
        }
        arm();
    };
    std::function<void(const boost::system::error_code&)> tick =
        [&](const boost::system::error_code& error) {
            if (error || stopped) return;
            ++work.host_ticks;
            host_timer.expires_after(2ms);
            host_timer.async_wait(tick);
        };
    host_timer.expires_after(2ms);
    host_timer.async_wait(tick);
    watchdog.async_wait([&](const boost::system::error_code& error) {
        if (!error) io.stop(); // never hang the suite
    });
    asio::post(io, drive);
    io.run();

    REQUIRE(handle.done());
    CHECK(handle.result() == 0);
    CHECK(work.finished_at_host_ticks > 3);
}
