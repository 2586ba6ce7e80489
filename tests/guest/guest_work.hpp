// The unblock side of every guest-mode test: tasks that offload, sleep and
// wait on a pipe, recording the thread each resumption runs on, so the test
// can check that the host loop's thread ran them all.
#pragma once

#include <unblock/unblock.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace guest_test {

struct guest_work {
    guest_work() {
        if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2");
    }
    ~guest_work() {
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
    }
    guest_work(const guest_work&) = delete;
    guest_work& operator=(const guest_work&) = delete;

    /// 4 concurrent 30 ms offloads, a 10 ms sleep, and a wait on a pipe that a
    /// pool thread writes. Returns how many resumptions ran off `host`.
    unblock::task<int> main(std::thread::id host) {
        auto offload = [host](int i) -> unblock::task<int> {
            const auto worker = co_await unblock::to_thread([i] {
                std::this_thread::sleep_for(std::chrono::milliseconds(30));
                return i;
            });
            co_return (std::this_thread::get_id() == host ? 0 : 1) + (worker == i ? 0 : 100);
        };
        std::vector<unblock::join_handle<int>> tasks;
        for (int i = 0; i != 4; ++i)
            tasks.push_back(unblock::create_task(offload, i));
        int wrong = 0;
        co_await unblock::sleep(std::chrono::milliseconds(10));
        wrong += std::this_thread::get_id() == host ? 0 : 1;
        auto writer = unblock::create_task(unblock::to_thread([this] {
            const char c = 'g';
            (void)::write(pipe_fds[1], &c, 1);
        }));
        co_await unblock::wait_readable(pipe_fds[0]);
        wrong += std::this_thread::get_id() == host ? 0 : 1;
        co_await writer;
        for (auto& t : tasks)
            wrong += co_await t;
        finished_at_host_ticks = host_ticks.load();
        co_return wrong;
    }

    int pipe_fds[2] = {-1, -1};
    std::atomic<int> host_ticks{0}; ///< counted by the host's own timer
    int finished_at_host_ticks = -1;
};

} // namespace guest_test
