/// \file tests/support/counting_new.hpp
/// Replaces the global operator new/delete with a counting one, for the tests
/// that prove a path allocates nothing. Include it in exactly one file of a
/// test executable (it defines the replacements), and only in builds without
/// a sanitizer: their runtimes define operator new themselves.
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

namespace unblock::test {

inline std::atomic<bool> g_counting{false};
inline std::atomic<long> g_allocations{0};

inline void* counted_allocation(std::size_t size) {
    // relaxed: the counter is read after the measured work has been joined with the loop thread.
    if (g_counting.load(std::memory_order_relaxed))
        g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}

/// Counts allocations made while alive.
class allocation_counter {
public:
    allocation_counter() {
        g_allocations = 0;
        g_counting = true;
    }
    allocation_counter(const allocation_counter&) = delete;
    allocation_counter& operator=(const allocation_counter&) = delete;
    ~allocation_counter() { g_counting = false; }
    [[nodiscard]] long count() const { return g_allocations.load(); }
};

} // namespace unblock::test

// A replaced operator delete that frees what the replaced operator new got
// from malloc is correct; GCC's -Wmismatched-new-delete cannot see the pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) { return unblock::test::counted_allocation(size); }
void* operator new[](std::size_t size) { return unblock::test::counted_allocation(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
