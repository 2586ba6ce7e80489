// <unblock/when_any.hpp> alone: variadic and vector forms.
#include <unblock/when_any.hpp>
#include <unblock/when_any.hpp> // the include guard holds

#include <variant>
#include <vector>

namespace {
unblock::task<int> one() { co_return 1; }
unblock::task<int> main_task() {
    auto first = co_await unblock::when_any(one(), one());
    std::vector<unblock::task<int>> tasks;
    tasks.push_back(one());
    auto second = co_await unblock::when_any(std::move(tasks));
    co_return std::get<0>(first.value) + second.value + static_cast<int>(first.index);
}
} // namespace

int header_use_when_any() { return unblock::run(main_task()); }
