// <unblock/wait.hpp> alone.
#include <unblock/wait.hpp>
#include <unblock/wait.hpp> // the include guard holds

#include <vector>

namespace {
unblock::task<int> one() { co_return 1; }
unblock::task<int> main_task() {
    std::vector<unblock::join_handle<int>> handles;
    handles.push_back(unblock::create_task(one()));
    auto [done, pending] =
        co_await unblock::wait(std::move(handles), unblock::return_when::first_completed);
    co_return done.at(0).result() + static_cast<int>(pending.size());
}
} // namespace

int header_use_wait() { return unblock::run(main_task()); }
