// Proves that waiting on the loop's synchronisation primitives allocates
// nothing: the awaiter in the coroutine frame is the primitive's FIFO node and
// the loop's ready-queue node. This binary replaces the global operator new to
// count every allocation.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <chrono>

using namespace std::chrono_literals;
using unblock::task;

namespace {

/// Two tasks hand the turn to each other `rounds` times through semaphores,
/// an event pair and a contended lock; every await suspends. Returns the rounds done.
task<int> ping_pong(int rounds) {
    unblock::semaphore to_other(0);
    unblock::semaphore to_main(0);
    unblock::event other_turn;
    unblock::event main_turn;
    unblock::lock mutex;
    int done = 0;
    auto other = [&]() -> task<> {
        for (int i = 0; i < rounds; ++i) {
            co_await to_other.acquire();
            to_main.release();
            co_await other_turn.wait();
            other_turn.clear();
            main_turn.set();
            auto guard = co_await mutex.scoped(); // main holds it: waits
        }
    };
    auto handle = unblock::create_task(other());
    for (int i = 0; i < rounds; ++i) {
        to_other.release();
        co_await to_main.acquire();
        co_await mutex.acquire();
        other_turn.set();
        co_await main_turn.wait();
        main_turn.clear();
        mutex.release(); // to the other task, waiting for it
        co_await unblock::sleep(0s);
        ++done;
    }
    co_await handle;
    co_return done;
}

} // namespace

// Sanitizer runtimes define operator new themselves; counting needs a plain build.
#if !defined(UNBLOCK_SANITIZER_THREAD) && !defined(UNBLOCK_SANITIZER_ADDRESS)

#include <atomic>
#include <cstdlib>
#include <new>

namespace {

std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void* counted_allocation(std::size_t size) {
    // relaxed: only the loop thread allocates while counting, and it reads the count itself.
    if (g_counting.load(std::memory_order_relaxed))
        g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}

} // namespace

// A replaced operator delete that frees what the replaced operator new got
// from malloc is correct; GCC's -Wmismatched-new-delete cannot see the pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) { return counted_allocation(size); }
void* operator new[](std::size_t size) { return counted_allocation(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

TEST_CASE("the counting operator new of the sync test sees allocations", "[sync][allocations]") {
    g_allocations = 0;
    g_counting = true;
    auto* p = new int(3);
    delete p;
    g_counting = false;
    CHECK(g_allocations.load() == 1); // the counter works, so a 0 below means something
}

TEST_CASE("waiting on semaphore, event and lock allocates nothing in steady state",
          "[sync][allocations]") {
    auto body = []() -> task<long> {
        (void)co_await ping_pong(10); // warm: the frame cache holds the frames used below
        g_allocations = 0;
        g_counting = true;
        const int done = co_await ping_pong(1'000);
        g_counting = false;
        CHECK(done == 1'000);
        co_return g_allocations.load();
    };
    CHECK(unblock::run(body()) == 0);
}

#else

// Under a sanitizer the allocations cannot be counted; the same loop still
// runs, so the sanitizers check it.
TEST_CASE("1000 ping-pong rounds through semaphore, event and lock complete",
          "[sync][allocations]") {
    CHECK(unblock::run(ping_pong(1'000)) == 1'000);
}

#endif // no sanitizer
