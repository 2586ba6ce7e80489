// expect-first-error: no unblock::codec<T> for the result type. specialize unblock::codec<T>
// expect-also: codec_check<std::unique_ptr<int
// A result type with no codec cannot come back from a worker.
#include <unblock/process_pool.hpp>

#include <memory>

std::unique_ptr<int> make(int x) { return std::make_unique<int>(x); }

void use(unblock::process_pool_executor& pool) { auto f = pool.submit(&make, 1); }
