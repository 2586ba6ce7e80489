// <unblock/mpi.hpp> alone: an environment, an executor, submit, map and
// run_in_executor (compiled only: running it needs mpirun; tests/mpi does).
#include <unblock/mpi.hpp>
#include <unblock/mpi.hpp> // the include guard holds

#include <string>
#include <vector>

namespace {
int square(int x) { return x * x; }
std::string greet(std::string name) { return "hello " + name; }
unblock::task<std::string> main_task(unblock::mpi_pool_executor& pool) {
    co_return co_await unblock::run_in_executor(pool, greet, std::string("you"));
}
} // namespace

int header_use_mpi(int argc, char** argv) {
    unblock::mpi_environment mpi(argc, argv);
    if (mpi.is_worker()) return mpi.serve();
    unblock::mpi_pool_executor pool(mpi, {.spawn_workers = 1});
    const int squared = pool.submit(square, 3).get();
    const std::vector<int> squares = pool.map(square, std::vector<int>{1, 2});
    return squared + static_cast<int>(squares.size() + unblock::run(main_task(pool)).size()) +
           pool.workers();
}
