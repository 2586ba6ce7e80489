// <unblock/gather.hpp> alone: the variadic, return_exceptions and vector forms.
#include <unblock/gather.hpp>
#include <unblock/gather.hpp> // the include guard holds

#include <vector>

namespace {
unblock::task<int> one() { co_return 1; }
unblock::task<> nothing() { co_return; }
unblock::task<int> main_task() {
    auto [a, b] = co_await unblock::gather(one(), nothing());
    auto [c] = co_await unblock::gather(unblock::return_exceptions, one());
    std::vector<unblock::task<int>> tasks;
    tasks.push_back(one());
    std::vector<int> d = co_await unblock::gather(std::move(tasks));
    (void)b;
    co_return a + c.value() + d.at(0);
}
} // namespace

int header_use_gather() { return unblock::run(main_task()); }
