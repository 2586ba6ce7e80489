"""W1 round-trip latency for Python asyncio (BENCHMARKS.md): a coroutine on
the loop thread sequentially awaits `asyncio.to_thread(noop)`, the loop's
default executor being a ThreadPoolExecutor(2), and resumes on the loop
thread; 1,000 warm-up round trips, then 20,000 timed one by one
(time.perf_counter_ns). Prints `W1 python-asyncio median_ns=... p99_ns=...
cpu_ns_per_op=...`
and exits 1 (saying so on stderr) if any resumption was off the loop thread."""
import asyncio
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench_common import IMPL, percentile, process_cpu_seconds, smoke_mode


def noop():
    pass


async def main(warmup, rounds):
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
    loop_thread = threading.get_ident()
    off_loop = 0
    for _ in range(warmup):
        await asyncio.to_thread(noop)
        off_loop += threading.get_ident() != loop_thread
    samples = []
    cpu_before = process_cpu_seconds()
    for _ in range(rounds):
        start = time.perf_counter_ns()
        await asyncio.to_thread(noop)
        end = time.perf_counter_ns()
        off_loop += threading.get_ident() != loop_thread
        samples.append(end - start)
    cpu_ns = (process_cpu_seconds() - cpu_before) * 1e9 / rounds
    print(
        f"W1 {IMPL} median_ns={percentile(samples, 50)} p99_ns={percentile(samples, 99)}"
        f" cpu_ns_per_op={cpu_ns:.0f}"
    )
    if off_loop:
        print(f"W1: {off_loop} resumptions off the loop thread", file=sys.stderr)
    return 0 if off_loop == 0 else 1


if __name__ == "__main__":
    smoke = smoke_mode()
    sys.exit(asyncio.run(main(10 if smoke else 1000, 100 if smoke else 20000)))
