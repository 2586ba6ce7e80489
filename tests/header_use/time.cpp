// <unblock/time.hpp> alone: sleep, sleep_until and wait_for.
#include <unblock/time.hpp>
#include <unblock/time.hpp> // the include guard holds

namespace {
unblock::task<int> slow() {
    co_await unblock::sleep(std::chrono::milliseconds(1));
    co_return 5;
}
unblock::task<int> main_task() {
    co_await unblock::sleep(std::chrono::seconds(0));
    co_await unblock::sleep_until(unblock::get_running_loop().time());
    co_return co_await unblock::wait_for(slow(), std::chrono::seconds(5));
}
} // namespace

int header_use_time() { return unblock::run(main_task()); }
