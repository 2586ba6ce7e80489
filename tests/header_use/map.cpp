// <unblock/map.hpp> alone.
#include <unblock/map.hpp>
#include <unblock/map.hpp> // the include guard holds

#include <vector>

namespace {
int twice(int x) { return 2 * x; }
unblock::task<int> main_task() {
    const std::vector<int> inputs{1, 2};
    auto results = co_await unblock::map(nullptr, twice, inputs, {.max_concurrency = 1});
    co_return results.at(0) + results.at(1);
}
} // namespace

int header_use_map() { return unblock::run(main_task()); }
