// <unblock/process_pool.hpp> alone: submit, map and run_in_executor.
#include <unblock/process_pool.hpp>
#include <unblock/process_pool.hpp> // the include guard holds

#include <string>
#include <vector>

namespace {
int square(int x) { return x * x; }
std::string greet(std::string name) { return "hello " + name; }
unblock::task<std::string> main_task(unblock::process_pool_executor& pool) {
    co_return co_await unblock::run_in_executor(pool, greet, std::string("you"));
}
} // namespace

std::size_t header_use_process_pool() {
    unblock::process_pool_executor pool(1);
    const int squared = pool.submit(square, 3).get();
    const std::vector<int> squares = pool.map(square, std::vector<int>{1, 2});
    const unblock::process_pool_stats stats = pool.stats();
    return static_cast<std::size_t>(squared) + squares.size() + stats.workers +
           unblock::run(main_task(pool)).size();
}
