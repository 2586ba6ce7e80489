// <unblock/shield.hpp> alone.
#include <unblock/shield.hpp>
#include <unblock/shield.hpp> // the include guard holds

namespace {
unblock::task<int> one() { co_return 1; }
unblock::task<int> main_task() { co_return co_await unblock::shield(one()); }
} // namespace

int header_use_shield() { return unblock::run(main_task()); }
