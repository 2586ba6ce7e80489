// thread_pool_executor across fork() and when threads cannot be created. Each
// scenario runs in a plain fork()ed child that reports through its exit status;
// the parent waits for it with a bound, so a hang fails instead of blocking.
#include <catch2/catch.hpp>
#include <unblock/thread_pool.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <exception>
#include <functional>
#include <future>
#include <latch>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#if defined(UNBLOCK_SANITIZER_THREAD)
// TSan refuses by default to start threads in the child of a multithreaded
// fork; these tests are about exactly that, and the child runs nothing else.
extern "C" const char* __tsan_default_options() { return "die_after_fork=0"; }
#endif

using namespace std::chrono_literals;
using unblock::thread_pool_executor;

namespace {

constexpr int child_timed_out = -1;
constexpr int child_threw = 100;
constexpr int child_skipped = 99;

/// Runs `body` in a fork()ed child, which exits with its result (100 if it
/// threw); returns that exit code, or `child_timed_out` (the child is killed)
/// if it did not exit within `limit`, or 128 + signal if a signal ended it.
int run_in_child(const std::function<int()>& body, std::chrono::seconds limit = 20s) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int code = child_threw;
        try {
            code = body();
        } catch (...) {
        }
        ::_exit(code); // no atexit handlers or static destructors of the parent's copy
    }
    const auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    for (;;) {
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        REQUIRE(done >= 0);
        if (done == pid) break;
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return child_timed_out;
        }
        std::this_thread::sleep_for(1ms); // no portable bounded wait for a child
    }
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/// Makes every later thread creation of this (child) process fail with EAGAIN,
/// as a full RLIMIT_NPROC does: limit 0, and if root (which the limit does not
/// bind) become `nobody`. Returns false if that is not possible here.
bool forbid_new_threads() {
    const rlimit none{0, 0};
    if (::setrlimit(RLIMIT_NPROC, &none) != 0) return false;
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) return false;
    return true;
}

std::atomic<bool> g_parent_item_ran{false};

} // namespace

TEST_CASE("a pool copied into a fork()ed child starts fresh threads there", "[thread_pool][fork]") {
    auto pool = std::make_unique<thread_pool_executor>(1);
    pool->submit([] {}).get(); // its worker exists at the fork

    // At the fork the only worker is busy and an item waits in the queue: the
    // child's copy must neither count that worker nor run the parent's item.
    std::latch started(1);
    std::latch release(1);
    auto busy = pool->submit([&] {
        started.count_down();
        release.wait();
    });
    started.wait();
    g_parent_item_ran = false;
    auto queued = pool->submit([] { g_parent_item_ran = true; });

    const int code = run_in_child([&] {
        if (pool->submit([] { return 42; }).get() != 42) return 1;
        if (pool->stats().threads != 1) return 2;
        pool->shutdown(true); // would run the parent's queued item if the copy kept it
        if (g_parent_item_ran) return 3;
        pool.reset(); // the destructor joins the child's threads only
        return 0;
    });
    release.count_down();
    busy.get();
    queued.get();
    CHECK(g_parent_item_ran);
    CHECK(code == 0);                                 // -1: the child hung
    CHECK(pool->submit([] { return 7; }).get() == 7); // the parent's pool is unaffected
}

TEST_CASE("a pool whose worker was idle at the fork works in the child", "[thread_pool][fork]") {
    thread_pool_executor pool(2);
    for (int i = 0; i < 3; ++i)
        pool.submit([] {}).get();
    const int code = run_in_child([&] {
        std::vector<std::future<int>> results;
        for (int i = 0; i < 4; ++i)
            results.push_back(pool.submit([i] { return i; }));
        for (int i = 0; i < 4; ++i)
            if (results[static_cast<std::size_t>(i)].get() != i) return 1;
        pool.shutdown(true);
        return 0;
    });
    CHECK(code == 0);
}

TEST_CASE("a thread that cannot start is reported with the pool's name and what to do",
          "[thread_pool][fork]") {
    const int code = run_in_child([] {
        if (!forbid_new_threads()) return child_skipped;
        thread_pool_executor::options settings;
        settings.max_workers = 4;
        settings.thread_name_prefix = "imgdecode";
        thread_pool_executor pool(settings);
        try {
            pool.submit([] {}).get();
            return 1; // started a thread despite the limit?
        } catch (const std::system_error& e) {
            const std::string what = e.what();
            if (e.code() != std::errc::resource_unavailable_try_again) return 2;
            if (what.find("imgdecode") == std::string::npos) return 3;
            if (what.find("0 threads") == std::string::npos) return 4;
            if (what.find("max_workers") == std::string::npos) return 5;
            if (what.find("RLIMIT_NPROC") == std::string::npos) return 6;
        }
        if (pool.stats().threads != 0 || pool.stats().queued != 0) return 7;
        return 0;
    });
    if (code == child_skipped)
        WARN("cannot limit thread creation here (setrlimit/setuid refused)");
    else
        CHECK(code == 0);
}

TEST_CASE("when no more threads can start, work runs on the threads the pool has",
          "[thread_pool][fork]") {
    const int code = run_in_child([] {
        thread_pool_executor pool(4);
        std::latch started(1);
        std::latch release(1);
        auto busy = pool.submit([&] {
            started.count_down();
            release.wait();
        });
        started.wait();
        if (!forbid_new_threads()) return child_skipped;
        std::vector<std::future<int>> more;
        for (int i = 0; i < 3; ++i)
            more.push_back(pool.submit([i] { return i; })); // must not throw: a worker exists
        if (pool.stats().threads != 1) return 1;
        if (pool.stats().thread_start_failures == 0) return 2;
        release.count_down();
        busy.get();
        for (int i = 0; i < 3; ++i)
            if (more[static_cast<std::size_t>(i)].get() != i) return 3;
        return 0;
    });
    if (code == child_skipped)
        WARN("cannot limit thread creation here (setrlimit/setuid refused)");
    else
        CHECK(code == 0);
}

TEST_CASE("a child fork()ed inside a worker that returns into the pool exits, with a message",
          "[thread_pool][fork]") {
    thread_pool_executor pool(1);
    // The child is a copy of this worker; when the call returns there, it
    // would go on as a worker of a pool whose threads the child does not have.
    const pid_t pid = pool.submit([] { return ::fork(); }).get();
    REQUIRE(pid >= 0);
    if (pid == 0) ::_exit(50); // unreachable: the child's copy of the worker never returns here
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            FAIL("the child fork()ed in a worker hung");
        }
        std::this_thread::sleep_for(1ms);
    }
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == EXIT_FAILURE);
    CHECK(pool.submit([] { return 1; }).get() == 1);
}
