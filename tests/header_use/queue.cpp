// <unblock/queue.hpp> alone: put, get, the _nowait forms, task_done, join, shutdown.
#include <unblock/queue.hpp>
#include <unblock/queue.hpp> // the include guard holds

#include <string>

namespace {
unblock::task<std::size_t> main_task() {
    unblock::queue<std::string> lines(2);
    co_await lines.put("a");
    lines.put_nowait("b");
    std::string first = co_await lines.get();
    std::string second = lines.get_nowait();
    lines.task_done();
    lines.task_done();
    co_await lines.join();
    lines.shutdown();
    co_return first.size() + second.size() + lines.qsize() + (lines.full() ? 1U : 0U);
}
} // namespace

std::size_t header_use_queue() { return unblock::run(main_task()); }
