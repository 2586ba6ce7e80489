// Synchronisation on the loop: semaphore, bounded_semaphore, lock, event,
// capacity_limiter. Normal use, first-in first-out order, misuse, and the
// cancellation policy at the three moments a cancel can arrive (see
// test_cancellation.cpp): (a) pending before the await suspends, (b) while it
// waits, (c) after it was granted, before it resumed — then what it was
// granted goes to the next waiter. No sleeps: `sleep(0s)` only yields a turn
// so that tasks created before it reach their await.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using unblock::task;

namespace {

/// Awaits `handle`; returns whether it ended with cancelled_error.
template <class Value>
task<bool> ends_cancelled(unblock::join_handle<Value>& handle) {
    try {
        co_await handle;
    } catch (const unblock::cancelled_error&) {
        co_return true;
    }
    co_return false;
}

/// Lets every task scheduled so far run up to its next suspension.
task<> let_others_run() {
    co_await unblock::sleep(0s);
    co_await unblock::sleep(0s);
}

/// Calls `use` on another thread; returns the what() of the invalid_state_error it threw, or "".
template <class Use>
std::string misuse_from_other_thread(Use use) {
    std::string message;
    std::thread other([&] {
        try {
            use();
        } catch (const unblock::invalid_state_error& e) {
            message = e.what();
        }
    });
    other.join();
    return message;
}

} // namespace

// --- semaphore ------------------------------------------------------------------

TEST_CASE("semaphore counts permits and locked() says when acquire would wait", "[sync]") {
    auto body = []() -> task<> {
        unblock::semaphore slots(2);
        CHECK_FALSE(slots.locked());
        co_await slots.acquire();
        co_await slots.acquire();
        CHECK(slots.locked());
        CHECK(slots.value() == 0);
        slots.release();
        CHECK(slots.value() == 1);
        {
            auto guard = co_await slots.scoped();
            CHECK(slots.locked());
        }
        CHECK(slots.value() == 1);
        slots.release(); // an unbounded semaphore may go above its start
        CHECK(slots.value() == 2);
    };
    unblock::run(body());
}

TEST_CASE("semaphore serves waiters first-in first-out", "[sync]") {
    auto body = []() -> task<> {
        unblock::semaphore slots(0);
        std::vector<int> order;
        auto waiter = [&](int id) -> task<> {
            co_await slots.acquire();
            order.push_back(id);
        };
        std::vector<unblock::join_handle<void>> handles;
        for (int id = 0; id < 5; ++id)
            handles.push_back(unblock::create_task(waiter(id)));
        co_await let_others_run();
        CHECK(order.empty());
        // A newcomer finding waiters queues behind them even once a permit is free.
        slots.release();
        auto late = unblock::create_task(waiter(99));
        for (int i = 0; i < 4; ++i)
            slots.release();
        for (auto& handle : handles)
            co_await handle;
        slots.release();
        co_await late;
        CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 99});
    };
    unblock::run(body());
}

TEST_CASE("semaphore (a): a cancel pending before acquire suspends throws and takes no permit",
          "[sync][cancel]") {
    auto body = []() -> task<> {
        unblock::semaphore slots(0);
        auto acquirer = [&]() -> task<> { co_await slots.acquire(); };
        auto handle = unblock::create_task(acquirer());
        handle.cancel(); // not started: the cancel waits for the first suspension
        const bool cancelled = co_await ends_cancelled(handle);
        CHECK(cancelled);
        slots.release();
        CHECK(slots.value() == 1); // nobody queued took it
    };
    unblock::run(body());
}

TEST_CASE("semaphore (b): a waiter cancelled while waiting leaves the queue", "[sync][cancel]") {
    auto body = []() -> task<> {
        unblock::semaphore slots(0);
        int acquired = 0;
        auto acquirer = [&]() -> task<> {
            co_await slots.acquire();
            ++acquired;
        };
        auto first = unblock::create_task(acquirer());
        auto second = unblock::create_task(acquirer());
        co_await let_others_run();
        first.cancel();
        const bool cancelled = co_await ends_cancelled(first);
        CHECK(cancelled);
        slots.release(); // goes to the second, not to the cancelled first
        co_await second;
        CHECK(acquired == 1);
        CHECK(slots.value() == 0);
    };
    unblock::run(body());
}

TEST_CASE("semaphore (c): a permit granted to a waiter cancelled before it resumed goes to the "
          "next waiter",
          "[sync][cancel]") {
    auto body = []() -> task<> {
        unblock::semaphore slots(0);
        int acquired = 0;
        auto acquirer = [&]() -> task<> {
            co_await slots.acquire();
            ++acquired;
        };
        auto first = unblock::create_task(acquirer());
        auto second = unblock::create_task(acquirer());
        co_await let_others_run();
        slots.release(); // granted to the first, which has not resumed yet...
        first.cancel();  // ...and is cancelled in the same iteration: the cancel wins
        const bool cancelled = co_await ends_cancelled(first);
        CHECK(cancelled);
        co_await second; // the permit was passed on
        CHECK(acquired == 1);
        CHECK(slots.value() == 0);
    };
    unblock::run(body());
}

TEST_CASE("bounded_semaphore refuses a release above its initial value", "[sync]") {
    auto body = []() -> task<> {
        unblock::bounded_semaphore slots(2);
        co_await slots.acquire();
        slots.release();
        try {
            slots.release();
            FAIL("release above the bound did not throw");
        } catch (const unblock::invalid_state_error& e) {
            const std::string message = e.what();
            CHECK(message.find("released more often than acquired") != std::string::npos);
            CHECK(message.find("scoped()") != std::string::npos);
        }
        CHECK(slots.value() == 2);
    };
    unblock::run(body());
}

TEST_CASE("a semaphore used from another thread or another loop throws invalid_state_error",
          "[sync]") {
    unblock::semaphore slots(1);
    auto use = [&]() -> task<> {
        co_await slots.acquire();
        slots.release();
    };
    unblock::event_loop first;
    first.run_until_complete(use());
    const std::string from_thread = misuse_from_other_thread([&] { slots.release(); });
    CHECK(from_thread.find("no event loop runs on this thread") != std::string::npos);
    unblock::event_loop second;
    try {
        second.run_until_complete(use());
        FAIL("a semaphore bound to another loop was used");
    } catch (const unblock::invalid_state_error& e) {
        const std::string message = e.what();
        CHECK(message.find("belongs to another event loop") != std::string::npos);
    }
}

// --- lock -----------------------------------------------------------------------

TEST_CASE("lock: acquire, release, and scoped() releases at the end of the scope", "[sync]") {
    auto body = []() -> task<> {
        unblock::lock mutex;
        CHECK_FALSE(mutex.locked());
        co_await mutex.acquire();
        CHECK(mutex.locked());
        mutex.release();
        CHECK_FALSE(mutex.locked());
        {
            auto guard = co_await mutex.scoped();
            CHECK(mutex.locked());
            CHECK(guard.owns_permit());
        }
        CHECK_FALSE(mutex.locked());
        auto throws_inside = [&]() -> task<> {
            auto guard = co_await mutex.scoped();
            throw std::runtime_error("inside");
        };
        bool threw = false;
        try {
            co_await throws_inside();
        } catch (const std::runtime_error&) {
            threw = true;
        }
        CHECK(threw);
        CHECK_FALSE(mutex.locked()); // the guard released it on the way out
    };
    unblock::run(body());
}

TEST_CASE("lock excludes and hands over first-in first-out", "[sync]") {
    auto body = []() -> task<> {
        unblock::lock mutex;
        std::vector<int> order;
        int inside = 0;
        int most_inside = 0;
        auto worker = [&](int id) -> task<> {
            auto guard = co_await mutex.scoped();
            most_inside = std::max(most_inside, ++inside);
            co_await unblock::sleep(0s); // yield while holding it
            order.push_back(id);
            --inside;
        };
        co_await mutex.acquire();
        std::vector<unblock::join_handle<void>> handles;
        for (int id = 0; id < 5; ++id)
            handles.push_back(unblock::create_task(worker(id)));
        co_await let_others_run();
        mutex.release();
        for (auto& handle : handles)
            co_await handle;
        CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
        CHECK(most_inside == 1);
        CHECK_FALSE(mutex.locked());
    };
    unblock::run(body());
}

TEST_CASE("lock (c): a lock handed to a waiter cancelled before it resumed goes to the next",
          "[sync][cancel]") {
    auto body = []() -> task<> {
        unblock::lock mutex;
        int got_it = 0;
        auto taker = [&]() -> task<> {
            co_await mutex.acquire();
            ++got_it;
            mutex.release();
        };
        co_await mutex.acquire();
        auto first = unblock::create_task(taker());
        auto second = unblock::create_task(taker());
        co_await let_others_run();
        mutex.release(); // handed to the first...
        first.cancel();  // ...cancelled before it resumed
        const bool cancelled = co_await ends_cancelled(first);
        CHECK(cancelled);
        co_await second;
        CHECK(got_it == 1);
        CHECK_FALSE(mutex.locked());
    };
    unblock::run(body());
}

TEST_CASE("lock (a) and (b): a cancelled waiter never holds the lock", "[sync][cancel]") {
    auto body = []() -> task<> {
        unblock::lock mutex;
        auto taker = [&]() -> task<> { co_await mutex.acquire(); };
        co_await mutex.acquire();
        auto pending = unblock::create_task(taker());
        pending.cancel(); // (a): before it first suspends
        auto waiting = unblock::create_task(taker());
        co_await let_others_run();
        waiting.cancel(); // (b): while it waits
        const bool pending_cancelled = co_await ends_cancelled(pending);
        const bool waiting_cancelled = co_await ends_cancelled(waiting);
        CHECK(pending_cancelled);
        CHECK(waiting_cancelled);
        mutex.release();
        CHECK_FALSE(mutex.locked()); // nobody was left in the queue to take it
    };
    unblock::run(body());
}

TEST_CASE("releasing an unlocked lock throws invalid_state_error", "[sync]") {
    auto body = []() -> task<> {
        unblock::lock mutex;
        co_await mutex.acquire();
        mutex.release();
        CHECK_THROWS_AS(mutex.release(), unblock::invalid_state_error);
        CHECK_THROWS_WITH(mutex.release(), Catch::Contains("the lock is not locked"));
    };
    unblock::run(body());
}

// --- event ----------------------------------------------------------------------

TEST_CASE("event: set wakes every waiter in order, wait on a set event returns at once", "[sync]") {
    auto body = []() -> task<> {
        unblock::event ready;
        std::vector<int> order;
        auto waiter = [&](int id) -> task<> {
            co_await ready.wait();
            order.push_back(id);
        };
        std::vector<unblock::join_handle<void>> handles;
        for (int id = 0; id < 4; ++id)
            handles.push_back(unblock::create_task(waiter(id)));
        co_await let_others_run();
        CHECK(order.empty());
        CHECK_FALSE(ready.is_set());
        ready.set();
        CHECK(ready.is_set());
        for (auto& handle : handles)
            co_await handle;
        CHECK(order == std::vector<int>{0, 1, 2, 3});
        co_await ready.wait(); // set: no wait
        ready.clear();
        CHECK_FALSE(ready.is_set());
        auto late = unblock::create_task(waiter(9));
        co_await let_others_run();
        CHECK(order.size() == 4); // waits for the next set()
        ready.set();
        co_await late;
        CHECK(order.back() == 9);
    };
    unblock::run(body());
}

TEST_CASE("event (a), (b), (c): a cancelled waiter throws, the others are still woken",
          "[sync][cancel]") {
    auto body = []() -> task<> {
        unblock::event ready;
        int woken = 0;
        auto waiter = [&]() -> task<> {
            co_await ready.wait();
            ++woken;
        };
        auto pending = unblock::create_task(waiter());
        pending.cancel(); // (a)
        auto waiting = unblock::create_task(waiter());
        auto granted = unblock::create_task(waiter());
        auto survivor = unblock::create_task(waiter());
        co_await let_others_run();
        waiting.cancel(); // (b)
        ready.set();
        granted.cancel(); // (c): woken but not resumed yet
        const bool pending_cancelled = co_await ends_cancelled(pending);
        const bool waiting_cancelled = co_await ends_cancelled(waiting);
        const bool granted_cancelled = co_await ends_cancelled(granted);
        CHECK(pending_cancelled);
        CHECK(waiting_cancelled);
        CHECK(granted_cancelled);
        co_await survivor;
        CHECK(woken == 1);
    };
    unblock::run(body());
}

TEST_CASE("event::set from another thread throws invalid_state_error", "[sync]") {
    auto body = []() -> task<> {
        unblock::event ready;
        ready.set(); // binds it to this loop
        co_await ready.wait();
        ready.clear();
        const std::string message = co_await unblock::to_thread([&] {
            try {
                ready.set();
            } catch (const unblock::invalid_state_error& e) {
                return std::string(e.what());
            }
            return std::string();
        });
        CHECK(message.find("unblock::event::set()") != std::string::npos);
        CHECK_FALSE(ready.is_set());
    };
    unblock::run(body());
}

// --- capacity_limiter -----------------------------------------------------------

TEST_CASE("capacity_limiter of 8 around 1000 to_thread calls: never more than 8 run at once",
          "[sync]") {
    unblock::capacity_limiter limiter(8);
    std::atomic<int> running{0};
    std::atomic<int> most_running{0};
    std::atomic<int> completed{0};
    auto call = [&](int value) {
        // relaxed would do for the count; seq_cst keeps the max check simple to read
        const int now = ++running;
        int seen = most_running.load();
        while (now > seen && !most_running.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::yield();
        --running;
        ++completed;
        return value;
    };
    auto body = [&]() -> task<long> {
        // More workers than tokens, so that the limiter (not the pool) is the bound.
        unblock::get_running_loop().set_default_executor(
            std::make_shared<unblock::thread_pool_executor>(16));
        std::vector<unblock::join_handle<int>> handles;
        handles.reserve(1000);
        for (int i = 0; i < 1000; ++i)
            handles.push_back(unblock::create_task(limiter.run(call, i)));
        long sum = 0;
        for (auto& handle : handles)
            sum += co_await handle;
        CHECK(limiter.borrowed_tokens() == 0);
        co_return sum;
    };
    const long sum = unblock::run(body());
    CHECK(sum == 999L * 1000L / 2);
    CHECK(completed == 1000);
    CHECK(most_running.load() >= 1);
    CHECK(most_running.load() <= 8);
}

TEST_CASE("capacity_limiter: a call cancelled while waiting for a token never runs",
          "[sync][cancel]") {
    auto body = []() -> task<> {
        unblock::capacity_limiter limiter(1);
        std::atomic<int> runs{0};
        co_await limiter.acquire(); // hold the only token
        auto handle = unblock::create_task(limiter.run([&] { ++runs; }));
        co_await let_others_run();
        handle.cancel();
        const bool cancelled = co_await ends_cancelled(handle);
        CHECK(cancelled);
        limiter.release();
        CHECK(limiter.available_tokens() == 1);
        co_await limiter.run([&] { ++runs; });
        CHECK(runs == 1);
    };
    unblock::run(body());
}

TEST_CASE("capacity_limiter::release without a borrowed token throws invalid_state_error",
          "[sync]") {
    auto body = []() -> task<> {
        unblock::capacity_limiter limiter(2);
        CHECK_THROWS_WITH(limiter.release(), Catch::Contains("no token is borrowed"));
        co_return;
    };
    unblock::run(body());
}

// --- condition ------------------------------------------------------------------

TEST_CASE("condition: wait_for a predicate, notify wakes one in order, notify_all the rest",
          "[sync]") {
    auto body = []() -> task<> {
        unblock::condition cond;
        std::vector<int> order;
        int ticket = -1;
        auto waiter = [&](int id) -> task<> {
            auto guard = co_await cond.scoped();
            const bool mine = co_await cond.wait_for([&] { return ticket == id || ticket == 99; });
            CHECK(mine);
            CHECK(cond.locked()); // wait returns holding the lock
            order.push_back(id);
        };
        std::vector<unblock::join_handle<void>> handles;
        for (int id = 0; id < 4; ++id)
            handles.push_back(unblock::create_task(waiter(id)));
        co_await let_others_run();
        CHECK_FALSE(cond.locked()); // every waiter released it while waiting
        {
            auto guard = co_await cond.scoped();
            ticket = 0;
            cond.notify(); // the first waiter only
        }
        co_await handles[0];
        {
            auto guard = co_await cond.scoped();
            ticket = 99;
            cond.notify_all();
        }
        for (std::size_t i = 1; i < handles.size(); ++i)
            co_await handles[i];
        CHECK(order == std::vector<int>{0, 1, 2, 3});
    };
    unblock::run(body());
}

TEST_CASE("condition: wait, notify and notify_all without the lock throw invalid_state_error",
          "[sync]") {
    auto body = []() -> task<> {
        unblock::condition cond;
        CHECK_THROWS_WITH(cond.notify(), Catch::Contains("lock is not held"));
        CHECK_THROWS_AS(cond.notify_all(), unblock::invalid_state_error);
        bool threw = false;
        try {
            co_await cond.wait();
        } catch (const unblock::invalid_state_error&) {
            threw = true;
        }
        CHECK(threw);
        CHECK_FALSE(cond.locked());
    };
    unblock::run(body());
}

TEST_CASE("condition (b): a waiter cancelled while waiting throws holding the lock again",
          "[sync][cancel]") {
    auto body = []() -> task<> {
        unblock::lock shared;
        unblock::condition cond(shared);
        bool held_when_cancelled = false;
        auto waiter = [&]() -> task<> {
            co_await cond.acquire();
            try {
                co_await cond.wait();
            } catch (const unblock::cancelled_error&) {
                held_when_cancelled = cond.locked();
                cond.release();
                throw;
            }
        };
        auto handle = unblock::create_task(waiter());
        co_await let_others_run();
        co_await shared.acquire(); // hold the lock: the cancelled waiter must wait for it
        handle.cancel();
        co_await let_others_run();
        CHECK_FALSE(handle.done());
        shared.release();
        const bool cancelled = co_await ends_cancelled(handle);
        CHECK(cancelled);
        CHECK(held_when_cancelled);
        CHECK_FALSE(shared.locked());
    };
    unblock::run(body());
}

TEST_CASE("condition (c): a notification given to a waiter cancelled before it resumed goes to "
          "the next",
          "[sync][cancel]") {
    auto body = []() -> task<> {
        unblock::condition cond;
        int woken = 0;
        auto waiter = [&]() -> task<> {
            auto guard = co_await cond.scoped();
            co_await cond.wait();
            ++woken;
        };
        auto first = unblock::create_task(waiter());
        auto second = unblock::create_task(waiter());
        co_await let_others_run();
        {
            auto guard = co_await cond.scoped();
            cond.notify(); // to the first...
        }
        first.cancel(); // ...cancelled before it resumed: the second is woken instead
        const bool cancelled = co_await ends_cancelled(first);
        CHECK(cancelled);
        co_await second;
        CHECK(woken == 1);
        CHECK_FALSE(cond.locked());
    };
    unblock::run(body());
}

// --- queue ----------------------------------------------------------------------

TEST_CASE("queue: put and get in order, nowait forms, sizes", "[sync][queue]") {
    auto body = []() -> task<> {
        unblock::queue<std::string> items(2);
        CHECK(items.empty());
        co_await items.put("a");
        items.put_nowait("b");
        CHECK(items.full());
        CHECK(items.qsize() == 2);
        CHECK_THROWS_AS(items.put_nowait("c"), unblock::queue_full_error);
        const std::string first = co_await items.get();
        const std::string second = items.get_nowait();
        CHECK(first == "a");
        CHECK(second == "b");
        CHECK_THROWS_AS(items.get_nowait(), unblock::queue_empty_error);
        CHECK_THROWS_WITH(items.get_nowait(), Catch::Contains("co_await get()"));
    };
    unblock::run(body());
}

TEST_CASE("queue: getters and putters wait and are served first-in first-out", "[sync][queue]") {
    auto body = []() -> task<> {
        unblock::queue<int> items(1);
        std::vector<int> got;
        auto getter = [&]() -> task<> { got.push_back(co_await items.get()); };
        std::vector<unblock::join_handle<void>> getters;
        for (int i = 0; i < 3; ++i)
            getters.push_back(unblock::create_task(getter()));
        co_await let_others_run();
        for (int i = 0; i < 3; ++i)
            co_await items.put(i); // each is handed to the next waiting getter
        for (auto& handle : getters)
            co_await handle;
        CHECK(got == std::vector<int>{0, 1, 2});
        CHECK(items.empty());

        // Putters on a full queue.
        items.put_nowait(10);
        auto putter = [&](int value) -> task<> { co_await items.put(value); };
        std::vector<unblock::join_handle<void>> putters;
        for (int i = 11; i < 14; ++i)
            putters.push_back(unblock::create_task(putter(i)));
        co_await let_others_run();
        CHECK(items.qsize() == 1);
        std::vector<int> drained;
        for (int i = 0; i < 4; ++i) {
            const int value = co_await items.get();
            drained.push_back(value);
        }
        for (auto& handle : putters)
            co_await handle;
        CHECK(drained == std::vector<int>{10, 11, 12, 13});
    };
    unblock::run(body());
}

TEST_CASE("queue (a) and (b): cancelled getters and putters leave the queue, nothing is lost",
          "[sync][queue][cancel]") {
    auto body = []() -> task<> {
        unblock::queue<int> items(1);
        auto getter = [&]() -> task<int> { co_return co_await items.get(); };
        auto pending = unblock::create_task(getter());
        pending.cancel(); // (a)
        auto waiting = unblock::create_task(getter());
        co_await let_others_run();
        waiting.cancel(); // (b)
        const bool pending_cancelled = co_await ends_cancelled(pending);
        const bool waiting_cancelled = co_await ends_cancelled(waiting);
        CHECK(pending_cancelled);
        CHECK(waiting_cancelled);
        items.put_nowait(1); // nobody waits: it stays in the queue
        CHECK(items.qsize() == 1);

        auto putter = [&](int value) -> task<> { co_await items.put(value); };
        auto put_pending = unblock::create_task(putter(2));
        put_pending.cancel(); // (a)
        auto put_waiting = unblock::create_task(putter(3));
        co_await let_others_run();
        put_waiting.cancel(); // (b)
        const bool put_pending_cancelled = co_await ends_cancelled(put_pending);
        const bool put_waiting_cancelled = co_await ends_cancelled(put_waiting);
        CHECK(put_pending_cancelled);
        CHECK(put_waiting_cancelled);
        const int only = items.get_nowait();
        CHECK(only == 1);
        CHECK(items.empty()); // neither cancelled put went in
    };
    unblock::run(body());
}

TEST_CASE("queue (c): an item handed to a getter cancelled before it resumed goes to the next "
          "getter",
          "[sync][queue][cancel]") {
    auto body = []() -> task<> {
        unblock::queue<int> items;
        auto getter = [&]() -> task<int> { co_return co_await items.get(); };
        auto first = unblock::create_task(getter());
        auto second = unblock::create_task(getter());
        co_await let_others_run();
        items.put_nowait(42); // handed to the first...
        first.cancel();       // ...cancelled before it resumed
        const bool cancelled = co_await ends_cancelled(first);
        CHECK(cancelled);
        const int value = co_await second;
        CHECK(value == 42);
        CHECK(items.empty());
    };
    unblock::run(body());
}

TEST_CASE("queue (c): an item handed to the only getter, cancelled, goes back to the front",
          "[sync][queue][cancel]") {
    auto body = []() -> task<> {
        unblock::queue<int> items;
        auto getter = [&]() -> task<int> { co_return co_await items.get(); };
        auto only = unblock::create_task(getter());
        co_await let_others_run();
        items.put_nowait(1); // handed to the getter
        items.put_nowait(2); // queued behind it
        only.cancel();
        const bool cancelled = co_await ends_cancelled(only);
        CHECK(cancelled);
        const int front = items.get_nowait();
        const int back = items.get_nowait();
        CHECK(front == 1);
        CHECK(back == 2);
    };
    unblock::run(body());
}

TEST_CASE("queue (c): a slot granted to a putter cancelled before it resumed goes to the next "
          "putter",
          "[sync][queue][cancel]") {
    auto body = []() -> task<> {
        unblock::queue<int> items(1);
        items.put_nowait(0);
        auto putter = [&](int value) -> task<> { co_await items.put(value); };
        auto first = unblock::create_task(putter(1));
        auto second = unblock::create_task(putter(2));
        co_await let_others_run();
        const int zero = items.get_nowait(); // frees the slot: granted to the first...
        CHECK(zero == 0);
        CHECK(items.full()); // ...which holds it
        first.cancel();      // ...and is cancelled before it resumed
        const bool cancelled = co_await ends_cancelled(first);
        CHECK(cancelled);
        co_await second;
        const int value = items.get_nowait();
        CHECK(value == 2);
        CHECK(items.empty());
    };
    unblock::run(body());
}

TEST_CASE("queue: join waits for task_done on every item, too many task_done throws",
          "[sync][queue]") {
    auto body = []() -> task<> {
        unblock::queue<int> items;
        co_await items.join(); // nothing put: no wait
        int processed = 0;
        auto worker = [&]() -> task<> {
            for (int i = 0; i < 3; ++i) {
                (void)co_await items.get();
                ++processed;
                items.task_done();
            }
        };
        for (int i = 0; i < 3; ++i)
            items.put_nowait(i);
        auto handle = unblock::create_task(worker());
        co_await items.join();
        CHECK(processed == 3);
        co_await handle;
        CHECK_THROWS_WITH(items.task_done(), Catch::Contains("more times than there were items"));
    };
    unblock::run(body());
}

TEST_CASE("queue::shutdown: puts fail, gets drain then fail, waiting getters and putters are "
          "woken with queue_shut_down_error",
          "[sync][queue]") {
    auto body = []() -> task<> {
        unblock::queue<int> items(1);
        auto getter = [&]() -> task<int> { co_return co_await items.get(); };
        auto waiting_getter = unblock::create_task(getter());
        co_await let_others_run();
        items.shutdown();
        bool getter_shut = false;
        try {
            (void)co_await waiting_getter;
        } catch (const unblock::queue_shut_down_error&) {
            getter_shut = true;
        }
        CHECK(getter_shut);
        CHECK_THROWS_AS(items.put_nowait(1), unblock::queue_shut_down_error);
        CHECK_THROWS_AS(items.get_nowait(), unblock::queue_shut_down_error);

        unblock::queue<int> draining(1);
        draining.put_nowait(7);
        auto putter = [&]() -> task<> { co_await draining.put(8); };
        auto waiting_putter = unblock::create_task(putter());
        co_await let_others_run();
        draining.shutdown(); // not immediate: the item stays
        bool putter_shut = false;
        try {
            co_await waiting_putter;
        } catch (const unblock::queue_shut_down_error&) {
            putter_shut = true;
        }
        CHECK(putter_shut);
        const int left = co_await draining.get();
        CHECK(left == 7);
        CHECK_THROWS_AS(draining.get_nowait(), unblock::queue_shut_down_error);
    };
    unblock::run(body());
}

TEST_CASE("queue::shutdown(immediate) discards the items, marks them done and wakes join",
          "[sync][queue]") {
    auto body = []() -> task<> {
        unblock::queue<int> items;
        items.put_nowait(1);
        items.put_nowait(2);
        auto joiner = [&]() -> task<> { co_await items.join(); };
        auto handle = unblock::create_task(joiner());
        co_await let_others_run();
        CHECK_FALSE(handle.done());
        items.shutdown(true);
        CHECK(items.empty());
        co_await handle;
        CHECK_THROWS_AS(items.get_nowait(), unblock::queue_shut_down_error);
    };
    unblock::run(body());
}

TEST_CASE("a queue used from another thread throws invalid_state_error", "[sync][queue]") {
    auto body = []() -> task<> {
        unblock::queue<int> items;
        items.put_nowait(1); // binds it to this loop
        const std::string message = co_await unblock::to_thread([&] {
            try {
                items.put_nowait(2);
            } catch (const unblock::invalid_state_error& e) {
                return std::string(e.what());
            }
            return std::string();
        });
        CHECK(message.find("unblock::queue::put_nowait()") != std::string::npos);
        CHECK(items.qsize() == 1);
    };
    unblock::run(body());
}

// --- more cancellation points -----------------------------------------------------

TEST_CASE("condition (a): a cancel pending before wait suspends throws holding the lock",
          "[sync][cancel]") {
    auto body = []() -> task<> {
        unblock::condition cond;
        bool held_when_cancelled = false;
        auto waiter = [&]() -> task<> {
            auto guard = co_await cond.scoped(); // free: does not suspend, the cancel stays pending
            try {
                co_await cond.wait(); // the cancel lands on the first suspension
            } catch (const unblock::cancelled_error&) {
                held_when_cancelled = cond.locked();
                throw;
            }
        };
        auto handle = unblock::create_task(waiter());
        handle.cancel();
        const bool cancelled = co_await ends_cancelled(handle);
        CHECK(cancelled);
        CHECK(held_when_cancelled);
        CHECK_FALSE(cond.locked()); // the guard released it
    };
    unblock::run(body());
}

TEST_CASE("capacity_limiter (a) and (c): a pending cancel runs nothing, a token granted to a "
          "cancelled waiter goes to the next",
          "[sync][cancel]") {
    auto body = []() -> task<> {
        unblock::capacity_limiter limiter(1);
        std::atomic<int> runs{0};
        co_await limiter.acquire(); // hold the only token
        auto pending = unblock::create_task(limiter.run([&] { ++runs; }));
        pending.cancel(); // (a)
        auto first = unblock::create_task(limiter.run([&] { ++runs; }));
        auto second = unblock::create_task(limiter.run([&] { runs += 10; }));
        co_await let_others_run();
        limiter.release(); // granted to the first...
        first.cancel();    // (c): ...cancelled before it resumed
        const bool pending_cancelled = co_await ends_cancelled(pending);
        const bool first_cancelled = co_await ends_cancelled(first);
        CHECK(pending_cancelled);
        CHECK(first_cancelled);
        co_await second;
        CHECK(runs == 10);
        CHECK(limiter.borrowed_tokens() == 0);
    };
    unblock::run(body());
}

// --- stress -----------------------------------------------------------------------

TEST_CASE("queue under cancellation: every item put is got exactly once", "[sync][queue][stress]") {
    auto body = []() -> task<> {
        unblock::queue<int> items(3);
        std::vector<int> put_ok;   // values whose put() returned
        std::vector<int> received; // values some get() returned
        auto producer = [&](int first, int count) -> task<> {
            for (int value = first; value < first + count; ++value) {
                co_await items.put(value);
                put_ok.push_back(value);
            }
        };
        auto consumer = [&]() -> task<> {
            for (;;) {
                int value = 0;
                try {
                    value = co_await items.get();
                } catch (const unblock::queue_shut_down_error&) {
                    co_return;
                }
                received.push_back(value);
                if (value % 7 == 0) co_await unblock::sleep(0s);
            }
        };
        std::vector<unblock::join_handle<void>> steady;
        for (int i = 0; i < 3; ++i)
            steady.push_back(unblock::create_task(producer(i * 10000, 300)));
        for (int i = 0; i < 2; ++i)
            steady.push_back(unblock::create_task(consumer()));
        // Short-lived producers and consumers, cancelled after 0, 1 or 2 turns:
        // pending, waiting, or just granted.
        unsigned state = 12345;
        for (int round = 0; round < 300; ++round) {
            state = state * 1103515245U + 12345U;
            auto extra_consumer = unblock::create_task(consumer());
            auto extra_producer = unblock::create_task(producer(100000 + round * 10, 3));
            const unsigned turns = (state >> 16) % 3U;
            for (unsigned t = 0; t < turns; ++t)
                co_await unblock::sleep(0s);
            extra_consumer.cancel();
            extra_producer.cancel();
            (void)co_await ends_cancelled(extra_consumer);
            (void)co_await ends_cancelled(extra_producer);
        }
        for (int i = 0; i < 3; ++i)
            co_await steady[static_cast<std::size_t>(i)];
        while (!items.empty())
            co_await unblock::sleep(0s); // the consumers drain it
        items.shutdown();
        for (std::size_t i = 3; i < steady.size(); ++i)
            co_await steady[i];
        std::sort(put_ok.begin(), put_ok.end());
        std::sort(received.begin(), received.end());
        CHECK(put_ok.size() >= 900);
        CHECK(received == put_ok);
    };
    unblock::run(body());
}

TEST_CASE("every primitive bound to one loop refuses another loop with invalid_state_error",
          "[sync]") {
    unblock::lock mutex;
    unblock::event ready;
    unblock::condition cond;
    unblock::queue<int> items;
    unblock::capacity_limiter limiter(1);
    auto use_all = [&]() -> task<> {
        co_await mutex.acquire();
        mutex.release();
        ready.set();
        ready.clear();
        {
            auto guard = co_await cond.scoped();
            cond.notify_all();
        }
        items.put_nowait(1);
        (void)items.get_nowait();
        co_await limiter.acquire();
        limiter.release();
    };
    unblock::event_loop first;
    first.run_until_complete(use_all());
    unblock::event_loop second;
    auto refused = [&](auto use) -> task<bool> {
        try {
            co_await use();
        } catch (const unblock::invalid_state_error& e) {
            const std::string message = e.what();
            co_return message.find("belongs to another event loop") != std::string::npos;
        }
        co_return false;
    };
    auto lock_use = [&]() -> task<> { co_await mutex.acquire(); };
    auto event_use = [&]() -> task<> { co_await ready.wait(); };
    auto condition_use = [&]() -> task<> {
        cond.notify(); // the loop is checked before the lock
        co_return;
    };
    auto queue_use = [&]() -> task<> {
        items.put_nowait(2);
        co_return;
    };
    auto limiter_use = [&]() -> task<> { co_await limiter.acquire(); };
    const bool lock_refused = second.run_until_complete(refused(lock_use));
    const bool event_refused = second.run_until_complete(refused(event_use));
    const bool condition_refused = second.run_until_complete(refused(condition_use));
    const bool queue_refused = second.run_until_complete(refused(queue_use));
    const bool limiter_refused = second.run_until_complete(refused(limiter_use));
    CHECK(lock_refused);
    CHECK(event_refused);
    CHECK(condition_refused);
    CHECK(queue_refused);
    CHECK(limiter_refused);
}
