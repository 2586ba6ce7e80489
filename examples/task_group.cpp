// A task group whose second task fails (asyncio.TaskGroup).
//
// Three downloads run in one group. The second fails; the group cancels the
// other two (their cleanup runs), waits for them, and reports the failure as
// an exception_group. Nothing started in the group outlives it.
#include <unblock/unblock.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;

/// A blocking download: sleeps, as a slow network call would. Watches its
/// stop token, so a cancelled group does not wait for the full second.
std::string fetch(std::stop_token stop, std::string url, int tenths) {
    for (int i = 0; i < tenths * 10 && !stop.stop_requested(); ++i)
        std::this_thread::sleep_for(10ms);
    if (url == "https://example.org/b") throw std::runtime_error("HTTP 503 from " + url);
    return "<html> of " + url;
}

unblock::task<> download(std::string url, int tenths) {
    try {
        std::string page = co_await unblock::to_thread(fetch, url, tenths);
        std::printf("downloaded %s\n", url.c_str());
    } catch (const unblock::cancelled_error&) {
        std::printf("cancelled %s\n", url.c_str());
        throw; // let the group see the cancellation
    }
}

unblock::task<int> main_task() {
    try {
        co_await unblock::with_task_group([](unblock::task_group& group) -> unblock::task<> {
            group.start_soon(download("https://example.org/a", 10));
            group.start_soon(download("https://example.org/b", 1)); // fails first
            group.start_soon(download("https://example.org/c", 10));
            co_return;
        });
    } catch (const unblock::exception_group& failures) {
        std::printf("the group failed: %zu error(s)\n", failures.exceptions().size());
        for (const std::exception_ptr& error : failures.exceptions()) {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                std::printf("  %s\n", e.what());
            }
        }
        co_return 0;
    }
    std::printf("the group succeeded (unexpected)\n");
    co_return 1;
}

int main() { return unblock::run(main_task()); }
