/// \file map.hpp
/// `map`: run a blocking function on every input through an executor,
/// awaitably, with a bound on how many calls are in flight
/// (concurrent.futures' Executor.map, for coroutines).
#pragma once

#include "gather.hpp"
#include "offload.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace unblock {

/// How `map` runs its calls.
struct map_options {
    /// Calls in flight at once; 0: all of them (the executor queues what it
    /// cannot run yet).
    std::size_t max_concurrency = 0;
    /// Results in input order (true), or in the order the calls finished.
    bool ordered = true;
};

namespace detail {

template <class Executor, class Function, class Input>
using map_result_t =
    await_result_t<decltype(run_in_executor(std::declval<Executor>(), std::declval<Function&>(),
                                            std::declval<Input>()))>;

template <class Result, class Executor, class Function, class Input>
task<std::vector<Result>> map_each(Executor executor, Function f, std::vector<Input> inputs,
                                   map_options options) {
    const std::size_t count = inputs.size();
    std::vector<std::optional<Result>> in_order(options.ordered ? count : 0);
    std::vector<Result> as_finished;
    as_finished.reserve(options.ordered ? 0 : count);
    std::size_t next = 0;
    // Each runner takes the next input until none is left: at most
    // `max_concurrency` calls are in flight, and a failure stops every runner.
    auto runner = [&]() -> task<> {
        while (next != count) {
            const std::size_t i = next++;
            Result value = co_await run_in_executor(executor, f, std::move(inputs[i]));
            if (options.ordered) {
                in_order[i].emplace(std::move(value));
            } else {
                as_finished.push_back(std::move(value));
            }
        }
    };
    const std::size_t width =
        options.max_concurrency == 0 ? count : std::min(count, options.max_concurrency);
    std::vector<task<>> runners;
    runners.reserve(width);
    for (std::size_t k = 0; k != width; ++k)
        runners.push_back(runner());
    co_await gather(std::move(runners));
    if (!options.ordered) co_return as_finished;
    std::vector<Result> results;
    results.reserve(count);
    for (auto& value : in_order)
        results.push_back(std::move(*value));
    co_return results;
}

} // namespace detail

/// Runs `f(input)` for every input through `executor` (anything
/// `run_in_executor` accepts: a thread pool, a process pool, a custom
/// executor, nullptr for the loop's default) and returns the results, in
/// input order unless `options.ordered` is false. At most
/// `options.max_concurrency` calls are in flight (0: no bound).
///
/// As with `gather`, the first failure cancels the rest and is rethrown once
/// they have stopped: inputs not yet submitted are never run, calls queued
/// in the executor are withdrawn, and running ones are cancelled as their
/// future's `cancel()` does (a thread-pool call is asked to stop through its
/// stop token; a process-pool call's worker is killed). Bound
/// `max_concurrency` to limit what a failure interrupts. Cancelling the
/// awaiting task cancels every call the same way.
///
///     auto sizes = co_await unblock::map(pool, file_size, paths, {.max_concurrency = 8});
template <class Executor, class Function, class Input>
auto map(Executor&& executor, Function f, std::vector<Input> inputs, map_options options = {}) {
    using result = detail::map_result_t<Executor, Function, Input>;
    static_assert(!std::is_void_v<result>,
                  "unblock::map: the function returns void, so there are no results to collect; "
                  "use unblock::gather over run_in_executor calls instead");
    // A reference to an lvalue executor, a copy of a pointer or nullptr.
    return detail::map_each<result, Executor>(std::forward<Executor>(executor), std::move(f),
                                              std::move(inputs), options);
}

} // namespace unblock
