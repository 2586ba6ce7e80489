// Example 1 of the asyncio tutorial, in C++: a blocking I/O-bound task run
// with to_thread(), scheduled as a task, while main goes on.
//
// Prints:
//   Main running the blocking task
//   Main doing other things
//   Task starting
//   Task done            (2 s later)
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
    // create a coroutine for the blocking task
    auto coro = unblock::to_thread(blocking_task);
    // schedule the task
    auto task = unblock::create_task(std::move(coro));
    // report a message
    print("Main doing other things");
    // allow the scheduled task to start
    co_await unblock::sleep(0s);
    // await the task
    co_await task;
}

// run the program
int main() { unblock::run(main_coroutine()); }
