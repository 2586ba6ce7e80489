// detail/frame_cache.hpp: task frames are recycled while a loop runs on the
// thread, and handed back to the allocator when it goes idle or stops.
#include <catch2/catch.hpp>
#include <unblock/unblock.hpp>

#include <thread>
#include <vector>

using namespace std::chrono_literals;
using unblock::detail::frame_cache;

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

TEST_CASE("a busy loop keeps at most max_cached_bytes", "[frame_cache]") {
    constexpr std::size_t block = frame_cache::largest;
    constexpr std::size_t fits = frame_cache::max_cached_bytes / block;
    frame_cache cache;
    cache.begin_use();
    std::vector<void*> blocks(fits + 10);
    for (void*& p : blocks)
        p = cache.allocate(block);
    for (void* p : blocks)
        cache.deallocate(p, block);
    CHECK(cache.cached_blocks() == (UNBLOCK_FRAME_CACHE_ENABLED ? fits : 0));
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
