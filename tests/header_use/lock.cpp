// <unblock/lock.hpp> alone: lock, acquire/release and scoped().
#include <unblock/lock.hpp>
#include <unblock/lock.hpp> // the include guard holds

namespace {
unblock::task<bool> main_task() {
    unblock::lock mutex;
    co_await mutex.acquire();
    mutex.release();
    auto guard = co_await mutex.scoped();
    co_return mutex.locked();
}
} // namespace

bool header_use_lock() { return unblock::run(main_task()); }
