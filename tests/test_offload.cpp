#include "support/counted.hpp"

#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using unblock::task;

namespace {

/// A user-written executor: one thread draining a std::function queue.
class single_thread_executor {
public:
    single_thread_executor() : m_thread([this] { drain(); }) {}
    ~single_thread_executor() {
        {
            std::lock_guard lock(m_mutex);
            m_stopping = true;
        }
        m_ready.notify_one();
        m_thread.join();
    }
    void execute(std::function<void()> f) {
        {
            std::lock_guard lock(m_mutex);
            m_queue.push_back(std::move(f));
        }
        m_ready.notify_one();
    }
    [[nodiscard]] std::thread::id thread_id() const { return m_thread.get_id(); }

private:
    void drain() {
        std::unique_lock lock(m_mutex);
        for (;;) {
            m_ready.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
            if (m_queue.empty()) return;
            auto f = std::move(m_queue.front());
            m_queue.pop_front();
            lock.unlock();
            f();
            f = nullptr; // drop our copy before taking the lock again
            lock.lock();
        }
    }

    std::mutex m_mutex;
    std::condition_variable m_ready;
    std::deque<std::function<void()>> m_queue;
    bool m_stopping = false;
    std::thread m_thread;
};

/// Runs the work on the calling thread.
struct inline_executor {
    template <class F>
    void execute(F&& f) {
        f();
    }
};

/// An executor that refuses work.
struct throwing_executor {
    template <class F>
    void execute(F&&) {
        throw std::runtime_error("executor is full");
    }
};

/// An executor that breaks the contract: it drops the work without running it.
struct dropping_executor {
    template <class F>
    void execute(F&& f) {
        auto copy = std::forward<F>(f);
        (void)copy;
    }
};

int add(int a, int b) { return a + b; }

} // namespace

TEST_CASE("to_thread runs the call on another thread and resumes on the loop thread", "[offload]") {
    auto body = []() -> task<> {
        const auto loop_thread = std::this_thread::get_id();
        std::thread::id worker;
        const int sum = co_await unblock::to_thread(
            [&worker](int a, int b) {
                worker = std::this_thread::get_id();
                return a + b;
            },
            2, 3);
        CHECK(sum == 5);
        CHECK(worker != loop_thread);
        CHECK(std::this_thread::get_id() == loop_thread);
        const auto two = co_await unblock::to_thread(add, 1, 1);
        CHECK(two == 2);
        co_await unblock::to_thread([] {}); // void
    };
    unblock::run(body());
}

TEST_CASE("to_thread rethrows the call's exception as the same type", "[offload]") {
    auto body = []() -> task<std::string> {
        try {
            co_await unblock::to_thread([] { throw std::domain_error("bad domain"); });
        } catch (const std::domain_error& e) {
            co_return e.what();
        }
        co_return "nothing thrown";
    };
    CHECK(unblock::run(body()) == "bad domain");
}

TEST_CASE("to_thread is lazy: nothing runs until it is awaited", "[offload]") {
    std::atomic<bool> ran{false};
    auto pool = std::make_shared<unblock::thread_pool_executor>(1);
    auto body = [&]() -> task<> {
        unblock::get_running_loop().set_default_executor(pool);
        {
            auto never_awaited = unblock::to_thread([&] { ran = true; });
            (void)never_awaited;
        }
        co_await unblock::to_thread(
            [] {}); // the pool works, and FIFO: anything queued before has run
    };
    unblock::run(body());
    pool->shutdown(true);
    CHECK_FALSE(ran);
}

// Regression: a second await ran the function again with moved-from arguments.
TEST_CASE("a to_thread awaitable can be awaited once, a second await throws and runs nothing",
          "[offload]") {
    std::vector<std::string> seen;
    auto body = [&]() -> task<> {
        auto call = unblock::to_thread([&](std::string text) { seen.push_back(text); },
                                       std::string("first"));
        co_await call;
        CHECK_THROWS_AS(co_await call, unblock::invalid_state_error);
        CHECK_THROWS_WITH(co_await call, Catch::Contains("already awaited"));
    };
    unblock::run(body());
    CHECK(seen == std::vector<std::string>{"first"});
}

TEST_CASE("to_thread decay-copies arguments, and std::ref passes a reference", "[offload]") {
    auto body = []() -> task<> {
        std::string text = "original";
        auto append = [](std::string& s) { s += "!"; };
        auto copy_taker = [](std::string s) { return s + "?"; };
        auto pending = unblock::to_thread(copy_taker, text); // copied now
        text = "changed";
        const auto echoed = co_await std::move(pending);
        CHECK(echoed == "original?");
        co_await unblock::to_thread(append, std::ref(text));
        CHECK(text == "changed!");
    };
    unblock::run(body());
}

TEST_CASE("create_task(to_thread(...)) runs it as a concurrent task", "[offload]") {
    auto body = []() -> task<> {
        std::latch both(2);
        auto first = unblock::create_task(unblock::to_thread([&] {
            both.arrive_and_wait(); // only returns if the other call runs at the same time
            return 1;
        }));
        auto second = unblock::create_task(unblock::to_thread([&] {
            both.arrive_and_wait();
            return 2;
        }));
        const auto sum = co_await first + co_await second;
        CHECK(sum == 3);
    };
    unblock::run(body());
}

TEST_CASE("to_thread keeps the loop responsive while the call blocks", "[offload]") {
    auto body = []() -> task<> {
        std::latch release(1);
        int ticks = 0;
        auto blocked = unblock::create_task(unblock::to_thread([&] { release.wait(); }));
        for (; ticks < 5; ++ticks)
            co_await unblock::sleep(1ms); // the loop keeps running
        release.count_down();
        co_await blocked;
        CHECK(ticks == 5);
    };
    unblock::run(body());
}

TEST_CASE("cancelling a task whose call is queued withdraws the call: it never runs",
          "[offload][cancel]") {
    auto pool = std::make_shared<unblock::thread_pool_executor>(1);
    std::atomic<bool> queued_ran{false};
    auto body = [&]() -> task<> {
        unblock::get_running_loop().set_default_executor(pool);
        std::latch started(1);
        std::latch release(1);
        auto blocker = unblock::create_task(unblock::to_thread([&] {
            started.count_down();
            release.wait();
        }));
        // Wait (off the loop thread) until the only worker is busy.
        unblock::thread_pool_executor waiter(1);
        co_await unblock::run_in_executor(waiter, [&] { started.wait(); });
        auto queued = unblock::create_task(unblock::to_thread([&] { queued_ran = true; }));
        co_await unblock::sleep(0s); // `queued` submits its call...
        co_await unblock::sleep(0s); // ...which reaches the pool at the end of that iteration
        CHECK(pool->stats().queued == 1);
        queued.cancel();
        CHECK_THROWS_AS(co_await queued,
                        unblock::cancelled_error); // resumes while the worker is still blocked
        CHECK(pool->stats().queued == 0);
        release.count_down();
        co_await blocker;
    };
    unblock::run(body());
    pool->shutdown(true);
    CHECK_FALSE(queued_ran);
}

TEST_CASE(
    "cancelling a task in the iteration it submitted its call withdraws it before the pool sees it",
    "[offload][cancel]") {
    auto pool = std::make_shared<unblock::thread_pool_executor>(1);
    std::atomic<bool> ran{false};
    auto body = [&]() -> task<> {
        unblock::get_running_loop().set_default_executor(pool);
        auto caller = unblock::create_task(unblock::to_thread([&] { ran = true; }));
        co_await unblock::sleep(0s); // `caller` runs first in this iteration and submits its call
        caller.cancel();             // still in the loop's hand-over list
        CHECK_THROWS_AS(co_await caller, unblock::cancelled_error);
        co_await unblock::to_thread(
            [] {}); // FIFO: had the call been queued, it would have run by now
    };
    unblock::run(body());
    CHECK_FALSE(ran);
    CHECK(pool->stats().completed == 1);
}

TEST_CASE("cancelling a running call requests its stop token and resumes only after it returned",
          "[offload][cancel]") {
    auto body = []() -> task<> {
        std::latch started(1);
        std::atomic<bool> returned{false};
        bool returned_before_resume = false;
        auto worker_body = [&]() -> task<> {
            try {
                co_await unblock::to_thread([&](std::stop_token stop) {
                    started.count_down();
                    while (!stop.stop_requested())
                        std::this_thread::yield();
                    returned = true;
                });
            } catch (const unblock::cancelled_error&) {
                returned_before_resume = returned;
                throw;
            }
        };
        auto worker = unblock::create_task(worker_body());
        co_await unblock::to_thread([&] { started.wait(); });
        worker.cancel();
        CHECK_THROWS_AS(co_await worker, unblock::cancelled_error);
        CHECK(returned_before_resume);
    };
    unblock::run(body());
}

TEST_CASE(
    "a cancelled call writing through std::ref into the cancelled frame is not a use after free",
    "[offload][cancel]") {
    // Under AddressSanitizer a frame freed before the write would be reported.
    auto body = []() -> task<> {
        std::latch started(1);
        std::latch release(1);
        int observed = 0;
        auto victim_body = [&]() -> task<> {
            int local = 0;
            try {
                co_await unblock::to_thread(
                    [&](int& target) {
                        started.count_down();
                        release.wait();
                        target = 42; // writes into the coroutine frame
                    },
                    std::ref(local));
            } catch (const unblock::cancelled_error&) {
                observed = local;
                throw;
            }
        };
        auto victim = unblock::create_task(victim_body());
        co_await unblock::to_thread([&] { started.wait(); });
        victim.cancel();
        co_await unblock::sleep(1ms);
        CHECK_FALSE(victim.done()); // cannot finish while the call runs
        release.count_down();
        CHECK_THROWS_AS(co_await victim, unblock::cancelled_error);
        CHECK(observed == 42);
    };
    unblock::run(body());
}

// On a busy machine the call may not have started when the timeout fires:
// then it is withdrawn and never runs. Either way nothing runs on after.
TEST_CASE("wait_for around to_thread cancels the call on timeout", "[offload][cancel]") {
    auto body = []() -> task<> {
        std::atomic<bool> started{false};
        std::atomic<bool> stopped{false};
        CHECK_THROWS_AS(co_await unblock::wait_for(unblock::to_thread([&](std::stop_token stop) {
                                                       started = true;
                                                       while (!stop.stop_requested())
                                                           std::this_thread::yield();
                                                       stopped = true;
                                                   }),
                                                   5ms),
                        unblock::timeout_error);
        CHECK(started == stopped); // withdrawn before it ran, or stopped through its token
    };
    unblock::run(body());
}

TEST_CASE("wait_for around running work requests its stop token on timeout", "[offload][cancel]") {
    std::latch running(1);
    auto body = [&]() -> task<> {
        std::atomic<bool> stopped{false};
        auto work = unblock::run_in_executor(nullptr, [&](std::stop_token stop) {
            running.count_down();
            while (!stop.stop_requested())
                std::this_thread::yield();
            stopped = true;
        });
        co_await unblock::to_thread([&] { running.wait(); });
        CHECK_THROWS_AS(co_await unblock::wait_for(std::move(work), 5ms), unblock::timeout_error);
        CHECK(stopped);
    };
    unblock::run(body());
}

TEST_CASE("run_in_executor starts the work at once, and a dropped future does not stop it",
          "[offload][future]") {
    auto body = []() -> task<> {
        std::latch ran(1);
        {
            auto dropped = unblock::run_in_executor(nullptr, [&] { ran.count_down(); });
        }
        co_await unblock::to_thread([&] { ran.wait(); }); // returns only if the dropped work ran
        auto& loop = unblock::get_running_loop();
        auto f = loop.run_in_executor(nullptr, add, 20, 22);
        const auto sum = co_await f;
        CHECK(sum == 42);
        CHECK(f.done());
        CHECK_FALSE(f.cancelled());
    };
    unblock::run(body());
}

TEST_CASE("future::result before completion is an error, not a deadlock", "[offload][future]") {
    auto body = []() -> task<> {
        std::latch release(1);
        auto f = unblock::run_in_executor(nullptr, [&] {
            release.wait();
            return 1;
        });
        CHECK_THROWS_WITH(f.result(), Catch::Contains("co_await the future instead"));
        release.count_down();
        const auto value = co_await f;
        CHECK(value == 1);
        CHECK_THROWS_AS(co_await f, unblock::invalid_state_error); // awaited once
    };
    unblock::run(body());
}

TEST_CASE("future::cancel withdraws queued work at once and stops running work",
          "[offload][future][cancel]") {
    unblock::thread_pool_executor pool(1);
    std::atomic<bool> queued_ran{false};
    auto body = [&]() -> task<> {
        std::latch started(1);
        auto running = unblock::run_in_executor(pool, [&](std::stop_token stop) {
            started.count_down();
            while (!stop.stop_requested())
                std::this_thread::yield();
            return 1;
        });
        co_await unblock::to_thread([&] { started.wait(); });
        auto queued = unblock::run_in_executor(pool, [&] { queued_ran = true; });
        CHECK(queued.cancel());
        CHECK(queued.cancelled()); // at once: it was only queued
        CHECK(queued.done());
        CHECK_THROWS_AS(co_await queued, unblock::cancelled_error);

        CHECK(running.cancel());
        CHECK_FALSE(running.done()); // becomes cancelled when the callable returns
        CHECK_THROWS_AS(co_await running, unblock::cancelled_error);
        CHECK(running.cancelled());
        CHECK_FALSE(running.cancel());
    };
    unblock::run(body());
    pool.shutdown(true);
    CHECK_FALSE(queued_ran);
}

TEST_CASE("cancelling the task that awaits a future cancels the future",
          "[offload][future][cancel]") {
    auto body = []() -> task<> {
        std::atomic<bool> stop_seen{false};
        std::latch started(1);
        auto f = unblock::run_in_executor(nullptr, [&](std::stop_token stop) {
            started.count_down();
            while (!stop.stop_requested())
                std::this_thread::yield();
            stop_seen = true;
        });
        auto waiter_body = [&]() -> task<> { co_await f; };
        auto waiter = unblock::create_task(waiter_body());
        co_await unblock::to_thread([&] { started.wait(); });
        waiter.cancel();
        CHECK_THROWS_AS(co_await waiter, unblock::cancelled_error);
        CHECK(stop_seen);
        CHECK(f.cancelled());
    };
    unblock::run(body());
}

TEST_CASE("run_in_executor works with user-written executors", "[offload][executor]") {
    SECTION("a single-thread executor") {
        single_thread_executor executor;
        auto body = [&]() -> task<> {
            const auto loop_thread = std::this_thread::get_id();
            auto f = unblock::run_in_executor(executor, [] { return std::this_thread::get_id(); });
            const auto ran_on = co_await f;
            CHECK(ran_on == executor.thread_id());
            CHECK(std::this_thread::get_id() == loop_thread);
            auto by_pointer = unblock::run_in_executor(&executor, add, 1, 2);
            const auto sum = co_await by_pointer;
            CHECK(sum == 3);
        };
        unblock::run(body());
    }
    SECTION("an inline executor completes synchronously") {
        inline_executor executor;
        auto body = [&]() -> task<> {
            auto f = unblock::run_in_executor(executor, add, 3, 4);
            CHECK(f.done());
            const auto sum = co_await f;
            CHECK(sum == 7);
        };
        unblock::run(body());
    }
    SECTION("an executor whose execute throws: the caller gets that exception") {
        throwing_executor executor;
        auto body = [&]() -> task<> {
            CHECK_THROWS_WITH(unblock::run_in_executor(executor, add, 1, 1), "executor is full");
            co_return;
        };
        unblock::run(body());
    }
    SECTION("an executor that drops the work: broken_executor_error, not a hang") {
        dropping_executor executor;
        auto body = [&]() -> task<> {
            auto f = unblock::run_in_executor(executor, add, 1, 1);
            CHECK_THROWS_WITH(co_await f, Catch::Contains("destroyed the work without running it"));
        };
        unblock::run(body());
    }
}

TEST_CASE("to_thread after shutdown_default_executor says why it fails", "[offload]") {
    auto body = []() -> task<> {
        co_await unblock::to_thread([] {});
        co_await unblock::get_running_loop().shutdown_default_executor();
        CHECK_THROWS_WITH(co_await unblock::to_thread([] {}),
                          Catch::Contains("shutdown_default_executor"));
        CHECK_THROWS_AS(co_await unblock::to_thread([] {}), unblock::executor_shutdown_error);
    };
    unblock::run(body());
}

TEST_CASE("run() waits for the default executor's threads at exit", "[offload]") {
    auto pool = std::make_shared<unblock::thread_pool_executor>(2);
    auto body = [&]() -> task<> {
        unblock::get_running_loop().set_default_executor(pool);
        co_await unblock::to_thread([] {});
    };
    unblock::run(body());
    const auto stats = pool->stats();
    CHECK(stats.threads == 0);
    CHECK_THROWS_AS(pool->submit([] {}), unblock::executor_shutdown_error);
}

TEST_CASE("many concurrent offloads all complete on the loop thread", "[offload][stress]") {
    auto body = []() -> task<long> {
        const auto loop_thread = std::this_thread::get_id();
        std::vector<task<int>> tasks;
        for (int i = 0; i < 20'000; ++i) {
            tasks.push_back([](int v, std::thread::id expected) -> task<int> {
                const int r = co_await unblock::to_thread([v] { return v; });
                if (std::this_thread::get_id() != expected)
                    throw std::logic_error("resumed off the loop thread");
                co_return r;
            }(i, loop_thread));
        }
        long sum = 0;
        for (int v : co_await unblock::gather(std::move(tasks)))
            sum += v;
        co_return sum;
    };
    CHECK(unblock::run(body()) == 20'000L * 19'999 / 2);
}

TEST_CASE("offloaded values are destroyed exactly once", "[offload]") {
    unblock::test::counted::reset();
    auto body = []() -> task<int> {
        unblock::test::counted argument(5);
        auto result = co_await unblock::to_thread(
            [](unblock::test::counted c) { return unblock::test::counted(c.value() + 1); },
            argument);
        co_return result.value();
    };
    CHECK(unblock::run(body()) == 6);
    CHECK(unblock::test::counted::alive() == 0);
}

TEST_CASE("replacing the default executor in the iteration a call was submitted is safe",
          "[offload]") {
    auto body = []() -> task<> {
        auto caller = unblock::create_task(unblock::to_thread([] { return 3; }));
        auto replacer_body = []() -> task<> {
            unblock::get_running_loop().set_default_executor(
                std::make_shared<unblock::thread_pool_executor>(1));
            co_return;
        };
        auto replacer = unblock::create_task(replacer_body()); // runs right after `caller` submits
        co_await replacer;
        const int value = co_await caller;
        CHECK(value == 3);
    };
    unblock::run(body());
}

TEST_CASE("to_thread calls of one loop iteration wake every sleeping worker", "[offload]") {
    // Eight calls that can only finish together: each waits (up to 10 s) for
    // all eight to be running. The second round finds eight sleeping workers,
    // which the loop's one post_batch must wake (it notifies after unlocking).
    constexpr int calls = 8;
    unblock::thread_pool_executor::options settings;
    settings.max_workers = calls;
    settings.idle_spin = 0ms; // idle workers go straight to sleep
    auto pool = std::make_shared<unblock::thread_pool_executor>(settings);
    std::mutex mutex;
    std::condition_variable all_running;
    int running = 0;
    auto rendezvous = [&] {
        std::unique_lock lock(mutex);
        if (++running == calls) all_running.notify_all();
        return all_running.wait_for(lock, 10s, [&] { return running >= calls; });
    };
    auto round = [&]() -> task<int> {
        running = 0;
        std::vector<task<bool>> work;
        for (int i = 0; i < calls; ++i)
            work.push_back([](auto& f) -> task<bool> {
                co_return co_await unblock::to_thread(f);
            }(rendezvous));
        const std::vector<bool> met = co_await unblock::gather(std::move(work));
        co_return static_cast<int>(std::count(met.begin(), met.end(), true));
    };
    auto body = [&]() -> task<std::vector<int>> {
        unblock::get_running_loop().set_default_executor(pool);
        const int first = co_await round(); // starts the eight threads
        for (int i = 0; i < 5000 && pool->stats().idle < calls; ++i)
            co_await unblock::sleep(1ms); // until all eight are back to waiting
        const int second = co_await round();
        const int threads = static_cast<int>(pool->stats().threads); // no new ones started
        co_return std::vector<int>{first, second, threads};
    };
    CHECK(unblock::run(body()) == std::vector<int>{calls, calls, calls});
}

TEST_CASE("work submitted before the pool is shut down from the loop thread still runs",
          "[offload][shutdown]") {
    // Submissions made during a loop iteration reach the pool together at its
    // end; a shutdown from the loop thread hands them over first, so the pool
    // sees them in the order they were made, as concurrent.futures would.
    auto body = []() -> task<int> {
        unblock::thread_pool_executor pool(1);
        auto submitted = unblock::run_in_executor(pool, [] { return 7; });
        pool.shutdown(false);
        CHECK_THROWS_AS(unblock::run_in_executor(pool, [] { return 8; }),
                        unblock::executor_shutdown_error);
        const int value = co_await submitted;
        co_return value;
    };
    CHECK(unblock::run(body()) == 7);
}

namespace {

/// Runs the work inline and counts the calls of execute().
struct counting_executor {
    int executed = 0;
    template <class F>
    void execute(F&& f) {
        ++executed;
        f();
    }
};

/// Keeps the work until the test runs it.
struct manual_executor {
    std::vector<std::function<void()>> work;
    void execute(std::function<void()> f) { work.push_back(std::move(f)); }
    void run_all() {
        auto taken = std::move(work);
        work.clear();
        for (auto& f : taken)
            f();
    }
};

/// The exception a task ended with: "cancelled", the what() of another, or "none".
template <class T>
task<std::string> outcome_of(unblock::join_handle<T>& handle) {
    try {
        co_await handle;
    } catch (const unblock::cancelled_error&) {
        co_return "cancelled";
    } catch (const std::exception& e) {
        co_return e.what();
    }
    co_return "none";
}

} // namespace

TEST_CASE("to_thread(executor, f, args...) is lazy: nothing is submitted until it is awaited",
          "[offload][executor]") {
    unblock::thread_pool_executor pool(1);
    counting_executor counting;
    auto body = [&]() -> task<> {
        std::atomic<int> ran{0};
        auto on_pool = unblock::to_thread(
            pool, [&](int x) { ran += x; }, 1);
        auto on_user = unblock::to_thread(
            counting, [&](int x) { ran += x; }, 10);
        co_await unblock::sleep(1ms); // a loop turn or two: still nothing
        CHECK(ran == 0);
        CHECK(counting.executed == 0);
        const auto before = pool.stats();
        CHECK(before.queued == 0);
        CHECK(before.completed == 0);
        co_await on_pool;
        CHECK(ran == 1);
        CHECK(pool.stats().completed == 1);
        co_await std::move(on_user);
        CHECK(ran == 11);
        CHECK(counting.executed == 1);
        // A dropped awaitable never runs.
        {
            auto dropped = unblock::to_thread(pool, [&] { ran = -1; });
            (void)dropped;
        }
        co_await unblock::to_thread(pool, [] {}); // FIFO on one worker
        CHECK(ran == 11);
    };
    unblock::run(body());
}

TEST_CASE("to_thread(executor, f, args...) returns the result on the loop thread and rethrows",
          "[offload][executor]") {
    unblock::thread_pool_executor pool(1);
    single_thread_executor single;
    auto body = [&]() -> task<> {
        const auto loop_thread = std::this_thread::get_id();
        const auto pool_thread =
            co_await unblock::to_thread(pool, [] { return std::this_thread::get_id(); });
        CHECK(pool_thread != loop_thread);
        CHECK(std::this_thread::get_id() == loop_thread);
        const int sum = co_await unblock::to_thread(pool, add, 20, 22);
        CHECK(sum == 42);
        const auto single_thread =
            co_await unblock::to_thread(single, [] { return std::this_thread::get_id(); });
        CHECK(single_thread == single.thread_id());
        CHECK(std::this_thread::get_id() == loop_thread);
        const int user_sum = co_await unblock::to_thread(single, add, 1, 2);
        CHECK(user_sum == 3);

        auto failing = unblock::create_task(
            unblock::to_thread(pool, []() -> int { throw std::invalid_argument("bad pool"); }));
        auto failing_user = unblock::create_task(
            unblock::to_thread(single, []() -> int { throw std::invalid_argument("bad user"); }));
        const std::string pool_error = co_await outcome_of(failing);
        const std::string user_error = co_await outcome_of(failing_user);
        CHECK(pool_error == "bad pool");
        CHECK(user_error == "bad user");

        auto twice = unblock::to_thread(pool, [] {});
        co_await twice;
        bool second_await_refused = false;
        try {
            co_await twice;
        } catch (const unblock::invalid_state_error&) {
            second_await_refused = true;
        }
        CHECK(second_await_refused);
    };
    unblock::run(body());
}

TEST_CASE("cancelling to_thread(executor, ...) withdraws queued work and stops running work",
          "[offload][executor][cancel]") {
    unblock::thread_pool_executor pool(1);
    std::atomic<bool> queued_ran{false};
    auto body = [&]() -> task<> {
        std::latch started(1);
        std::latch release(1);
        auto blocker = unblock::create_task(unblock::to_thread(pool, [&] {
            started.count_down();
            release.wait();
        }));
        co_await unblock::to_thread([&] { started.wait(); }); // the only worker is busy
        auto queued = unblock::create_task(unblock::to_thread(pool, [&] { queued_ran = true; }));
        co_await unblock::sleep(0s); // `queued` submits its call...
        co_await unblock::sleep(0s); // ...which reaches the pool at the end of that iteration
        CHECK(pool.stats().queued == 1);
        queued.cancel();
        const std::string queued_outcome = co_await outcome_of(queued);
        CHECK(queued_outcome == "cancelled");
        CHECK(pool.stats().queued == 0);
        release.count_down();
        co_await blocker;

        // Running work: its stop token is requested; the task resumes after it returned.
        std::latch running(1);
        std::atomic<bool> returned{false};
        auto stoppable = unblock::create_task(unblock::to_thread(pool, [&](std::stop_token stop) {
            running.count_down();
            while (!stop.stop_requested())
                std::this_thread::yield();
            returned = true;
        }));
        co_await unblock::to_thread([&] { running.wait(); });
        stoppable.cancel();
        const std::string stopped = co_await outcome_of(stoppable);
        CHECK(stopped == "cancelled");
        CHECK(returned);

        // Any executor: the stop token is requested; the cancel wins over the result.
        manual_executor manual;
        auto held = unblock::create_task(
            unblock::to_thread(manual, [](std::stop_token stop) { return stop.stop_requested(); }));
        co_await unblock::sleep(0s);
        CHECK(manual.work.size() == 1);
        held.cancel();
        manual.run_all();
        const std::string held_outcome = co_await outcome_of(held);
        CHECK(held_outcome == "cancelled");

        // A cancel that comes before the await is delivered once it suspends
        // (cancellable_wait's policy): the work is stopped the same way.
        std::atomic<bool> saw_stop{false};
        auto early = unblock::create_task(unblock::to_thread(manual, [&](std::stop_token stop) {
            saw_stop = stop.stop_requested();
        }));
        early.cancel();
        co_await unblock::sleep(0s);
        manual.run_all();
        CHECK(saw_stop);
        const std::string early_outcome = co_await outcome_of(early);
        CHECK(early_outcome == "cancelled");
    };
    unblock::run(body());
    CHECK_FALSE(queued_ran);
}
