"""What every Python asyncio peer needs (the counterpart of
benchmarks/support/measure.hpp): the impl name, --smoke, nearest-rank
percentiles, peak memory and process CPU time."""
import math
import resource
import sys

IMPL = "python-asyncio"


def smoke_mode():
    """Tiny workload sizes with --smoke (so ctest can run the peers in seconds)."""
    return "--smoke" in sys.argv[1:]


def percentile(samples, p):
    """Nearest-rank percentile of samples (BENCHMARKS.md)."""
    samples = sorted(samples)
    rank = max(1, math.ceil(p * len(samples) / 100))
    return samples[min(rank, len(samples)) - 1]


def median(values):
    """The median of a few repetitions (nearest rank, like unblock's)."""
    return percentile(values, 50)


def peak_rss_bytes():
    """Peak resident memory of this process in bytes (VmHWM of /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return -1


def process_cpu_seconds():
    """CPU time (user + system) this process has used, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
