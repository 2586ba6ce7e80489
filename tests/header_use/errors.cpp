// <unblock/errors.hpp> alone: every error type can be thrown and caught as std::exception.
#include <unblock/errors.hpp>
#include <unblock/errors.hpp> // the include guard holds

#include <string>

std::string header_use_errors() {
    try {
        throw unblock::timeout_error("late");
    } catch (const std::exception& e) {
        return e.what();
    }
}
