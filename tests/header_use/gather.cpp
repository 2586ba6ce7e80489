// <unblock/gather.hpp> alone: the variadic and vector forms, with and without return_exceptions.
#include <unblock/gather.hpp>
#include <unblock/gather.hpp> // the include guard holds

#include <vector>

namespace {
unblock::task<int> one() { co_return 1; }
unblock::task<> nothing() { co_return; }
int one_now() { return 1; }
unblock::task<int> main_task() {
    auto [a, b] = co_await unblock::gather(one(), nothing());
    auto [c] = co_await unblock::gather(unblock::return_exceptions, one());
    std::vector<unblock::task<int>> tasks;
    tasks.push_back(one());
    std::vector<int> d = co_await unblock::gather(std::move(tasks));
    std::vector<decltype(unblock::to_thread(one_now))> calls;
    calls.push_back(unblock::to_thread(one_now));
    auto e = co_await unblock::gather(unblock::return_exceptions, std::move(calls));
    (void)b;
    co_return a + c.value() + d.at(0) + e.at(0).value();
}
} // namespace

int header_use_gather() { return unblock::run(main_task()); }
