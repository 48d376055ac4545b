"""simloop benchmarks: wall time of each workload on SimLoop, as a ratio of stock asyncio's.

    python bench/run.py            # the full set (a few minutes)
    python bench/run.py --scale 0.1 --repeat 1   # a quick look

Every workload runs on stock asyncio (the default selector loop), on SimLoop with the Fifo
scheduler, and on SimLoop with RandomWalk, in this process, one after the other, so the ratios
compare like with like on whatever machine runs them. A ratio below 1 means SimLoop is faster.
Each figure is the best of ``--repeat`` runs.

The "exploration" rows compare ``simloop.explore`` of a small program (random walks, and the
default Portfolio) with ``asyncio.run`` of the same program, run as many times, in runs/s. Their
last column runs the program on one stock loop made beforehand, with nothing around each run
but ``run_until_complete``: the program's own steps at stock asyncio's speed, and so the most
that saving per-run work can give against ``asyncio.run`` without making the steps faster.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import random
import sys
import tracemalloc
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simloop

# The real clock: inside a simulation, time.perf_counter reads virtual time (every reference
# to it, even one bound before the run).
perf_counter = simloop.lowlevel.real_time_functions()["perf_counter"]

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def stock_loop() -> asyncio.AbstractEventLoop:
    return asyncio.SelectorEventLoop()


def fifo_loop() -> asyncio.AbstractEventLoop:
    return simloop.SimLoop(max_steps=None)


def random_loop() -> asyncio.AbstractEventLoop:
    return simloop.SimLoop(seed=12345, max_steps=None)


def run_on(factory: LoopFactory, coro: Coroutine[Any, Any, Any]) -> Any:
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


# --- workloads: each returns the seconds its measured part took ------------------------------


def callbacks(factory: LoopFactory, scale: float) -> float:
    """A chain of call_soon callbacks, each scheduling the next."""
    n = int(1_000_000 * scale)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        left = n

        def tick() -> None:
            nonlocal left
            left -= 1
            if left:
                loop.call_soon(tick)
            else:
                done.set_result(None)

        t0 = perf_counter()
        loop.call_soon(tick)
        await done
        return perf_counter() - t0

    return run_on(factory, main())


def yields(factory: LoopFactory, scale: float) -> float:
    """1,000 tasks, each doing 1,000 sleep(0)."""
    tasks, rounds = 1000, int(1000 * scale)

    async def worker() -> None:
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def main() -> float:
        t0 = perf_counter()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        return perf_counter() - t0

    return run_on(factory, main())


def sleeps(factory: LoopFactory, scale: float) -> float:
    """10,000 tasks, each sleeping 20 random durations under a millisecond."""
    tasks, rounds = int(10_000 * scale), 20
    rng = random.Random(7)
    delays = [[rng.random() / 1000 for _ in range(rounds)] for _ in range(tasks)]

    async def worker(mine: list[float]) -> None:
        for d in mine:
            await asyncio.sleep(d)

    async def main() -> float:
        t0 = perf_counter()
        await asyncio.gather(*(worker(d) for d in delays))
        return perf_counter() - t0

    return run_on(factory, main())


def queue_ping_pong(factory: LoopFactory, scale: float) -> float:
    """Two tasks passing 200k messages through two queues."""
    n = int(100_000 * scale)

    async def main() -> float:
        there: asyncio.Queue[int] = asyncio.Queue()
        back: asyncio.Queue[int] = asyncio.Queue()

        async def ping() -> None:
            for i in range(n):
                await there.put(i)
                await back.get()

        async def pong() -> None:
            for _ in range(n):
                await back.put(await there.get())

        t0 = perf_counter()
        await asyncio.gather(ping(), pong())
        return perf_counter() - t0

    return run_on(factory, main())


def locks(factory: LoopFactory, scale: float) -> float:
    """100 tasks, each acquiring and releasing one shared lock 1,000 times."""
    tasks, rounds = 100, int(1000 * scale)

    async def main() -> float:
        lock = asyncio.Lock()

        async def worker() -> None:
            for _ in range(rounds):
                async with lock:
                    await asyncio.sleep(0)

        t0 = perf_counter()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        return perf_counter() - t0

    return run_on(factory, main())


def gathers(factory: LoopFactory, scale: float) -> float:
    """1,000 rounds of gather() over 100 fresh tasks."""
    rounds, width = int(1000 * scale), 100

    async def child(i: int) -> int:
        await asyncio.sleep(0)
        return i

    async def main() -> float:
        t0 = perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(child(i) for i in range(width)))
        return perf_counter() - t0

    return run_on(factory, main())


async def two_task_scenario() -> int:
    event = asyncio.Event()
    box: list[int] = []

    async def producer() -> None:
        await asyncio.sleep(0)
        box.append(1)
        event.set()

    async def consumer() -> int:
        await event.wait()
        return box[0]

    _, value = await asyncio.gather(producer(), consumer())
    return value


def fresh_loops(factory: LoopFactory, scale: float) -> float:
    """1,000 fresh loops, each running a two-task scenario to completion (reported as runs/s)."""
    n = max(1, int(1000 * scale))
    t0 = perf_counter()
    for _ in range(n):
        run_on(factory, two_task_scenario())
    return perf_counter() - t0


def fresh_runs(factory: LoopFactory, scale: float) -> float:
    """The same 1,000 runs through each loop's own entry point: ``asyncio.run`` for stock
    asyncio, ``simloop.run`` for SimLoop (what ``simloop.explore`` does for each schedule)."""
    n = max(1, int(1000 * scale))
    if factory is stock_loop:

        def once() -> None:
            asyncio.run(two_task_scenario())

    else:
        seed = None if factory is fifo_loop else 12345

        def once() -> None:
            simloop.run(two_task_scenario(), seed=seed)

    t0 = perf_counter()
    for _ in range(n):
        once()
    return perf_counter() - t0


async def ten_task_scenario() -> int:
    """Ten workers sharing a lock and a queue: about 100 steps."""
    lock = asyncio.Lock()
    queue: asyncio.Queue[int] = asyncio.Queue()
    total = 0

    async def worker(i: int) -> None:
        nonlocal total
        for _ in range(3):
            async with lock:
                value = total
                await asyncio.sleep(0)
                total = value + 1
            await queue.put(i)

    await asyncio.gather(*(worker(i) for i in range(10)))
    return total + queue.qsize()


#: Programs explored by the "exploration" rows: (name, main).
EXPLORED: list[tuple[str, Callable[[], Coroutine[Any, Any, Any]]]] = [
    ("2 tasks, ~10 steps", two_task_scenario),
    ("10 tasks, ~100 steps", ten_task_scenario),
]

#: The searches the "exploration" rows measure, by registered name.
EXPLORE_SEARCHES = ("random", "portfolio")


def stock_runs(main: Callable[[], Coroutine[Any, Any, Any]], n: int) -> float:
    """Seconds for ``n`` runs of ``main`` with ``asyncio.run``: a fresh stock loop each."""
    t0 = perf_counter()
    for _ in range(n):
        asyncio.run(main())
    return perf_counter() - t0


def stock_steps_only(main: Callable[[], Coroutine[Any, Any, Any]], n: int) -> float:
    """Seconds for ``n`` runs of ``main`` on one stock loop made beforehand, with nothing
    around each run but ``run_until_complete``: what the program's own steps cost stock
    asyncio. ``asyncio.run``'s rate divided by this one's is the most any tool that executes
    the steps at stock asyncio's speed can reach against ``asyncio.run``, whatever it saves
    around them."""
    loop = asyncio.new_event_loop()
    try:
        t0 = perf_counter()
        for _ in range(n):
            loop.run_until_complete(main())
        return perf_counter() - t0
    finally:
        loop.close()


def explored_runs(main: Callable[[], Coroutine[Any, Any, Any]], n: int, search: str) -> float:
    """Seconds for ``simloop.explore`` of ``main`` under ``n`` schedules of ``search``."""
    t0 = perf_counter()
    result = simloop.explore(main, runs=n, search=search, seed=1)
    elapsed = perf_counter() - t0
    assert not result.found, result
    assert result.runs == n, result
    return elapsed


def exploration_rows(scale: float, repeat: int) -> None:
    """runs/s of simloop.explore against asyncio.run of the same program, in this process."""
    n = max(10, int(3000 * scale))
    print(
        f"{'exploration (runs/s)':34} {'asyncio.run':>11} "
        + " ".join(f"{name:>10} {'ratio':>6}" for name in EXPLORE_SEARCHES)
        + f" {'steps only':>10} {'bound':>6}"
    )
    for name, main in EXPLORED:
        stock = best_of(repeat, lambda m=main: stock_runs(m, n))
        cells = [f"{n / stock:9.0f}/s"]
        for search in EXPLORE_SEARCHES:
            seconds = best_of(repeat, lambda m=main, s=search: explored_runs(m, n, s))
            cells.append(f"{n / seconds:8.0f}/s {stock / seconds:5.2f}x")
        steps = best_of(repeat, lambda m=main: stock_steps_only(m, n))
        cells.append(f"{n / steps:8.0f}/s {stock / steps:5.2f}x")
        print(f"{'explore ' + name:34} {cells[0]:>11} " + " ".join(cells[1:]))
        sys.stdout.flush()
    print(
        "steps only: the program on one stock loop made beforehand (run_until_complete, "
        "nothing else);\nbound: its ratio, the most a tool running the steps at stock "
        "asyncio's speed can reach"
    )


WORKLOADS: list[tuple[str, Callable[[LoopFactory, float], float], str]] = [
    ("callbacks: 1M call_soon", callbacks, "time"),
    ("yields: 1k tasks x 1k sleep(0)", yields, "time"),
    ("sleeps: 10k tasks x 20 random", sleeps, "time"),
    ("queue ping-pong: 200k messages", queue_ping_pong, "time"),
    ("locks: 100 tasks x 1k acquire", locks, "time"),
    ("gather: 1k rounds x 100 tasks", gathers, "time"),
    ("fresh loops: 1k x 2-task run", fresh_loops, "rate"),
    ("fresh runs: asyncio.run|simloop.run", fresh_runs, "rate"),
]

MODES: list[tuple[str, LoopFactory]] = [
    ("stock", stock_loop),
    ("Fifo", fifo_loop),
    ("RandomWalk", random_loop),
]


def best_of(repeat: int, fn: Callable[[], float]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        best = min(best, fn())
    return best


def one_long_sleep(repeat: int) -> float:
    """Real seconds for simloop.run(asyncio.sleep(3600)), fresh loop included."""

    def once() -> float:
        t0 = perf_counter()
        simloop.run(asyncio.sleep(3600))
        return perf_counter() - t0

    return best_of(max(repeat, 5), once)


def memory_per_sleeping_task(factory: LoopFactory, scale: float) -> float:
    """Bytes allocated per task while 100k tasks sleep (tracemalloc)."""
    n = int(100_000 * scale)

    async def main() -> float:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        tasks = [asyncio.ensure_future(asyncio.sleep(1000)) for _ in range(n)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return (after - before) / n

    return run_on(factory, main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="scale every workload's size")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--only", default="", help="run only workloads whose name contains this")
    args = parser.parse_args()

    print(
        f"simloop {simloop.__version__} on Python {platform.python_version()} "
        f"({platform.machine()}), scale {args.scale}, best of {args.repeat}"
    )
    header = (
        f"{'workload':34} {'stock':>10} {'Fifo':>10} {'ratio':>6} {'RandomWalk':>11} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, workload, unit in WORKLOADS:
        if args.only and args.only not in name:
            continue
        seconds = {
            mode: best_of(args.repeat, lambda f=factory, w=workload: w(f, args.scale))
            for mode, factory in MODES
        }
        stock = seconds["stock"]
        if unit == "rate":
            runs = max(1, int(1000 * args.scale))
            cells = [f"{runs / seconds[m]:8.0f}/s" for m, _ in MODES]
            ratios = [stock / seconds[m] for m in ("Fifo", "RandomWalk")]  # higher is better
            print(
                f"{name:34} {cells[0]:>10} {cells[1]:>10} {ratios[0]:5.2f}x {cells[2]:>11} {ratios[1]:5.2f}x"
            )
        else:
            ratios = [seconds[m] / stock for m in ("Fifo", "RandomWalk")]
            print(
                f"{name:34} {stock:9.3f}s {seconds['Fifo']:9.3f}s {ratios[0]:5.2f}x "
                f"{seconds['RandomWalk']:10.3f}s {ratios[1]:5.2f}x"
            )
        sys.stdout.flush()
    if not args.only or "explor" in args.only:
        exploration_rows(args.scale, args.repeat)
    if not args.only or "sleep(3600)" in args.only:
        print(
            f"{'one sleep(3600) (simloop.run)':34} {one_long_sleep(args.repeat) * 1000:9.3f} ms real"
        )
    if not args.only or "memory" in args.only:
        stock_mem = memory_per_sleeping_task(stock_loop, args.scale)
        sim_mem = memory_per_sleeping_task(fifo_loop, args.scale)
        print(
            f"{'memory per sleeping task (100k)':34} {stock_mem:8.0f} B {sim_mem:8.0f} B "
            f"{sim_mem / stock_mem:5.2f}x"
        )
    print(
        "ratios: SimLoop time / stock time (lower is better); fresh loops and runs, "
        "exploration: SimLoop runs/s / stock runs/s (higher is better)"
    )


if __name__ == "__main__":
    main()
