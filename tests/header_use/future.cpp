// <unblock/future.hpp> alone: a future from run_in_executor, cancelled and awaited.
#include <unblock/future.hpp>
#include <unblock/future.hpp> // the include guard holds

namespace {
unblock::task<int> main_task() {
    unblock::future<int> value = unblock::run_in_executor(nullptr, [] { return 4; });
    unblock::future<void> dropped = unblock::run_in_executor(nullptr, [] {});
    (void)dropped.cancel();
    co_return co_await value;
}
} // namespace

int header_use_future() { return unblock::run(main_task()); }
