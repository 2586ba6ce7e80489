// <unblock/condition.hpp> alone: wait_for, notify and notify_all under the lock.
#include <unblock/condition.hpp>
#include <unblock/condition.hpp> // the include guard holds

namespace {
unblock::task<bool> main_task() {
    unblock::condition cond;
    bool ready = false;
    auto guard = co_await cond.scoped();
    ready = true;
    cond.notify();
    cond.notify_all();
    co_return co_await cond.wait_for([&] { return ready; });
}
} // namespace

bool header_use_condition() { return unblock::run(main_task()); }
