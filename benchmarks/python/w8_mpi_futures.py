"""W8 for Python: mpi4py.futures' MPIPoolExecutor driven from asyncio's
run_in_executor, the peer of benchmarks/mpi/w8_mpi.cpp. Run as
`mpirun -np 3 python3 -m mpi4py.futures w8_mpi_futures.py` (rank 0 runs this
script, ranks 1-2 serve: the same ranks as unblock's). Prints
`W8 python-mpi4py median_us=... p99_us=... tasks_per_s=... efficiency=...`."""
import asyncio
import time

from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor

from bench_common import percentile, smoke_mode

SPIN_MS = 5


def add_one(x):
    return x + 1


def spin(ms):
    """Keeps this rank's core busy for ms milliseconds."""
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass
    return ms


async def main(warmup, rounds, tasks):
    loop = asyncio.get_running_loop()
    workers = MPI.COMM_WORLD.Get_size() - 1
    with MPIPoolExecutor() as pool:
        x = 0
        for _ in range(warmup):
            x = await loop.run_in_executor(pool, add_one, x)
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            x = await loop.run_in_executor(pool, add_one, x)
            samples.append((time.perf_counter() - start) * 1e6)
        start = time.perf_counter()
        done = await asyncio.gather(*(loop.run_in_executor(pool, spin, SPIN_MS)
                                      for _ in range(tasks)))
        tasks_per_s = tasks / (time.perf_counter() - start)
    assert x == warmup + rounds and done == [SPIN_MS] * tasks
    ideal = workers * 1000 / SPIN_MS
    print(f"W8 python-mpi4py median_us={percentile(samples, 50):.1f} "
          f"p99_us={percentile(samples, 99):.1f} tasks_per_s={tasks_per_s:.0f} "
          f"efficiency={tasks_per_s / ideal:.2f}", flush=True)


if __name__ == "__main__":
    smoke = smoke_mode()
    asyncio.run(main(10 if smoke else 100, 50 if smoke else 2000, 8 if smoke else 64))
