/// \file benchmarks/support/measure.hpp
/// What every benchmark program needs: percentiles, peak memory, CPU time,
/// and the `W<k> <impl> key=value ...` output line of BENCHMARKS.md.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace bench {

using clock = std::chrono::steady_clock;

/// Nearest-rank percentile of `samples` (sorts them).
template <class T>
T percentile(std::vector<T>& samples, double p) {
    std::sort(samples.begin(), samples.end());
    const auto rank =
        static_cast<std::size_t>(p / 100.0 * static_cast<double>(samples.size()) + 0.999999);
    return samples[std::min(samples.size(), std::max<std::size_t>(rank, 1)) - 1];
}

/// The median of a few repetitions.
inline double median(std::vector<double> values) { return percentile(values, 50.0); }

/// Peak resident memory of this process in bytes (VmHWM of /proc/self/status).
inline long peak_rss_bytes() {
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key) {
        if (key == "VmHWM:") {
            long kib = 0;
            status >> kib;
            return kib * 1024;
        }
        status.ignore(4096, '\n');
    }
    return -1;
}

/// CPU time (user + system) this process has used.
inline std::chrono::microseconds process_cpu_time() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return std::chrono::seconds(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           std::chrono::microseconds(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

/// CPU time per operation in nanoseconds: what a round trip or a task costs
/// the machine, whichever thread spent it (spinning shows here, not in latency).
inline double cpu_ns_per_op(std::chrono::microseconds used, long operations) {
    return static_cast<double>(used.count()) * 1e3 / static_cast<double>(operations);
}

/// Workload sizes: full, or tiny with --smoke (so ctest can run them in seconds).
inline bool smoke_mode(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--smoke") return true;
    }
    return false;
}

} // namespace bench
