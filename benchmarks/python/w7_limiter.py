"""W7 limited offloading for Python asyncio (BENCHMARKS.md): create N tasks at
once, each running `asyncio.to_thread(noop)` under an `asyncio.Semaphore(8)`
on a ThreadPoolExecutor(2) (the loop's default executor); time from the first
start to the last completion. N = 100,000 (100 with --smoke), median of 3
after a warm-up batch. Prints `W7 python-asyncio n=... tasks_per_s=...
cpu_ns_per_op=...`."""
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from bench_common import IMPL, median, process_cpu_seconds, smoke_mode


def noop():
    pass


async def offload_once(limiter):
    async with limiter:
        await asyncio.to_thread(noop)


async def batch(n, limiter):
    """Runs one batch; returns its wall time in seconds."""
    start = time.perf_counter()
    await asyncio.gather(*[asyncio.create_task(offload_once(limiter)) for _ in range(n)])
    return time.perf_counter() - start


async def main(n):
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
    limiter = asyncio.Semaphore(8)
    await batch(n, limiter)  # warm-up
    cpu_before = process_cpu_seconds()
    rates = [n / await batch(n, limiter) for _ in range(3)]
    cpu_ns = (process_cpu_seconds() - cpu_before) * 1e9 / (3 * n)
    print(f"W7 {IMPL} n={n} tasks_per_s={median(rates):.0f} cpu_ns_per_op={cpu_ns:.0f}")


if __name__ == "__main__":
    asyncio.run(main(100 if smoke_mode() else 100000))
