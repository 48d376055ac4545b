"""Runs per second of simloop's exploration beside the public asyncio simulation tools installed.

    python -m pip install looptime seedloop simloom   # whichever of them you want compared
    python bench/competitors.py [--runs 2000] [--repeat 3]

Each tool runs the same two programs as ``bench/run.py``'s exploration rows, as many times,
in this process: ``asyncio.run`` (the baseline every ratio is against), simloop's ``explore``
(random walks and the default Portfolio), ``simloop.run`` with no seed (asyncio's order,
no choices), and each other tool through its own many-runs entry
point with its defaults: looptime (a virtual clock on a stock loop, no scheduling choices),
seedloop's ``check`` and simloom's ``explore``. A tool that is not installed, or cannot run a
program, gets a row saying so. Every figure is the best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simloop
from bench.run import EXPLORED, best_of, perf_counter

Main = Callable[[], Coroutine[Any, Any, Any]]
#: A way to run ``main`` ``n`` times: returns the seconds it took.
Runner = Callable[[Main, int], float]


def timed(fn: Callable[[], Any]) -> float:
    t0 = perf_counter()
    fn()
    return perf_counter() - t0


def stock(main: Main, n: int) -> float:
    def go() -> None:
        for _ in range(n):
            asyncio.run(main())

    return timed(go)


def simloop_search(search: str) -> Runner:
    def runner(main: Main, n: int) -> float:
        def go() -> None:
            result = simloop.explore(main, runs=n, search=search, seed=1)
            assert not result.found, result
            assert result.runs == n, result

        return timed(go)

    return runner


def looptime_runner() -> Runner:
    import looptime  # type: ignore[import-not-found]

    def runner(main: Main, n: int) -> float:
        def go() -> None:
            for _ in range(n):
                with asyncio.Runner(loop_factory=looptime.new_event_loop) as r:
                    r.run(main())

        return timed(go)

    return runner


def seedloop_runner() -> Runner:
    import seedloop  # type: ignore[import-not-found]

    def runner(main: Main, n: int) -> float:
        async def scenario(world: Any) -> None:
            await main()

        def go() -> None:
            result = seedloop.check(scenario, seeds=n, on_failure="return")
            assert result.failing_seed is None, result
            assert result.checked == n, result

        return timed(go)

    return runner


def simloom_runner() -> Runner:
    import simloom  # type: ignore[import-not-found]

    def runner(main: Main, n: int) -> float:
        def go() -> None:
            result = simloom.explore(main, runs=n)
            assert not result.failures, result.failures

        return timed(go)

    return runner


def simloop_fifo(main: Main, n: int) -> float:
    def go() -> None:
        for _ in range(n):
            simloop.run(main())

    return timed(go)


#: (row name, what its runs vary, how to make its runner); a maker raising ImportError means
#: "not installed". What a tool varies decides which bugs it can find: a tool that runs ready
#: callbacks in asyncio's order runs these two programs the same way every time.
TOOLS: list[tuple[str, str, Callable[[], Runner]]] = [
    ("simloop explore, random", "every ready callback", lambda: simloop_search("random")),
    ("simloop explore, portfolio", "every ready callback", lambda: simloop_search("portfolio")),
    ("simloop.run, Fifo", "nothing (asyncio's order)", lambda: simloop_fifo),
    ("looptime", "nothing (a virtual clock)", looptime_runner),
    ("seedloop check", "timers, network (FIFO ready)", seedloop_runner),
    ("simloom explore", "every ready callback", simloom_runner),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs of each program per tool")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many")
    args = parser.parse_args()
    n = args.runs
    print(f"# {platform.python_implementation()} {platform.python_version()}, {n} runs each")
    for name, program in EXPLORED:
        baseline = best_of(args.repeat, lambda p=program: stock(p, n))
        print(f"\n{name:30} {'what its runs vary':30}")
        print(f"  {'asyncio.run':28} {'nothing':30} {n / baseline:8.0f} runs/s   1.00x")
        for tool, varies, make in TOOLS:
            try:
                runner = make()
            except ImportError:
                print(f"  {tool:28} {varies:30} not installed")
                continue
            try:
                seconds = best_of(args.repeat, lambda r=runner, p=program: r(p, n))
            except Exception as exc:  # noqa: BLE001 - another tool's failure is a result
                print(f"  {tool:28} could not run it: {type(exc).__name__}: {exc}"[:200])
                continue
            rate = n / seconds
            print(f"  {tool:28} {varies:30} {rate:8.0f} runs/s {baseline / seconds:6.2f}x")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
