/// \file detail/bound_call.hpp
/// A callable with its decay-copied arguments, and the stop source it is given.
#pragma once

#include <functional>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>

namespace unblock::detail {

/// True if `F` wants a `std::stop_token` as its first argument.
template <class Function, class... Args>
inline constexpr bool takes_stop_token_v =
    std::is_invocable_v<Function, std::stop_token, Args...> &&
    !std::is_invocable_v<Function, Args...>;

template <class Function, class... Args>
inline constexpr bool bindable_v =
    std::is_invocable_v<Function, Args...> || takes_stop_token_v<Function, Args...>;

struct no_stop_source {
    void request_stop() noexcept {}
};

/// `f(args...)` stored by value like std::thread's arguments (std::ref passes a
/// reference); called once, on whatever thread runs it. If `f` takes a
/// stop_token first, it gets one that `request_stop()` triggers; only then is
/// a stop source (an allocation) created.
template <class Function, class... Args>
class bound_call {
public:
    static constexpr bool takes_stop_token = takes_stop_token_v<Function, Args...>;
    using result_type = typename decltype([] {
        if constexpr (takes_stop_token) {
            return std::type_identity<std::invoke_result_t<Function, std::stop_token, Args...>>{};
        } else {
            return std::type_identity<std::invoke_result_t<Function, Args...>>{};
        }
    }())::type;

    template <class Callable, class... Given>
    explicit bound_call(Callable&& f, Given&&... args)
        : m_function(std::forward<Callable>(f)), m_arguments(std::forward<Given>(args)...) {}

    /// Calls the function once, moving the stored arguments into it.
    result_type operator()() {
        return std::apply(
            [this](Args&... args) -> result_type {
                if constexpr (takes_stop_token) {
                    return std::invoke(std::move(m_function), m_stop.get_token(),
                                       std::move(args)...);
                } else {
                    return std::invoke(std::move(m_function), std::move(args)...);
                }
            },
            m_arguments);
    }

    /// Thread-safe.
    void request_stop() noexcept { m_stop.request_stop(); }

private:
    Function m_function;
    std::tuple<Args...> m_arguments;
    [[no_unique_address]] std::conditional_t<takes_stop_token, std::stop_source, no_stop_source>
        m_stop;
};

} // namespace unblock::detail
