// expect-first-error: process_pool_executor: the callable must be a function pointer or a
// capture-less A std::function may hold state (and is not a plain function): rejected by start() as
// well as submit().
#include <unblock/process_pool.hpp>

#include <functional>

int twice(int x) { return 2 * x; }

void use(unblock::process_pool_executor& pool) {
    std::function<int(int)> f = &twice;
    auto call = pool.start([] {}, f, 1);
}
