// expect-first-error: process_pool_executor: the arguments do not match the callable.s parameters
// Wrong arguments are caught at the call site with a clear message, not deep
// inside the pool.
#include <unblock/process_pool.hpp>

#include <string>

int length(const std::string& s) { return static_cast<int>(s.size()); }

void use(unblock::process_pool_executor& pool) { auto f = pool.submit(&length, 1, 2); }
