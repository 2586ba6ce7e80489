// detail/frame_cache.hpp: task frames are recycled while a loop runs on the
// thread, and handed back to the allocator when it goes idle or stops; fresh
// frames are carved from a huge-page slot of the frame space (frame_arena.hpp).
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <memory>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using unblock::detail::frame_cache;
using unblock::detail::frame_space;

namespace {

unblock::task<> short_lived() { co_return; }

/// Runs `n` tasks to completion and returns how many frames then wait in the cache.
unblock::task<std::size_t> run_tasks(int n) {
    std::vector<unblock::join_handle<void>> handles;
    for (int i = 0; i < n; ++i)
        handles.push_back(unblock::create_task(short_lived()));
    for (auto& handle : handles)
        co_await handle;
    handles.clear(); // frees the finished frames
    co_return frame_cache::local().cached_blocks();
}

} // namespace

TEST_CASE("a freed block is reused for the next request of its size class", "[frame_cache]") {
    frame_cache cache;
    cache.begin_use();
    void* first = cache.allocate(100);
    cache.deallocate(first, 100);
    if (UNBLOCK_FRAME_CACHE_ENABLED) {
        CHECK(cache.cached_blocks() == 1);
        // 97 and 100 bytes share the 104-byte class; the cached block serves both.
        void* second = cache.allocate(97);
        CHECK(second == first);
        CHECK(cache.cached_blocks() == 0);
        cache.deallocate(second, 97);
    } else {
        CHECK(cache.cached_blocks() == 0); // AddressSanitizer build: every block is freed
    }
    cache.end_use();
    CHECK(cache.cached_blocks() == 0);
}

TEST_CASE("without a running loop, and above the size limit, blocks are not kept",
          "[frame_cache]") {
    frame_cache cache;
    void* small = cache.allocate(64);
    cache.deallocate(small, 64);
    CHECK(cache.cached_blocks() == 0);

    cache.begin_use();
    void* large = cache.allocate(frame_cache::largest + 1);
    cache.deallocate(large, frame_cache::largest + 1);
    CHECK(cache.cached_blocks() == 0);
    cache.end_use();
}

TEST_CASE("a busy loop keeps its slot's frames and at most max_cached_bytes of heap blocks",
          "[frame_cache]") {
    constexpr std::size_t block = frame_cache::largest;
    constexpr std::size_t heap_fits = frame_cache::max_cached_bytes / block;
    // Fresh blocks fill the slot first, then come from the heap.
    const std::size_t slot_holds = UNBLOCK_FRAME_CACHE_ENABLED && UNBLOCK_FRAME_ARENA_ENABLED
                                       ? frame_space::slot_bytes / block
                                       : 0;
    frame_cache cache;
    cache.begin_use();
    std::vector<void*> blocks(slot_holds + heap_fits + 10);
    for (void*& p : blocks)
        p = cache.allocate(block);
    for (void* p : blocks)
        cache.deallocate(p, block);
    CHECK(cache.cached_blocks() == (UNBLOCK_FRAME_CACHE_ENABLED ? slot_holds + heap_fits : 0));
    cache.end_use();
    CHECK(cache.cached_blocks() == 0);
}

TEST_CASE("finished task frames wait for reuse while the loop is busy", "[frame_cache]") {
    const std::size_t cached = unblock::run(run_tasks(1000));
    if (UNBLOCK_FRAME_CACHE_ENABLED) {
        CHECK(cached >= 1000);
    } else {
        CHECK(cached == 0);
    }
    CHECK(frame_cache::local().cached_blocks() == 0); // the loop stopped: all handed back
}

TEST_CASE("a loop about to sleep hands its cached frames back to the allocator", "[frame_cache]") {
    std::size_t after_idle = 1;
    unblock::run([&]() -> unblock::task<> {
        (void)co_await run_tasks(1000);
        co_await unblock::sleep(1ms); // nothing ready: the loop parks
        after_idle = frame_cache::local().cached_blocks();
    }());
    CHECK(after_idle == 0);
}

TEST_CASE("a loop waiting for a long offload hands its cached frames back", "[frame_cache]") {
    std::size_t after_wait = 1;
    unblock::run([&]() -> unblock::task<> {
        (void)co_await run_tasks(1000);
        // Far longer than event_loop::frame_cache_grace: the loop sleeps, so it lets go.
        co_await unblock::to_thread([] { std::this_thread::sleep_for(50ms); });
        after_wait = frame_cache::local().cached_blocks();
    }());
    CHECK(after_wait == 0);
}

TEST_CASE("a running loop carves fresh frames from its slot and gives the slot back when it stops",
          "[frame_cache]") {
    bool held_while_running = false;
    unblock::run([&]() -> unblock::task<> {
        co_await unblock::create_task(short_lived()); // a frame made while the loop runs
        held_while_running = frame_cache::local().holds_slot();
    }());
    CHECK(held_while_running == bool(UNBLOCK_FRAME_CACHE_ENABLED && UNBLOCK_FRAME_ARENA_ENABLED));
    CHECK_FALSE(frame_cache::local().holds_slot());
}

TEST_CASE("a frame freed on another thread goes back to the slot it was carved from",
          "[frame_cache]") {
    frame_cache owner;
    owner.begin_use();
    void* first = owner.allocate(100);
    void* second = owner.allocate(100);
    if (UNBLOCK_FRAME_CACHE_ENABLED && UNBLOCK_FRAME_ARENA_ENABLED) {
        REQUIRE(frame_space::contains(first));
        std::thread([first] {
            frame_cache other; // this thread's own cache, with no slot
            other.deallocate(first, 100);
        }).join();
        CHECK(owner.cached_blocks() == 0); // not taken back yet
        owner.release();                   // as before the loop sleeps
        CHECK(owner.cached_blocks() == 1); // `second` still lives: the slot stays
        CHECK(owner.holds_slot());
        void* again = owner.allocate(100);
        CHECK(again == first);
        owner.deallocate(again, 100);
    } else {
        owner.deallocate(first, 100);
    }
    owner.deallocate(second, 100);
    owner.end_use();
    CHECK_FALSE(owner.holds_slot()); // every frame free, no loop: pages back to the OS
    CHECK(owner.cached_blocks() == 0);
}

TEST_CASE("a sleeping loop keeps its slot while a frame carved from it lives", "[frame_cache]") {
    std::size_t cached_while_one_lives = 0;
    std::size_t cached_when_all_done = 1;
    unblock::run([&]() -> unblock::task<> {
        {
            unblock::event release;
            auto long_lived = unblock::create_task(
                [](unblock::event& e) -> unblock::task<> { co_await e.wait(); }(release));
            (void)co_await run_tasks(1000);
            co_await unblock::sleep(1ms); // the loop parks with `long_lived` suspended
            cached_while_one_lives = frame_cache::local().cached_blocks();
            release.set();
            co_await long_lived;
        }                             // the handle goes, and the frame with it
        co_await unblock::sleep(1ms); // parks again, nothing carved alive
        cached_when_all_done = frame_cache::local().cached_blocks();
    }());
    if (UNBLOCK_FRAME_CACHE_ENABLED && UNBLOCK_FRAME_ARENA_ENABLED) {
        CHECK(cached_while_one_lives >= 1000);
    } else {
        CHECK(cached_while_one_lives == 0);
    }
    CHECK(cached_when_all_done == 0);
}

TEST_CASE("with every slot taken, fresh frames come from the heap", "[frame_cache]") {
    std::vector<std::unique_ptr<frame_cache>> caches;
    std::vector<void*> blocks;
    int from_slots = 0;
    for (int i = 0; i <= frame_space::slot_count; ++i) {
        caches.push_back(std::make_unique<frame_cache>());
        caches.back()->begin_use();
        blocks.push_back(caches.back()->allocate(64));
        from_slots += frame_space::contains(blocks.back()) ? 1 : 0;
    }
    CHECK(from_slots <= frame_space::slot_count);
    if (UNBLOCK_FRAME_CACHE_ENABLED && UNBLOCK_FRAME_ARENA_ENABLED) CHECK(from_slots > 0);
    for (std::size_t i = 0; i < caches.size(); ++i) {
        caches[i]->deallocate(blocks[i], 64);
        caches[i]->end_use();
        CHECK_FALSE(caches[i]->holds_slot());
    }
    // The slots are free again.
    frame_cache later;
    later.begin_use();
    void* block = later.allocate(64);
    CHECK(frame_space::contains(block) ==
          bool(UNBLOCK_FRAME_CACHE_ENABLED && UNBLOCK_FRAME_ARENA_ENABLED));
    later.deallocate(block, 64);
    later.end_use();
}
