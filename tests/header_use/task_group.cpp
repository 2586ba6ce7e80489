// <unblock/task_group.hpp> alone: a group with a task, and exception_group.
#include <unblock/task_group.hpp>
#include <unblock/task_group.hpp> // the include guard holds

namespace {
unblock::task<int> one() { co_return 1; }
unblock::task<int> main_task() {
    int result =
        co_await unblock::with_task_group([](unblock::task_group& group) -> unblock::task<int> {
            auto child = group.create_task(one());
            co_return co_await child;
        });
    try {
        co_await unblock::with_task_group(
            [](unblock::task_group&) -> unblock::task<> { co_return; });
    } catch (const unblock::exception_group& e) {
        result += static_cast<int>(e.exceptions().size());
    }
    co_return result;
}
} // namespace

int header_use_task_group() { return unblock::run(main_task()); }
