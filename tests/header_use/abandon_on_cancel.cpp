// <unblock/abandon_on_cancel.hpp> alone.
#include <unblock/abandon_on_cancel.hpp>
#include <unblock/abandon_on_cancel.hpp> // the include guard holds

namespace {
int one() { return 1; }
unblock::task<int> main_task() {
    co_return co_await unblock::to_thread(unblock::abandon_on_cancel, one);
}
} // namespace

int header_use_abandon_on_cancel() { return unblock::run(main_task()); }
