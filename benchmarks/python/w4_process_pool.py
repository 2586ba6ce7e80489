"""W4 for Python asyncio (BENCHMARKS.md): 2,000 sequential run_in_executor
calls of f(x) = x + 1 on a 2-worker ProcessPoolExecutor after 100 warm-up
calls (10 and 50 with --smoke); prints `W4 python-asyncio median_us=... p99_us=...`."""
import asyncio
import time
from concurrent.futures import ProcessPoolExecutor

from bench_common import IMPL, percentile, smoke_mode


def add_one(x):
    return x + 1


async def main(warmup, rounds):
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(2) as pool:
        x = 0
        for _ in range(warmup):
            x = await loop.run_in_executor(pool, add_one, x)
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            x = await loop.run_in_executor(pool, add_one, x)
            samples.append((time.perf_counter() - start) * 1e6)
    print(f"W4 {IMPL} median_us={percentile(samples, 50):.1f} p99_us={percentile(samples, 99):.1f}")


if __name__ == "__main__":
    smoke = smoke_mode()
    asyncio.run(main(10 if smoke else 100, 50 if smoke else 2000))
