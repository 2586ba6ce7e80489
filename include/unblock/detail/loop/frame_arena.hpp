/// \file detail/loop/frame_arena.hpp
/// Huge-page address space for the frames a running loop creates.
///
/// Why: a burst of fresh tasks touches fresh memory, and from malloc's heap
/// every 4 KiB page of it costs a page fault — ~14 µs each on a VM, which is
/// most of the first 100,000-task batch (docs/benchmarks.md, W5). Carved from
/// a region advised for transparent huge pages, the same frames cost one
/// fault per 2 MiB.
///
/// The process reserves `slot_count` slots of `slot_bytes` of address space
/// once (PROT_NONE: no memory, no commit charge; not at all under an
/// address-space limit, RLIMIT_AS). A thread's frame cache
/// claims a slot when its running loop first needs a fresh frame and gives it
/// back, its pages returned to the OS, once every frame carved from it is
/// free again with no loop running (frame_cache.hpp). Any thread may free a
/// frame: one that is not the slot's owner pushes it onto the slot's
/// lock-free `remote` list, which the owner drains.
///
/// The cost, bounded: memory carved from a slot serves only frames of this
/// thread until every one of them is free (a long-lived task pins the slot's
/// high-water mark, as it would pin the top of malloc's heap), and a thread
/// that exits while frames of its slot live keeps the slot.
#pragma once

#include <sys/mman.h>
#include <sys/resource.h>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace unblock::detail {

/// A free frame waiting on a list. Carved blocks are at least this big.
struct frame_block {
    frame_block* next;
    std::size_t size; ///< the size it was allocated with (read when freed remotely)
};

class frame_space {
public:
    static constexpr std::size_t huge_page = std::size_t{2} << 20;
    /// One thread's most: 100,000 tasks awaiting run_in_executor (frame and
    /// future) take ~50 MB. Address space only, until touched.
    static constexpr std::size_t slot_bytes = std::size_t{64} << 20;
    static constexpr int slot_count = 64; ///< bits of s_claimed
    static constexpr int no_slot = -1;

    /// True if `p` lies in some slot. One load and a compare: called on every free.
    [[nodiscard]] static bool contains(const void* p) noexcept {
        // acquire: pairs with the release in reserve(); a pointer into the
        // space reached this thread through some synchronization after that.
        const std::uintptr_t base = s_base.load(std::memory_order_acquire);
        return base != 0 &&
               reinterpret_cast<std::uintptr_t>(p) - base < slot_bytes * std::size_t{slot_count};
    }
    [[nodiscard]] static int slot_of(const void* p) noexcept {
        return static_cast<int>(
            (reinterpret_cast<std::uintptr_t>(p) - s_base.load(std::memory_order_relaxed)) /
            slot_bytes);
    }
    [[nodiscard]] static std::byte* slot_begin(int slot) noexcept {
        return reinterpret_cast<std::byte*>(s_base.load(std::memory_order_relaxed)) +
               static_cast<std::size_t>(slot) * slot_bytes;
    }

    /// A free slot, readable and writable, advised for huge pages; no_slot if
    /// all are taken or the space could not be reserved.
    [[nodiscard]] static int claim() noexcept {
        if (!reserve()) return no_slot;
        std::uint64_t claimed = s_claimed.load(std::memory_order_relaxed);
        int slot = no_slot;
        do {
            if (claimed == ~std::uint64_t{0}) return no_slot;
            slot = std::countr_one(claimed);
            // relaxed: the bit only arbitrates between claimers; the memory is
            // made usable below, by the winner alone.
        } while (!s_claimed.compare_exchange_weak(claimed, claimed | (std::uint64_t{1} << slot),
                                                  std::memory_order_relaxed));
        std::byte* begin = slot_begin(slot);
        if (::mprotect(begin, slot_bytes, PROT_READ | PROT_WRITE) != 0) {
            release(slot, 0);
            return no_slot;
        }
#ifdef MADV_HUGEPAGE
        (void)::madvise(begin, slot_bytes, MADV_HUGEPAGE); // a hint: without THP, 4 KiB pages
#endif
        return slot;
    }

    /// Returns the first `used` bytes of `slot` to the OS and the slot to the pool.
    static void release(int slot, std::size_t used) noexcept {
        std::byte* begin = slot_begin(slot);
        if (used != 0) (void)::madvise(begin, used, MADV_DONTNEED);
        (void)::mprotect(begin, slot_bytes, PROT_NONE);
        s_claimed.fetch_and(~(std::uint64_t{1} << slot), std::memory_order_relaxed);
    }

    /// Frees `block`, of a slot this thread does not own, onto that slot's remote list.
    static void push_remote(frame_block* block) noexcept {
        std::atomic<frame_block*>& head = s_remote[slot_of(block)];
        frame_block* next = head.load(std::memory_order_relaxed);
        do {
            block->next = next;
            // release: the owner that takes the list sees block->next and ->size.
        } while (!head.compare_exchange_weak(next, block, std::memory_order_release,
                                             std::memory_order_relaxed));
    }
    /// Everything freed onto `slot` by other threads (for its owner).
    [[nodiscard]] static frame_block* take_remote(int slot) noexcept {
        std::atomic<frame_block*>& head = s_remote[slot];
        // acquire: pairs with push_remote's release. The relaxed load first
        // keeps the common case (nothing there) free of a locked instruction.
        if (head.load(std::memory_order_relaxed) == nullptr) return nullptr;
        return head.exchange(nullptr, std::memory_order_acquire);
    }

private:
    /// Reserves the space on first use; false if the system refused.
    static bool reserve() noexcept {
        if constexpr (sizeof(void*) < 8) {
            return false; // 4 GiB of address space is too much to ask of a 32-bit process
        } else {
            static const std::uintptr_t base = [] {
                // Under an address-space limit (ulimit -v) 4 GiB would come out
                // of the program's own budget: frames then come from the heap.
                rlimit limit{};
                if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur != RLIM_INFINITY)
                    return std::uintptr_t{0};
                constexpr std::size_t total = slot_bytes * std::size_t{slot_count};
                void* p = ::mmap(nullptr, total + huge_page, PROT_NONE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
                if (p == MAP_FAILED) return std::uintptr_t{0};
                // Slots start on a huge-page boundary, so each 2 MiB can be one page.
                const auto raw = reinterpret_cast<std::uintptr_t>(p);
                const std::uintptr_t aligned = (raw + huge_page - 1) & ~(huge_page - 1);
                s_base.store(aligned, std::memory_order_release);
                return aligned;
            }();
            return base != 0;
        }
    }

    static inline constinit std::atomic<std::uintptr_t> s_base{0};
    static inline constinit std::atomic<std::uint64_t> s_claimed{0};
    static inline constinit std::atomic<frame_block*> s_remote[slot_count]{};
};

static_assert(frame_space::slot_count == 64, "s_claimed is one 64-bit word");

} // namespace unblock::detail
