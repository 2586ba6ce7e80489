/// \file detail/frame_cache.hpp
/// Recycles task coroutine frames on a thread while its event loop runs.
///
/// Why: a burst of N tasks frees N frames at once at its end. glibc's malloc
/// then hands the top of its heap back to the OS (trimming), and the next
/// burst page-faults it all in again: at 100,000 tasks that halves the
/// throughput of W2 (BENCHMARKS.md). So while a loop runs on this thread,
/// freed frames of up to `largest` bytes wait on per-size free lists for the
/// next task of that size; they go back to the global operator delete when
/// the loop goes idle (nothing ready, no offload in flight) and when it stops,
/// so an idle or finished loop holds no cached memory.
///
/// Thread-confined: each thread has its own cache, and a frame freed on a
/// thread without a running loop goes straight to operator delete. Off under
/// AddressSanitizer, where reusing a frame would hide a use-after-free.
#pragma once

#include <array>
#include <cstddef>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define UNBLOCK_FRAME_CACHE_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNBLOCK_FRAME_CACHE_ENABLED 0
#endif
#endif
#ifndef UNBLOCK_FRAME_CACHE_ENABLED
#define UNBLOCK_FRAME_CACHE_ENABLED 1
#endif

namespace unblock::detail {

class frame_cache {
public:
    /// Sizes are rounded up to this. Frame sizes are multiples of 8 already, so
    /// a cached frame costs malloc exactly what an uncached one would.
    static constexpr std::size_t granularity = 8;
    static constexpr std::size_t largest = 1024; ///< larger frames are never cached

    /// This thread's cache.
    static frame_cache& local() noexcept {
        thread_local frame_cache cache;
        return cache;
    }

    frame_cache() = default;
    frame_cache(const frame_cache&) = delete;
    frame_cache& operator=(const frame_cache&) = delete;
    ~frame_cache() { release(); }

    /// A block of at least `size` bytes. Cacheable sizes are always rounded
    /// up, so any block of a size class can serve any request of that class.
    [[nodiscard]] void* allocate(std::size_t size) {
        if (size > largest) return ::operator new(size);
        free_block*& head = m_free[class_of(size)];
        if (free_block* block = head) {
            head = block->next;
            --m_cached;
            return block;
        }
        return ::operator new(rounded(size));
    }

    // g++ -O1 and up inlines task_promise_base's operator delete into the
    // coroutine and warns that ::operator delete frees what the promise's
    // operator new returned (-Wmismatched-new-delete). The pair is right: the
    // promise's operator new got the block from ::operator new, through here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
    /// Takes back a block `allocate(size)` returned, on any thread.
    void deallocate(void* p, std::size_t size) noexcept {
        if (!UNBLOCK_FRAME_CACHE_ENABLED || m_users == 0 || size > largest) {
            ::operator delete(p);
            return;
        }
        free_block*& head = m_free[class_of(size)];
        head = ::new (p) free_block{head};
        ++m_cached;
    }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

    /// Called by a loop starting and stopping on this thread.
    void begin_use() noexcept { ++m_users; }
    void end_use() noexcept {
        if (--m_users == 0) release();
    }

    /// Gives every cached block back to operator delete.
    void release() noexcept {
        for (free_block*& head : m_free) {
            while (free_block* block = head) {
                head = block->next;
                ::operator delete(block);
            }
        }
        m_cached = 0;
    }

    /// How many blocks wait for reuse (for tests).
    [[nodiscard]] std::size_t cached_blocks() const noexcept { return m_cached; }

private:
    struct free_block {
        free_block* next;
    };

    static constexpr std::size_t class_of(std::size_t size) noexcept {
        return (size + granularity - 1) / granularity;
    }
    static constexpr std::size_t rounded(std::size_t size) noexcept {
        return class_of(size) * granularity;
    }

    std::array<free_block*, largest / granularity + 1> m_free{};
    std::size_t m_cached = 0;
    int m_users = 0; ///< running loops on this thread (nested runs are refused, so 0 or 1)
};

} // namespace unblock::detail
