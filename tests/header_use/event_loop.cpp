// <unblock/event_loop.hpp> alone: run, create_task, a callback and an offload.
#include <unblock/event_loop.hpp>
#include <unblock/event_loop.hpp> // the include guard holds

namespace {
unblock::task<int> child() { co_return 1; }
unblock::task<int> main_task() {
    auto& loop = unblock::get_running_loop();
    loop.call_soon([] {});
    (void)loop.call_later(std::chrono::milliseconds(1), [] {});
    auto handle = unblock::create_task(child(), "child");
    auto offloaded = loop.run_in_executor(nullptr, [] { return 2; });
    co_return co_await handle + co_await offloaded + co_await unblock::to_thread([] { return 3; });
}
} // namespace

int header_use_event_loop() { return unblock::run(main_task()); }
