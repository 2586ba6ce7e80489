// <unblock/join_handle.hpp> alone: a handle awaited, with and without a timeout.
#include <unblock/join_handle.hpp>
#include <unblock/join_handle.hpp> // the include guard holds

namespace {
unblock::task<int> child() { co_return 1; }
unblock::task<int> main_task() {
    unblock::join_handle<int> first = unblock::create_task(child());
    unblock::join_handle<int> second = unblock::create_task(child());
    co_return co_await first + co_await second.wait_for(std::chrono::seconds(1));
}
} // namespace

int header_use_join_handle() { return unblock::run(main_task()); }
