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

#include <pthread.h>
#include <unistd.h>

namespace {

pthread_t g_main_thread;
// Outside main_task's frame: the frame is freed once main is cancelled, and
// the signal that orders that after the pool thread's last look at the latch
// is an edge ThreadSanitizer cannot see.
std::latch g_call_started(1);
bool g_cleanup_ran = false;
bool g_stop_requested = false;

unblock::task<> main_task() {
    auto interrupt = unblock::create_task(unblock::to_thread([] {
        g_call_started.wait();
        // To the main thread rather than the process: clang 14's TSan defers a
        // signal that lands on a thread blocked in pthread_cond_wait (an idle
        // pool thread) until that wait ends, which made this test hang there.
        // Which thread runs the handler does not matter to the loop: it only
        // writes the loop's pipe.
        ::pthread_kill(g_main_thread, SIGINT);
    }));
    try {
        co_await unblock::to_thread([](std::stop_token stop) {
            g_call_started.count_down();
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
    // What the case is about: run() on the main thread with SIGINT at its
    // default action. A shell without job control starts background commands
    // with SIGINT ignored, and run() then rightly leaves it alone.
    ::signal(SIGINT, SIG_DFL);
    g_main_thread = ::pthread_self();
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
