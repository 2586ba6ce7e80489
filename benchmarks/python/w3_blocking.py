"""W3 blocking concurrency for Python asyncio (BENCHMARKS.md): 64 tasks each
offload `time.sleep(0.010)` with `asyncio.to_thread` to a ThreadPoolExecutor(64)
(the loop's default executor); total wall ms (ideal 10). cold_wall_ms is the
first round on the fresh pool, wall_ms the median of the next 5 rounds.
--smoke: 4 tasks x 1 ms on a 4-thread pool. Prints
`W3 python-asyncio cold_wall_ms=... wall_ms=...`."""
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from bench_common import IMPL, median, smoke_mode


async def round_ms(tasks, sleep_s):
    work = [asyncio.to_thread(time.sleep, sleep_s) for _ in range(tasks)]
    start = time.perf_counter()
    await asyncio.gather(*work)
    return (time.perf_counter() - start) * 1e3


async def main(tasks, sleep_s):
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(tasks))
    cold = await round_ms(tasks, sleep_s)
    warm = [await round_ms(tasks, sleep_s) for _ in range(5)]
    print(f"W3 {IMPL} cold_wall_ms={cold:.2f} wall_ms={median(warm):.2f}")


if __name__ == "__main__":
    smoke = smoke_mode()
    asyncio.run(main(4 if smoke else 64, 0.001 if smoke else 0.010))
