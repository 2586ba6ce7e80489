// Example 3 of the asyncio tutorial, in C++: a CPU-bound task run in a
// 4-worker process_pool_executor with run_in_executor(); main goes on, sleeps,
// then awaits the result and shuts the pool down.
//
// Prints (lines 2 and 3 may come in either order, as in Python):
//   Main running the blocking task
//   Main doing other things
//   Task starting
//   Task done
#include <unblock/unblock.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>

using namespace std::chrono_literals;

/// Prints a line at once (Python's print(..., flush=True)); whole lines even across processes.
void print(const char* line) {
    std::puts(line);
    std::fflush(stdout);
}

// a blocking cpu-bound task
void blocking_task() {
    // report a message
    print("Task starting");
    // block for a while
    double data = 0;
    for (long i = 0; i < 50'000'000; ++i)
        data += std::sqrt(static_cast<double>(i));
    // report a message
    print(data > 0 ? "Task done" : "Task failed");
}

// main coroutine
unblock::task<> main_coroutine() {
    // report a message
    print("Main running the blocking task");
    // get the event loop
    unblock::event_loop& loop = unblock::get_running_loop();
    // create the executor
    unblock::process_pool_executor exe(4);
    // schedule the function to run
    auto awaitable = loop.run_in_executor(exe, blocking_task);
    // report a message
    print("Main doing other things");
    // sleep a moment
    co_await unblock::sleep(1s);
    // await the task
    co_await awaitable;
    // close the process pool
    exe.shutdown();
}

// run the program
int main() { unblock::run(main_coroutine()); }
