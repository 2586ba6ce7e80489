/// \file tests/support/counted.hpp
/// Lifetime counting for tests: proves values and frames are destroyed exactly once.
#pragma once

#include <atomic>
#include <cstdlib>

namespace unblock::test {

/// Counts constructions and destructions of itself. Copies and moves count as
/// constructions; a destroyed object is poisoned so a double destruction is caught.
class counted {
public:
    static inline std::atomic<int> constructed{0};
    static inline std::atomic<int> destroyed{0};

    static void reset() noexcept {
        constructed = 0;
        destroyed = 0;
    }
    [[nodiscard]] static int alive() noexcept { return constructed - destroyed; }

    counted() noexcept { ++constructed; }
    counted(const counted& other) noexcept : m_value(other.m_value) { ++constructed; }
    counted(counted&& other) noexcept : m_value(other.m_value) { ++constructed; }
    counted& operator=(const counted&) = default;
    counted& operator=(counted&&) = default;
    explicit counted(int value) noexcept : m_value(value) { ++constructed; }
    ~counted() {
        if (m_magic != live_magic) std::abort(); // destroyed twice, or never constructed
        m_magic = 0;
        ++destroyed;
    }

    [[nodiscard]] int value() const noexcept { return m_value; }

private:
    static constexpr unsigned live_magic = 0xC0FFEEu;
    unsigned m_magic = live_magic;
    int m_value = 0;
};

} // namespace unblock::test
