// <unblock/event.hpp> alone: set, wait, clear.
#include <unblock/event.hpp>
#include <unblock/event.hpp> // the include guard holds

namespace {
unblock::task<bool> main_task() {
    unblock::event ready;
    ready.set();
    co_await ready.wait();
    ready.clear();
    co_return ready.is_set();
}
} // namespace

bool header_use_event() { return unblock::run(main_task()); }
