/// \file wait.hpp
/// `wait`: wait for some or all of a set of tasks, without cancelling any
/// (asyncio.wait).
#pragma once

#include "as_completed.hpp"
#include "join_handle.hpp"

#include <utility>
#include <vector>

namespace unblock {

/// When `wait` returns (asyncio's FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED).
enum class return_when {
    first_completed, ///< as soon as one task has finished
    first_exception, ///< as soon as one task failed (not by cancellation), or all finished
    all_completed,   ///< when every task has finished
};

/// The tasks `wait` was given, split into finished and not finished.
template <class Value>
struct wait_result {
    std::vector<join_handle<Value>> done;    ///< finished, in completion order
    std::vector<join_handle<Value>> pending; ///< still running
};

/// Waits until `when` holds for `handles` (asyncio.wait) and returns them as
/// `{done, pending}`; a finished handle's `result()` returns or rethrows.
/// Nothing is cancelled when it returns: the pending tasks run on, and the
/// caller decides (await them, cancel them, wait again). If the awaiting task
/// is cancelled, the tasks it holds are cancelled (the caller no longer has
/// their handles; asyncio would leave them running unobserved).
///
///     auto [done, pending] = co_await unblock::wait(std::move(tasks),
///     unblock::return_when::first_completed);
template <class Value>
task<wait_result<Value>> wait(std::vector<join_handle<Value>> handles,
                              return_when when = return_when::all_completed) {
    as_completed_tasks<Value> finishing(std::move(handles));
    wait_result<Value> result;
    while (auto task = co_await finishing.next()) {
        const detail::task_state* state = detail::loop_access::state_of(*task);
        const bool failed = state->m_exception && !state->m_cancelled;
        result.done.push_back(std::move(*task));
        if (when == return_when::first_completed ||
            (when == return_when::first_exception && failed)) {
            break;
        }
    }
    for (auto& handle : finishing.release()) {
        (handle.done() ? result.done : result.pending).push_back(std::move(handle));
    }
    co_return result;
}

} // namespace unblock
