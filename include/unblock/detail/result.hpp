/// \file detail/result.hpp
/// Storage for the outcome of an operation: nothing yet, a value, or an exception.
#pragma once

#include "../errors.hpp"

#include <exception>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

namespace unblock::detail {

/// Holds a `T`, an exception, or nothing. `take()` hands the outcome over once.
template <class Value>
class result_slot {
public:
    template <class Other>
    void set_value(Other&& value) {
        m_outcome.template emplace<1>(std::forward<Other>(value));
    }
    void set_exception(std::exception_ptr error) noexcept {
        m_outcome.template emplace<2>(std::move(error));
    }

    [[nodiscard]] bool has_exception() const noexcept { return m_outcome.index() == 2; }
    [[nodiscard]] std::exception_ptr exception() const noexcept {
        return has_exception() ? std::get<2>(m_outcome) : nullptr;
    }

    /// Returns the value (moved out) or rethrows the exception.
    Value take() {
        if (m_outcome.index() == 2) std::rethrow_exception(std::get<2>(m_outcome));
        if (m_outcome.index() == 0) throw_taken();
        Value value = std::move(std::get<1>(m_outcome));
        m_outcome.template emplace<0>();
        return value;
    }

private:
    [[noreturn]] static void throw_taken() {
        throw invalid_state_error(
            "unblock: this result was already retrieved (a task or future can be awaited only once)");
    }

    std::variant<std::monostate, Value, std::exception_ptr> m_outcome;
};

/// References are stored as pointers.
template <class Value>
class result_slot<Value&> {
public:
    void set_value(Value& value) noexcept { m_inner.set_value(std::addressof(value)); }
    void set_exception(std::exception_ptr error) noexcept {
        m_inner.set_exception(std::move(error));
    }
    [[nodiscard]] std::exception_ptr exception() const noexcept { return m_inner.exception(); }
    Value& take() { return *m_inner.take(); }

private:
    result_slot<Value*> m_inner;
};

/// `void`: only "done" or an exception.
template <>
class result_slot<void> {
public:
    void set_value() noexcept { m_state = state::value; }
    void set_exception(std::exception_ptr error) noexcept {
        m_error = std::move(error);
        m_state = state::error;
    }
    [[nodiscard]] std::exception_ptr exception() const noexcept { return m_error; }
    void take() {
        if (m_state == state::error) std::rethrow_exception(m_error);
        if (m_state == state::empty) {
            throw invalid_state_error(
                "unblock: this result was already retrieved (a task or future can be awaited only once)");
        }
        m_state = state::empty;
    }

private:
    enum class state : unsigned char { empty, value, error };
    state m_state = state::empty;
    std::exception_ptr m_error;
};

/// Runs `f()` and stores what it returns or throws.
template <class Value, class Function>
void store_result(result_slot<Value>& slot, Function&& f) noexcept {
    try {
        if constexpr (std::is_void_v<Value>) {
            std::forward<Function>(f)();
            slot.set_value();
        } else {
            slot.set_value(std::forward<Function>(f)());
        }
    } catch (...) {
        slot.set_exception(std::current_exception());
    }
}

} // namespace unblock::detail
