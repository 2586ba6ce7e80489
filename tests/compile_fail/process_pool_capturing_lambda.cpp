// expect-first-error: callable must be a function pointer or a capture-less lambda. pass data as
// A capturing lambda cannot be sent to a worker process: its captures live in
// this process. The message says to pass the data as arguments instead.
#include <unblock/process_pool.hpp>

int use(unblock::process_pool_executor& pool) {
    int offset = 5;
    return pool.submit([offset](int x) { return x + offset; }, 1).get();
}
