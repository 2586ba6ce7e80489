/// \file when_any.hpp
/// `when_any`: the first of several awaitables to finish wins; the others are
/// cancelled and waited for.
#pragma once

#include "errors.hpp"
#include "gather.hpp"

#include <cstddef>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace unblock {

/// What `when_any` returns: which awaitable finished first (its position
/// among the arguments) and its value.
template <class Value>
struct any_result {
    std::size_t index;
    Value value;
};

namespace detail {

/// The position of `first` in `children`.
inline std::size_t index_of(std::span<task_state* const> children, const task_state* first) {
    std::size_t i = 0;
    while (children[i] != first)
        ++i;
    return i;
}

template <class... Awaitable, std::size_t... Index>
auto when_any_all(std::index_sequence<Index...>, Awaitable... awaitables)
    -> task<any_result<std::variant<gather_value_t<Awaitable>...>>> {
    // Braced initialisation: tasks are created (and so start) in argument order.
    std::tuple<join_handle<await_result_t<Awaitable>>...> handles{
        create_task(std::move(awaitables))...};
    const std::array<task_state*, sizeof...(Awaitable)> children{
        state_pointer(std::get<Index>(handles))...};
    gather_awaiter waiting(children, cancel_siblings::on_first_completion);
    co_await waiting;
    const std::size_t winner = index_of(children, waiting.first_finished());
    std::variant<gather_value_t<Awaitable>...> value;
    // Only the winner's value is taken; its exception, if it failed, is rethrown.
    static_cast<void>(
        ((winner == Index && (value.template emplace<Index>(
                                  take_value<gather_value_t<Awaitable>>(std::get<Index>(handles))),
                              true)) ||
         ...));
    co_return any_result<std::variant<gather_value_t<Awaitable>...>>{winner, std::move(value)};
}

} // namespace detail

/// Runs the awaitables concurrently (each as its own task); the first to
/// finish wins. The others are then cancelled, and `when_any` returns only
/// once they have stopped (nothing outlives the call). Returns the winner's
/// position and its value (a `std::variant` with one alternative per
/// argument, `std::monostate` for void), or rethrows the winner's exception.
/// Losers that fail while stopping go to the loop's exception handler.
/// Cancelling the awaiting task cancels every child.
///
///     auto [index, value] = co_await unblock::when_any(query(primary), query(replica));
template <class... Awaitable>
    requires(sizeof...(Awaitable) > 0 && (detail::awaitable<Awaitable> && ...))
auto when_any(Awaitable... awaitables)
    -> task<any_result<std::variant<detail::gather_value_t<Awaitable>...>>> {
    return detail::when_any_all(std::index_sequence_for<Awaitable...>{}, std::move(awaitables)...);
}

/// `when_any` over a vector: the first of `awaitables` to finish wins, and its
/// index and value are returned. Throws `std::invalid_argument` for an empty
/// vector (nothing could ever finish).
template <class Awaitable>
    requires detail::awaitable<Awaitable>
auto when_any(std::vector<Awaitable> awaitables)
    -> task<any_result<detail::gather_value_t<Awaitable>>> {
    if (awaitables.empty()) {
        throw std::invalid_argument(
            "unblock::when_any: no awaitables given, so none could ever finish; pass at least one");
    }
    auto [handles, children] = detail::start_each(awaitables);
    detail::gather_awaiter waiting(children, detail::cancel_siblings::on_first_completion);
    co_await waiting;
    const std::size_t winner = detail::index_of(children, waiting.first_finished());
    co_return any_result<detail::gather_value_t<Awaitable>>{
        winner, detail::take_value<detail::gather_value_t<Awaitable>>(handles[winner])};
}

} // namespace unblock
