// expect-first-error: process_pool_executor: no unblock::codec<T> for this argument type
// expect-also: codec_check<const int ?\*>
// A raw pointer would point into the parent's memory: there is no built-in
// codec for it.
#include <unblock/codec.hpp>
#include <unblock/process_pool.hpp>

static_assert(!unblock::codable<const int*>);

int first(const int* values) { return values[0]; }

void use(unblock::process_pool_executor& pool) {
    static const int data[] = {1, 2, 3};
    auto f = pool.submit(&first, data);
}
