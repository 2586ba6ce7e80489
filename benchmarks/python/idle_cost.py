"""Idle cost for Python asyncio (BENCHMARKS.md): 100 `asyncio.to_thread(noop)`
offloads to the loop's default executor, a ThreadPoolExecutor(2), then the
loop's only task sleeps 1 s (50 ms with --smoke); CPU time (user + sys,
getrusage RUSAGE_SELF) used in that window. Prints
`IDLE python-asyncio cpu_ms_per_s=...`."""
import asyncio
from concurrent.futures import ThreadPoolExecutor

from bench_common import IMPL, process_cpu_seconds, smoke_mode


def noop():
    pass


async def idle(window_s):
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
    for _ in range(100):
        await asyncio.to_thread(noop)  # the pool has just worked
    cpu_before = process_cpu_seconds()
    await asyncio.sleep(window_s)
    used_s = process_cpu_seconds() - cpu_before
    print(f"IDLE {IMPL} cpu_ms_per_s={used_s * 1e3 / window_s:.3f}")


if __name__ == "__main__":
    asyncio.run(idle(0.050 if smoke_mode() else 1.0))
