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
/// Fresh frames of a running loop come from a huge-page slot of the process's
/// frame space (frame_arena.hpp) instead of malloc's heap: a burst of new tasks
/// then costs one page fault per 2 MiB instead of one per 4 KiB. Frames freed
/// there wait on the same free lists; the slot goes back to the OS once all of
/// its frames are free and no loop runs (a sleeping loop keeps its first
/// 2 MiB). Define UNBLOCK_FRAME_ARENA_ENABLED=0 to take fresh frames from
/// operator new instead.
///
/// Thread-confined: each thread has its own cache, and a frame freed on a
/// thread without a running loop goes straight to operator delete (or, carved
/// from another thread's slot, back to that slot). Off under
/// AddressSanitizer and the other memory checkers, where reusing a frame would
/// hide a use-after-free, and with -DUNBLOCK_FRAME_CACHE_ENABLED=0.
#pragma once

#include "frame_arena.hpp"

#include <algorithm>
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
#ifndef UNBLOCK_FRAME_ARENA_ENABLED
#define UNBLOCK_FRAME_ARENA_ENABLED UNBLOCK_FRAME_CACHE_ENABLED
#endif

namespace unblock::detail {

class frame_cache {
public:
    /// Sizes are rounded up to this. Frame sizes are multiples of 8 already, so
    /// a cached frame costs malloc exactly what an uncached one would.
    static constexpr std::size_t granularity = 8;
    static constexpr std::size_t largest = 1024; ///< larger frames are never cached
    /// A busy loop keeps at most this much of heap blocks, beside its slot's
    /// (frames beyond the slot: 100,000 small task frames are ~26 MB).
    static constexpr std::size_t max_cached_bytes = std::size_t{32} << 20;
    /// What a sleeping loop keeps of its slot's pages: one huge page.
    static constexpr std::size_t kept_while_sleeping = frame_space::huge_page;

    /// This thread's cache. Constant-initialized and trivially destructible:
    /// no guard on each access, and nothing to destroy at thread exit (a frame
    /// freed by another thread-local's destructor then still finds it). It
    /// holds blocks only while a loop runs on the thread or frames carved from
    /// its slot live, and `end_use` releases them.
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
        const std::size_t size_class = class_of(size);
        if (frame_block* block = pop(m_slot_free[size_class])) {
            ++m_slot_live;
            return block;
        }
        if (frame_block* block = pop(m_free[size_class])) {
            m_cached_bytes -= rounded(size);
            return block;
        }
        if (m_users != 0) {
            if (void* block = carve(size)) return block;
        }
        return ::operator new(carved(size));
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
        if (UNBLOCK_FRAME_CACHE_ENABLED && frame_space::contains(p)) {
            if (frame_space::slot_of(p) != m_slot) {
                frame_space::push_remote(::new (p) frame_block{nullptr, size});
                return;
            }
            push(m_slot_free[class_of(size)], p, size);
            if (--m_slot_live == 0 && m_users == 0) release_slot();
            return;
        }
        if (!UNBLOCK_FRAME_CACHE_ENABLED || m_users == 0 || size > largest ||
            m_cached_bytes + rounded(size) > max_cached_bytes) {
            ::operator delete(p);
            return;
        }
        push(m_free[class_of(size)], p, size);
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

    /// Gives every cached heap block back to operator delete, takes back the
    /// frames other threads freed into this thread's slot, and hands the slot's
    /// pages back to the OS if none of its frames lives (keeping
    /// `kept_while_sleeping` while a loop runs).
    void release() noexcept {
        for (frame_block*& head : m_free) {
            while (frame_block* block = pop(head))
                ::operator delete(block);
        }
        m_cached_bytes = 0;
        if (m_slot == frame_space::no_slot) return;
        for (frame_block* block = frame_space::take_remote(m_slot); block != nullptr;) {
            frame_block* next = block->next;
            push(m_slot_free[class_of(block->size)], block, block->size);
            --m_slot_live;
            block = next;
        }
        if (m_slot_live != 0) return;
        if (m_users == 0) {
            release_slot();
            return;
        }
        // A sleeping loop: start carving from the beginning again, and let
        // the OS have what lies beyond the first huge page.
        forget_slot_blocks();
        std::byte* begin = frame_space::slot_begin(m_slot);
        if (m_slot_touched > begin + kept_while_sleeping) {
            (void)::madvise(begin + kept_while_sleeping,
                            static_cast<std::size_t>(m_slot_touched - begin) - kept_while_sleeping,
                            MADV_DONTNEED);
            m_slot_touched = begin + kept_while_sleeping;
        }
        m_slot_top = begin;
    }

    /// Forgets the loops of the thread this process was forked from: a fork
    /// has no loop running, whatever the forking thread had.
    void reset_after_fork() noexcept {
        m_users = 0;
        release();
    }

    /// How many blocks wait for reuse (for tests).
    [[nodiscard]] std::size_t cached_blocks() const noexcept { return m_cached; }
    /// True while this cache carves frames from a slot of the frame space (for tests).
    [[nodiscard]] bool holds_slot() const noexcept { return m_slot != frame_space::no_slot; }

private:
    static constexpr std::size_t class_of(std::size_t size) noexcept {
        return (size + granularity - 1) / granularity;
    }
    static constexpr std::size_t rounded(std::size_t size) noexcept {
        return class_of(size) * granularity;
    }
    /// What a cacheable block takes: room for a frame_block on a free list too.
    static constexpr std::size_t carved(std::size_t size) noexcept {
        return std::max(rounded(size), sizeof(frame_block));
    }

    frame_block* pop(frame_block*& head) noexcept {
        frame_block* block = head;
        if (block == nullptr) return nullptr;
        head = block->next;
        --m_cached;
        return block;
    }
    void push(frame_block*& head, void* p, std::size_t size) noexcept {
        head = ::new (p) frame_block{head, size};
        ++m_cached;
    }

    /// A fresh block from this thread's slot (claimed on first use), or null.
    void* carve(std::size_t size) noexcept {
        if (!UNBLOCK_FRAME_ARENA_ENABLED) return nullptr;
        if (m_slot == frame_space::no_slot) {
            m_slot = frame_space::claim();
            if (m_slot == frame_space::no_slot) return nullptr;
            m_slot_top = m_slot_touched = frame_space::slot_begin(m_slot);
        }
        std::byte* end = frame_space::slot_begin(m_slot) + frame_space::slot_bytes;
        if (static_cast<std::size_t>(end - m_slot_top) < carved(size)) return nullptr;
        std::byte* block = m_slot_top;
        m_slot_top += carved(size);
        m_slot_touched = std::max(m_slot_touched, m_slot_top);
        ++m_slot_live;
        return block;
    }

    /// Drops the free blocks of the slot from the lists (the slot is reset).
    void forget_slot_blocks() noexcept {
        for (frame_block*& head : m_slot_free) {
            while (pop(head) != nullptr) {
            }
        }
    }
    void release_slot() noexcept {
        forget_slot_blocks();
        std::byte* begin = frame_space::slot_begin(m_slot);
        frame_space::release(m_slot, static_cast<std::size_t>(m_slot_touched - begin));
        m_slot = frame_space::no_slot;
        m_slot_top = m_slot_touched = nullptr;
    }

    static constexpr std::size_t class_count = largest / granularity + 1;
    std::array<frame_block*, class_count> m_free{};      ///< heap blocks, per size class
    std::array<frame_block*, class_count> m_slot_free{}; ///< blocks of m_slot, per size class
    std::size_t m_cached = 0;                            ///< blocks on both kinds of free lists
    std::size_t m_cached_bytes = 0; ///< the rounded sizes of those on m_free, summed
    int m_users = 0; ///< running loops on this thread (nested runs are refused, so 0 or 1)
    int m_slot = frame_space::no_slot;   ///< the slot fresh frames are carved from
    std::byte* m_slot_top = nullptr;     ///< where the next fresh frame starts
    std::byte* m_slot_touched = nullptr; ///< the end of what was ever carved since reset
    std::size_t m_slot_live = 0;         ///< carved frames not on m_slot_free
};

static_assert(std::is_trivially_destructible_v<frame_cache>,
              "frame_cache::local() must survive every other thread_local of its thread");

} // namespace unblock::detail
