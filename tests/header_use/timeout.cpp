// <unblock/timeout.hpp> alone: timeout, timeout_at and the scope.
#include <unblock/timeout.hpp>
#include <unblock/timeout.hpp> // the include guard holds

#include <chrono>

namespace {
unblock::task<int> one() { co_return 1; }
unblock::task<int> main_task() {
    using namespace std::chrono_literals;
    const int a = co_await unblock::timeout(1s, one());
    const int b =
        co_await unblock::timeout_at(unblock::get_running_loop().time() + 1s,
                                     [](unblock::timeout_scope& scope) -> unblock::task<int> {
                                         scope.reschedule(scope.when() + 1s);
                                         co_return scope.expired() ? 0 : 1;
                                     });
    co_return a + b;
}
} // namespace

int header_use_timeout() { return unblock::run(main_task()); }
