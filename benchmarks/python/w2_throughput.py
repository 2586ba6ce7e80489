"""W2 throughput for Python asyncio (BENCHMARKS.md): create N tasks at once,
each awaiting one `asyncio.to_thread(noop)` on a ThreadPoolExecutor(2) (the
loop's default executor); time from the first start to the last completion.
N = 10,000 and 100,000 (100 with --smoke), median of 3 after a warm-up batch.
Prints `W2 python-asyncio n=... tasks_per_s=... cpu_ns_per_op=...` (no allocation count: that
key is for C++/Rust only)."""
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from bench_common import IMPL, median, process_cpu_seconds, smoke_mode


def noop():
    pass


async def offload_once():
    await asyncio.to_thread(noop)


async def batch(n):
    """Runs one batch; returns its wall time in seconds."""
    start = time.perf_counter()
    await asyncio.gather(*[asyncio.create_task(offload_once()) for _ in range(n)])
    return time.perf_counter() - start


async def main(sizes):
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
    for n in sizes:
        await batch(n)  # warm-up: threads started, memory grown
        cpu_before = process_cpu_seconds()
        rates = [n / await batch(n) for _ in range(3)]
        cpu_ns = (process_cpu_seconds() - cpu_before) * 1e9 / (3 * n)
        print(f"W2 {IMPL} n={n} tasks_per_s={median(rates):.0f} cpu_ns_per_op={cpu_ns:.0f}")


if __name__ == "__main__":
    asyncio.run(main([100] if smoke_mode() else [10000, 100000]))
