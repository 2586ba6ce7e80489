/// \file detail/error_text.hpp
/// The message of an exception, for reports that must not throw.
#pragma once

#include <exception>
#include <string>

namespace unblock::detail {

/// `what()` of the exception `error` holds; "unknown exception" for one not
/// derived from std::exception, or when there is none.
[[nodiscard]] inline std::string error_text(const std::exception_ptr& error) noexcept {
    try {
        if (error) std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
    }
    return "unknown exception";
}

} // namespace unblock::detail
