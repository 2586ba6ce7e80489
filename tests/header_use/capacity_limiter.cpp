// <unblock/capacity_limiter.hpp> alone: run(f, args...) and acquire/release.
#include <unblock/capacity_limiter.hpp>
#include <unblock/capacity_limiter.hpp> // the include guard holds

namespace {
int twice(int x) { return 2 * x; }
unblock::task<int> main_task() {
    unblock::capacity_limiter limiter(2);
    co_await limiter.acquire();
    limiter.release();
    co_return co_await limiter.run(twice, 21);
}
} // namespace

int header_use_capacity_limiter() { return unblock::run(main_task()); }
