// File-descriptor readiness on the loop: wait_readable / wait_writable,
// add_reader / add_writer, and errors for fds epoll cannot watch.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;
using unblock::task;

namespace {

/// A pipe closed on destruction.
struct test_pipe {
    test_pipe() { REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0); }
    ~test_pipe() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    [[nodiscard]] int read_end() const { return fds[0]; }
    [[nodiscard]] int write_end() const { return fds[1]; }
    /// Any thread (no Catch2 assertion: Catch2 is not thread-safe).
    void put(char c) const {
        if (::write(fds[1], &c, 1) != 1) throw std::runtime_error("write to the test pipe failed");
    }
    char take() const {
        char c = 0;
        REQUIRE(::read(fds[0], &c, 1) == 1);
        return c;
    }
    int fds[2] = {-1, -1};
};

} // namespace

TEST_CASE("readiness: wait_readable resumes when another thread writes", "[readiness]") {
    test_pipe p;
    auto main_task = [&]() -> task<char> {
        // The writer runs on a pool thread while this task waits on the loop.
        auto writer = unblock::create_task(unblock::to_thread([&] { p.put('x'); }));
        co_await unblock::wait_readable(p.read_end());
        co_await writer;
        co_return p.take();
    };
    CHECK(unblock::run(main_task()) == 'x');
}

TEST_CASE("readiness: an fd already ready resumes at once, and waits can repeat", "[readiness]") {
    test_pipe p;
    auto main_task = [&]() -> task<int> {
        co_await unblock::wait_writable(p.write_end());
        int got = 0;
        for (char c = 'a'; c != 'e'; ++c) {
            p.put(c);
            co_await unblock::wait_readable(p.read_end());
            got += p.take() == c ? 1 : 0;
        }
        co_return got;
    };
    CHECK(unblock::run(main_task()) == 4);
}

TEST_CASE("readiness: a timeout cancels the wait and the fd can be waited on again",
          "[readiness][cancel]") {
    test_pipe p;
    auto main_task = [&]() -> task<char> {
        bool timed_out = false;
        try {
            co_await unblock::wait_for(unblock::wait_readable(p.read_end()), 20ms);
        } catch (const unblock::timeout_error&) {
            timed_out = true;
        }
        CHECK(timed_out);
        auto waiter = unblock::create_task([&]() -> task<char> {
            co_await unblock::wait_readable(p.read_end());
            co_return p.take();
        });
        co_await unblock::sleep(1ms);
        p.put('y');
        co_return co_await waiter;
    };
    CHECK(unblock::run(main_task()) == 'y');
}

TEST_CASE("readiness: cancelling a waiting task throws cancelled_error in it",
          "[readiness][cancel]") {
    test_pipe p;
    auto main_task = [&]() -> task<bool> {
        auto waiter = unblock::create_task(
            [&]() -> task<> { co_await unblock::wait_readable(p.read_end()); });
        co_await unblock::sleep(1ms);
        waiter.cancel();
        try {
            co_await waiter;
        } catch (const unblock::cancelled_error&) {
            co_return true;
        }
        co_return false;
    };
    CHECK(unblock::run(main_task()));
}

TEST_CASE("readiness: many fds made ready in reverse order all resume their waiters",
          "[readiness]") {
    constexpr int count = 50;
    std::vector<std::unique_ptr<test_pipe>> pipes;
    for (int i = 0; i != count; ++i)
        pipes.push_back(std::make_unique<test_pipe>());
    auto main_task = [&]() -> task<int> {
        std::vector<unblock::join_handle<int>> waiters;
        for (int i = 0; i != count; ++i) {
            waiters.push_back(unblock::create_task(
                [](test_pipe* pipe, int index) -> task<int> {
                    co_await unblock::wait_readable(pipe->read_end());
                    co_return pipe->take() == static_cast<char>(index) ? 1 : 0;
                },
                pipes[static_cast<std::size_t>(i)].get(), i));
        }
        co_await unblock::to_thread([&] {
            for (int i = count - 1; i >= 0; --i)
                pipes[static_cast<std::size_t>(i)]->put(static_cast<char>(i));
        });
        int matched = 0;
        for (auto& waiter : waiters)
            matched += co_await waiter;
        co_return matched;
    };
    CHECK(unblock::run(main_task()) == count);
}

TEST_CASE("readiness: wait_writable waits for a full socket buffer to drain", "[readiness]") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    std::size_t written = 0;
    const std::vector<char> chunk(4096, 'z');
    while (true) {
        const ssize_t n = ::send(fds[0], chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (n < 0) {
            REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
            break;
        }
        written += static_cast<std::size_t>(n);
    }
    auto main_task = [&]() -> task<bool> {
        auto drain = unblock::create_task(unblock::to_thread([&] {
            std::vector<char> sink(written);
            std::size_t read_total = 0;
            while (read_total < written) {
                const ssize_t n = ::recv(fds[1], sink.data(), sink.size(), 0);
                if (n > 0)
                    read_total += static_cast<std::size_t>(n);
                else if (n < 0 && errno == EAGAIN)
                    std::this_thread::yield();
                else
                    break;
            }
        }));
        co_await unblock::wait_writable(fds[0]);
        const ssize_t n = ::send(fds[0], chunk.data(), 1, MSG_NOSIGNAL);
        co_await drain;
        co_return n == 1;
    };
    CHECK(unblock::run(main_task()));
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST_CASE("readiness: fds epoll cannot watch give io_error saying what to do",
          "[readiness][errors]") {
    auto wait_on = [](int fd) -> task<> { co_await unblock::wait_readable(fd); };
    SECTION("a closed fd") {
        // A high number: the loop's own new fds take the lowest free ones.
        const int closed_fd = 900;
        REQUIRE(::dup2(STDERR_FILENO, closed_fd) == closed_fd);
        ::close(closed_fd);
        CHECK_THROWS_WITH(unblock::run(wait_on(closed_fd)),
                          Catch::Contains("fd 900") && Catch::Contains("not open"));
    }
    SECTION("a negative fd") { CHECK_THROWS_AS(unblock::run(wait_on(-1)), unblock::io_error); }
    SECTION("a regular file") {
        std::FILE* file = std::tmpfile();
        REQUIRE(file != nullptr);
        CHECK_THROWS_WITH(unblock::run(wait_on(::fileno(file))), Catch::Contains("to_thread"));
        std::fclose(file);
    }
}

TEST_CASE("readiness: two waiters on one fd and direction is a clear error",
          "[readiness][errors]") {
    test_pipe p;
    auto main_task = [&]() -> task<std::string> {
        auto first = unblock::create_task(
            [&]() -> task<> { co_await unblock::wait_readable(p.read_end()); });
        co_await unblock::sleep(1ms);
        std::string message;
        try {
            co_await unblock::wait_readable(p.read_end());
        } catch (const unblock::invalid_state_error& e) {
            message = e.what();
        }
        p.put('q');
        co_await first;
        co_return message;
    };
    CHECK_THAT(unblock::run(main_task()), Catch::Contains("already has a reader"));
}

TEST_CASE("readiness: add_reader calls back while readable until remove_reader", "[readiness]") {
    test_pipe p;
    auto main_task = [&]() -> task<std::string> {
        unblock::event_loop& loop = unblock::get_running_loop();
        std::string got;
        unblock::event done;
        loop.add_reader(p.read_end(), [&] {
            got += p.take(); // one byte per call: level-triggered calls again while more is there
            if (got.size() == 3) {
                CHECK(unblock::get_running_loop().remove_reader(p.read_end()));
                done.set();
            }
        });
        co_await unblock::to_thread([&] {
            p.put('a');
            p.put('b');
            p.put('c');
            p.put('d'); // left unread: the reader is gone by then
        });
        co_await done.wait();
        CHECK_FALSE(loop.remove_reader(p.read_end()));
        co_await unblock::sleep(5ms);
        co_return got;
    };
    CHECK(unblock::run(main_task()) == "abc");
}

TEST_CASE("readiness: add_writer and its errors", "[readiness][errors]") {
    test_pipe p;
    auto main_task = [&]() -> task<int> {
        unblock::event_loop& loop = unblock::get_running_loop();
        int calls = 0;
        unblock::event called;
        loop.add_writer(p.write_end(), [&] {
            ++calls;
            loop.remove_writer(p.write_end());
            called.set();
        });
        co_await called.wait();
        CHECK_THROWS_AS(loop.add_reader(-5, [] {}), unblock::io_error);
        CHECK_THROWS_AS(loop.add_reader(p.read_end(), {}), std::invalid_argument);
        co_return calls;
    };
    CHECK(unblock::run(main_task()) == 1);
}

TEST_CASE("readiness: a loop destroyed with readers registered releases them", "[readiness]") {
    test_pipe p;
    {
        unblock::event_loop loop;
        loop.add_reader(p.read_end(), [] {});
        loop.add_writer(p.write_end(), [] {});
    } // ASan reports a leak if the callbacks are not freed
    SUCCEED();
}

TEST_CASE("readiness: an fd closed after a wait and its number reused starts clean",
          "[readiness]") {
    auto main_task = []() -> task<char> {
        int first[2];
        REQUIRE(::pipe2(first, O_CLOEXEC | O_NONBLOCK) == 0);
        char c = 'a';
        REQUIRE(::write(first[1], &c, 1) == 1);
        co_await unblock::wait_readable(first[0]); // the loop keeps its interest lazily
        const int reused = first[0];
        ::close(first[0]); // closed without telling the loop
        ::close(first[1]);
        test_pipe second;
        REQUIRE(::dup2(second.read_end(), reused) == reused); // a new file, the same number
        auto writer = unblock::create_task(unblock::to_thread([&] { second.put('b'); }));
        co_await unblock::wait_readable(reused); // hangs if the stale interest were trusted
        co_await writer;
        REQUIRE(::read(reused, &c, 1) == 1);
        ::close(reused);
        co_return c;
    };
    CHECK(unblock::run(main_task()) == 'b');
}
