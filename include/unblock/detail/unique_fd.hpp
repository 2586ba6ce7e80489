/// \file detail/unique_fd.hpp
/// An owning file descriptor.
#pragma once

#include <unistd.h>

namespace unblock::detail {

/// Owns a file descriptor and closes it on destruction. Move-only.
class unique_fd {
public:
    unique_fd() noexcept = default;
    explicit unique_fd(int fd) noexcept : m_fd(fd) {}
    unique_fd(unique_fd&& other) noexcept : m_fd(other.release()) {}
    unique_fd& operator=(unique_fd&& other) noexcept {
        if (this != &other) {
            reset(other.release());
        }
        return *this;
    }
    ~unique_fd() { reset(); }

    [[nodiscard]] int get() const noexcept { return m_fd; }

    /// Gives up ownership without closing.
    int release() noexcept {
        const int fd = m_fd;
        m_fd = -1;
        return fd;
    }

    /// Closes the owned fd (if any) and takes `fd`.
    void reset(int fd = -1) noexcept {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
        m_fd = fd;
    }

private:
    int m_fd = -1;
};

} // namespace unblock::detail
