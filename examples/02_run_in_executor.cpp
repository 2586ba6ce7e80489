// Example 2 of the asyncio tutorial, in C++: run_in_executor() with the
// default executor starts the blocking call at once; main never awaits it.
//
// Prints (the first two lines after the first may come in either order, as in Python):
//   Main running the blocking task
//   Task starting
//   Main doing other things
//   Task done
#include <unblock/unblock.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

using namespace std::chrono_literals;

/// Prints a line at once (Python's print(..., flush=True)); whole lines even across threads.
void print(const char* line) {
    std::puts(line);
    std::fflush(stdout);
}

// a blocking io-bound task
void blocking_task() {
    // report a message
    print("Task starting");
    // block for a while
    std::this_thread::sleep_for(2s);
    // report a message
    print("Task done");
}

// main coroutine
unblock::task<> main_coroutine() {
    // report a message
    print("Main running the blocking task");
    // get the event loop
    unblock::event_loop& loop = unblock::get_running_loop();
    // schedule the function to run
    auto awaitable = loop.run_in_executor(nullptr, blocking_task);
    // report a message
    print("Main doing other things");
    // allow the scheduled task to start
    co_await unblock::sleep(3s);
}

// run the program
int main() { unblock::run(main_coroutine()); }
