// <unblock/as_completed.hpp> alone.
#include <unblock/as_completed.hpp>
#include <unblock/as_completed.hpp> // the include guard holds

#include <vector>

namespace {
unblock::task<int> one() { co_return 1; }
unblock::task<int> main_task() {
    std::vector<unblock::task<int>> tasks;
    tasks.push_back(one());
    auto finished = unblock::as_completed(std::move(tasks));
    int sum = 0;
    while (auto done = co_await finished.next())
        sum += done->result();
    co_return sum;
}
} // namespace

int header_use_as_completed() { return unblock::run(main_task()); }
