// expect-first-error: with_task_group: the body must return an awaitable
// A body that returns a plain value has nothing to await: the group could not
// wait for it. The message says to declare the lambda as returning a task.
#include <unblock/task_group.hpp>

void use() {
    auto group = unblock::with_task_group([](unblock::task_group&) { return 1; });
    (void)group;
}
