// <unblock/unblock.hpp> alone: everything together.
#include <unblock/unblock.hpp>
#include <unblock/unblock.hpp> // the include guard holds

namespace {
unblock::task<int> main_task() {
    auto [a, b] = co_await unblock::gather(unblock::to_thread([] { return 1; }),
                                           unblock::wait_for(unblock::to_thread([] { return 2; }),
                                                             std::chrono::seconds(5)));
    co_return a + b;
}
} // namespace

int header_use_unblock() { return unblock::run(main_task()); }
