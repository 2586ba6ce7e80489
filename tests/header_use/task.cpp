// <unblock/task.hpp> alone: a coroutine that awaits another.
#include <unblock/task.hpp>
#include <unblock/task.hpp> // the include guard holds

namespace {
unblock::task<int> answer() { co_return 42; }
unblock::task<int> twice() { co_return 2 * co_await answer(); }
} // namespace

unblock::task<int> header_use_task() { return twice(); }
