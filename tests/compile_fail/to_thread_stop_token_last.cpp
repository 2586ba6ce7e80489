// expect-first-error: takes std::stop_token last. unblock passes the stop token first
// A function that takes its stop token last: the first error says to move it
// first, before anything about std::invoke_result.
#include <unblock/unblock.hpp>

#include <stop_token>

int count_up(int limit, std::stop_token stop) { return stop.stop_requested() ? 0 : limit; }

unblock::task<int> body() { co_return co_await unblock::to_thread(count_up, 10); }

int main() { return unblock::run(body()); }
