// ctest signals.run_cancels_main_on_sigint: unblock::run() on the main thread
// cancels its main task on the first SIGINT. The main task waits on an
// offloaded call that stops through its stop token; SIGINT is sent once the
// call runs. Checks: the call was asked to stop, main's cleanup ran, run()
// threw interrupted_error, and SIGINT has its default action again.
// Exits 0 when all hold.
#include <unblock/unblock.hpp>

#include <csignal>
#include <cstdio>
#include <latch>
#include <stop_token>
#include <thread>

#include <unistd.h>

namespace {

bool g_cleanup_ran = false;
bool g_stop_requested = false;

unblock::task<> main_task() {
    std::latch call_started(1);
    auto interrupt = unblock::create_task(unblock::to_thread([&call_started] {
        call_started.wait();
        ::kill(::getpid(), SIGINT);
    }));
    try {
        co_await unblock::to_thread([&call_started](std::stop_token stop) {
            call_started.count_down();
            while (!stop.stop_requested())
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            g_stop_requested = true;
        });
    } catch (const unblock::cancelled_error&) {
        g_cleanup_ran = true;
        throw;
    }
}

} // namespace

int main() {
    bool interrupted = false;
    try {
        unblock::run(main_task());
    } catch (const unblock::interrupted_error& e) {
        interrupted = true;
        std::printf("run() threw: %s\n", e.what());
    }
    struct sigaction current {};
    ::sigaction(SIGINT, nullptr, &current);
    const bool restored = current.sa_handler == SIG_DFL;
    std::printf("interrupted=%d cleanup_ran=%d stop_requested=%d sigint_default_again=%d\n",
                interrupted, g_cleanup_ran, g_stop_requested, restored);
    return interrupted && g_cleanup_ran && g_stop_requested && restored ? 0 : 1;
}
