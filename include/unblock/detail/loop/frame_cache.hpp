/// \file detail/loop/frame_cache.hpp
/// Recycles task coroutine frames on a thread while its event loop runs.
///
/// Why: a burst of N tasks frees N frames at once at its end. glibc's malloc
/// then hands the top of its heap back to the OS (trimming), and the next
/// burst page-faults it all in again: at 100,000 tasks that halves the
/// throughput (docs/benchmarks.md). So while a loop runs on this thread,
/// freed frames of up to `largest` bytes wait on per-size free lists for the
/// next task of that size, up to `max_cached_bytes` in all; they go back to
/// the global operator delete whenever the loop is about to sleep and when it
/// stops, so a sleeping or finished loop holds no cached memory.
///
/// Thread-confined: each thread has its own cache, and a frame freed on a
/// thread without a running loop goes straight to operator delete. Off under
/// AddressSanitizer and the other memory checkers, where reusing a frame would
/// hide a use-after-free, and with -DUNBLOCK_FRAME_CACHE_ENABLED=0.
#pragma once

#include <array>
#include <cstddef>
#include <new>
#include <type_traits>

// Off where reusing a frame would hide a use-after-free from a memory checker.
// Define UNBLOCK_FRAME_CACHE_ENABLED=0 to turn it off anywhere else (e.g. for valgrind).
#ifndef UNBLOCK_FRAME_CACHE_ENABLED
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_HWADDRESS__)
#define UNBLOCK_FRAME_CACHE_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(hwaddress_sanitizer) ||                      \
    __has_feature(memory_sanitizer)
#define UNBLOCK_FRAME_CACHE_ENABLED 0
#endif
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
    /// A busy loop keeps at most this much (100,000 small task frames are ~26 MB).
    static constexpr std::size_t max_cached_bytes = std::size_t{32} << 20;

    /// This thread's cache. Constant-initialized and trivially destructible:
    /// no guard on each access, and nothing to destroy at thread exit (a frame
    /// freed by another thread-local's destructor then still finds it). It
    /// holds blocks only while a loop runs on the thread, and `end_use`
    /// releases them.
    static frame_cache& local() noexcept {
        static thread_local constinit frame_cache cache;
        return cache;
    }

    constexpr frame_cache() noexcept = default;
    frame_cache(const frame_cache&) = delete;
    frame_cache& operator=(const frame_cache&) = delete;

    /// A block of at least `size` bytes. Cacheable sizes are always rounded
    /// up, so any block of a size class can serve any request of that class.
    [[nodiscard]] void* allocate(std::size_t size) {
        if (!UNBLOCK_FRAME_CACHE_ENABLED || size > largest) return ::operator new(size);
        free_block*& head = m_free[class_of(size)];
        if (free_block* block = head) {
            head = block->next;
            --m_cached;
            m_cached_bytes -= rounded(size);
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
        if (!UNBLOCK_FRAME_CACHE_ENABLED || m_users == 0 || size > largest ||
            m_cached_bytes + rounded(size) > max_cached_bytes) {
            ::operator delete(p);
            return;
        }
        free_block*& head = m_free[class_of(size)];
        head = ::new (p) free_block{head};
        ++m_cached;
        m_cached_bytes += rounded(size);
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
        if (m_cached == 0) return;
        for (free_block*& head : m_free) {
            while (free_block* block = head) {
                head = block->next;
                ::operator delete(block);
            }
        }
        m_cached = 0;
        m_cached_bytes = 0;
    }

    /// Forgets the loops of the thread this process was forked from: a fork
    /// has no loop running, whatever the forking thread had.
    void reset_after_fork() noexcept {
        release();
        m_users = 0;
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
    std::size_t m_cached = 0;       ///< blocks on the free lists
    std::size_t m_cached_bytes = 0; ///< their rounded sizes, summed
    int m_users = 0; ///< running loops on this thread (nested runs are refused, so 0 or 1)
};

static_assert(std::is_trivially_destructible_v<frame_cache>,
              "frame_cache::local() must survive every other thread_local of its thread");

} // namespace unblock::detail
