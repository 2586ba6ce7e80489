"""W5 loop overhead for Python asyncio (BENCHMARKS.md):
  (a) 100,000 tasks each `await asyncio.sleep(0)` 10 times: yields_per_s;
  (b) with --memory, in this fresh process: 100,000 tasks all suspended on
      `asyncio.sleep(1)`: bytes_per_task = (VmHWM after - before) / 100,000
      from /proc/self/status.
--smoke: 1,000 tasks. Prints `W5 python-asyncio yields_per_s=...` or
`W5 python-asyncio bytes_per_task=...`."""
import asyncio
import sys
import time

from bench_common import IMPL, peak_rss_bytes, smoke_mode


async def yielder(yields):
    for _ in range(yields):
        await asyncio.sleep(0)


async def yields(tasks, per_task):
    start = time.perf_counter()
    handles = [asyncio.create_task(yielder(per_task)) for _ in range(tasks)]
    for h in handles:
        await h
    seconds = time.perf_counter() - start
    print(f"W5 {IMPL} yields_per_s={tasks * per_task / seconds:.0f}")


async def sleeper():
    await asyncio.sleep(1)


async def memory(tasks):
    handles = [None] * tasks  # before the baseline: not per-task memory
    before = peak_rss_bytes()
    for i in range(tasks):
        handles[i] = asyncio.create_task(sleeper())
    await asyncio.sleep(0.010)  # every task has started and is suspended on its timer
    after = peak_rss_bytes()
    print(f"W5 {IMPL} bytes_per_task={(after - before) / tasks:.0f}")
    for h in handles:
        await h


if __name__ == "__main__":
    tasks = 1000 if smoke_mode() else 100000
    asyncio.run(memory(tasks) if "--memory" in sys.argv[1:] else yields(tasks, 10))
