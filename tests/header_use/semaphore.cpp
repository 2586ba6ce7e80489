// <unblock/semaphore.hpp> alone: semaphore and bounded_semaphore.
#include <unblock/semaphore.hpp>
#include <unblock/semaphore.hpp> // the include guard holds

namespace {
unblock::task<int> main_task() {
    unblock::semaphore slots(2);
    unblock::bounded_semaphore bounded(1);
    co_await slots.acquire();
    { auto guard = co_await slots.scoped(); }
    slots.release();
    co_await bounded.acquire();
    bounded.release();
    co_return slots.locked() ? 0 : static_cast<int>(slots.value());
}
} // namespace

int header_use_semaphore() { return unblock::run(main_task()); }
