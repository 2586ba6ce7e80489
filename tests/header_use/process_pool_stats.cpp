// <unblock/process_pool_stats.hpp> alone.
#include <unblock/process_pool_stats.hpp>
#include <unblock/process_pool_stats.hpp> // the include guard holds

std::size_t header_use_process_pool_stats() {
    const unblock::process_pool_stats stats{};
    return stats.workers + stats.worker_pids.size();
}
