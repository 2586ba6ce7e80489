// What happens when a serving rank dies mid-call (mpi.rank_failure_ends_job):
// Open MPI 4.1 ends the whole job, rank 0 included, and mpirun exits non-zero
// naming the rank. The check is that nothing hangs and rank 0 does not go on
// as if the call had an answer (cmake/scripts/mpi_rank_failure_test.cmake).
#include <unblock/mpi.hpp>

#include <cstdio>
#include <cstdlib>

namespace {

int die(int code) {
    std::_Exit(code); // no MPI_Finalize: the rank is gone
}

} // namespace

int main(int argc, char* argv[]) {
    unblock::mpi_environment mpi(argc, argv);
    if (mpi.is_worker()) return mpi.serve();
    unblock::mpi_pool_executor pool(mpi);
    try {
        pool.submit(&die, 3).get();
    } catch (const std::exception& e) {
        std::printf("the call failed: %s\n", e.what());
    }
    std::puts("rank 0 went on");
    return 0;
}
