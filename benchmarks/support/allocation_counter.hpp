/// \file benchmarks/support/allocation_counter.hpp
/// Replaces the global operator new to count heap allocations on every thread.
/// Include in exactly one source file of a benchmark program.
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

namespace bench {

// relaxed: read after the measured work has been joined back to the measuring thread.
inline std::atomic<long> g_allocations{0};

[[nodiscard]] inline long allocations() noexcept {
    return g_allocations.load(std::memory_order_relaxed);
}

} // namespace bench

// A replaced operator delete that frees what the replaced operator new got
// from malloc is correct; GCC's -Wmismatched-new-delete cannot see the pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
    bench::g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
