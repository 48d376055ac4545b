"""The cleanup after the main task is deterministic on every entry path.

``asyncio.Runner`` (behind ``asyncio.run`` and the pytest-asyncio and anyio plugins) cancels the
tasks left over in the order of ``asyncio.all_tasks()``, and every loop closes the async
generators left open in the order of a ``WeakSet``: orders that depend on what else the
process did (other loops' tasks, memory addresses). On a SimLoop both follow creation order,
whatever came before, so two identical runs in one process are the same run.

Each test runs a program many times in one process, perturbing the process-wide registries in
between (live tasks of other loops, other allocations), and checks the cleanup order against
the one it must be, so an order that only sometimes differs is caught.
"""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import simloop

#: Repetitions per test: with stock asyncio's orders, a wrong one shows in most of them.
RUNS = 40


@contextmanager
def perturbed(round: int) -> Iterator[None]:
    """Live tasks of another loop, and some garbage, in numbers that vary by round: they
    change the process-wide task registry and the memory layout the next run meets."""
    other = simloop.SimLoop()
    rng = random.Random(round)
    tasks = [other.create_task(asyncio.sleep(1)) for _ in range(rng.randrange(1, 40))]
    garbage = [bytearray(rng.randrange(1, 500)) for _ in range(rng.randrange(60))]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        other.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        other.close()
        del garbage


def leftover_program(log: list[str]) -> Callable[[], Coroutine[Any, Any, None]]:
    """Tasks left running when main returns, numbered so that set order mixes them up
    (creation numbers 2, 10, 18, 26: equal modulo 8), some sharing a name."""

    async def worker(label: str) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            log.append(label)
            await asyncio.sleep(0)  # the order of these steps is part of the run
            log.append(label + " done")
            raise

    async def main() -> None:
        started = []
        for number in range(2, 30):
            if number % 8 == 2:
                name = "worker" if number > 10 else None
                started.append(asyncio.create_task(worker(f"task {number}"), name=name))
            else:
                started.append(asyncio.create_task(asyncio.sleep(0)))
        await asyncio.sleep(1)

    return main


EXPECTED = [
    "task 2",
    "task 10",
    "task 18",
    "task 26",
    "task 2 done",
    "task 10 done",
    "task 18 done",
    "task 26 done",
]


def run_with_runner(main: Callable[[], Coroutine[Any, Any, None]], **options: Any) -> str:
    with asyncio.Runner(loop_factory=lambda: simloop.SimLoop(**options)) as runner:
        runner.run(main())
        loop = runner.get_loop()
    assert isinstance(loop, simloop.SimLoop)
    return loop.trace.fingerprint()


@pytest.mark.parametrize("seed", [None, 7], ids=["Fifo", "RandomWalk"])
def test_asyncio_runner_cancels_leftovers_in_creation_order(seed: int | None) -> None:
    runs = set()
    for round in range(RUNS):
        log: list[str] = []
        with perturbed(round):
            fingerprint = run_with_runner(leftover_program(log), seed=seed)
        runs.add((fingerprint, tuple(log)))
        if seed is None:
            assert log == EXPECTED, f"round {round}"
        else:
            assert sorted(log) == sorted(EXPECTED)
    assert len(runs) == 1


def test_simloop_run_cancels_same_named_leftovers_in_creation_order() -> None:
    for round in range(RUNS):
        log: list[str] = []
        with perturbed(round):
            simloop.run(leftover_program(log)())
        assert log == EXPECTED, f"round {round}"


def test_stock_loops_keep_stock_cleanup() -> None:
    """Other loops go through asyncio's own cleanup, which still cancels every leftover."""
    log: list[str] = []
    with asyncio.Runner() as runner:
        runner.run(leftover_program(log)())
    assert sorted(log) == sorted(EXPECTED)


def generators_program(log: list[int]) -> Callable[[], Coroutine[Any, Any, None]]:
    """Async generators left open when main returns: the loop closes them."""

    async def numbers(i: int) -> Any:
        try:
            yield i
            yield i
        finally:
            log.append(i)
            await asyncio.sleep(0)
            log.append(-i)

    async def main() -> None:
        rng = random.Random(0)
        for i in range(1, 7):
            generator = numbers(i)
            await generator.__anext__()
            main.open.append(generator)  # type: ignore[attr-defined]
            # Allocations between the generators vary their addresses.
            main.garbage.append(bytearray(rng.randrange(1, 300)))  # type: ignore[attr-defined]

    main.open = []  # type: ignore[attr-defined]
    main.garbage = []  # type: ignore[attr-defined]
    return main


@pytest.mark.parametrize("path", ["simloop.run", "asyncio.Runner"])
def test_open_async_generators_close_in_the_order_they_started(path: str) -> None:
    for round in range(RUNS):
        log: list[int] = []
        main = generators_program(log)
        with perturbed(round):
            if path == "simloop.run":
                simloop.run(main())
            else:
                run_with_runner(main)
        main.open.clear()  # type: ignore[attr-defined]
        assert log == [1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6], f"round {round}"


def test_a_generator_that_fails_to_close_is_reported() -> None:
    async def stubborn() -> Any:
        try:
            yield 1
        finally:
            raise RuntimeError("cannot close")

    async def main() -> None:
        generator = stubborn()
        await generator.__anext__()
        main.open = generator  # type: ignore[attr-defined]

    with pytest.raises(simloop.UnhandledExceptionsError) as caught:
        simloop.run(main())
    (error,) = caught.value.exceptions
    assert isinstance(error, RuntimeError)
    assert str(error) == "cannot close"


def test_when_the_collector_runs_does_not_change_the_run() -> None:
    """An open async generator in a reference cycle is freed whenever the garbage collector
    runs, which no schedule decides: it is closed with the others at the end of the run, in
    the order they started, whether or not the collector freed it during the run."""

    def program(log: list[str], collect: bool) -> Callable[[], Coroutine[Any, Any, None]]:
        async def numbers(name: str) -> Any:
            try:
                yield 1
                yield 2
            finally:
                log.append(f"{name} closed")

        async def main() -> None:
            first = numbers("in a cycle")
            await first.__anext__()
            holder: dict[str, Any] = {"generator": first}
            holder["self"] = holder
            del holder, first
            kept = numbers("kept open")
            await kept.__anext__()
            main.kept = kept  # type: ignore[attr-defined]
            if collect:
                gc.collect()  # the collector frees the cycle now
            await asyncio.sleep(1)  # time for anything scheduled meanwhile to run
            log.append("main done")

        return main

    logs = {}
    for collect in (False, True):
        log: list[str] = []
        enabled = gc.isenabled()
        gc.disable()  # the collector runs only where the program says
        try:
            simloop.run(program(log, collect)())
        finally:
            if enabled:
                gc.enable()
        logs[collect] = log
        gc.collect()
    assert logs[True] == logs[False] == ["main done", "in a cycle closed", "kept open closed"]


@pytest.mark.parametrize("when", ["never", "in the run", "between the runner's calls"])
def test_when_the_collector_runs_does_not_change_the_runners_cleanup(when: str) -> None:
    """The same under asyncio.Runner, which drives the loop in several calls (the main task,
    cancelling leftovers, closing generators): a collection between two calls used to close
    the generators it freed ahead of the others (found by bench/torture.py)."""

    async def numbers(name: str, log: list[str]) -> Any:
        try:
            yield 1
            yield 2
        finally:
            log.append(f"{name} closed")
            await asyncio.sleep(0)

    async def main(log: list[str]) -> None:
        kept = numbers("kept open, started first", log)
        await kept.__anext__()
        main.kept = kept  # type: ignore[attr-defined]
        in_cycle = numbers("in a cycle", log)
        await in_cycle.__anext__()
        holder: dict[str, Any] = {"generator": in_cycle}
        holder["self"] = holder
        del holder, in_cycle
        if when == "in the run":
            gc.collect()
        log.append("main done")

    log: list[str] = []
    enabled = gc.isenabled()
    gc.disable()  # the collector runs only where the test says
    try:
        with asyncio.Runner(loop_factory=simloop.SimLoop) as runner:
            runner.run(main(log))
            if when == "between the runner's calls":
                gc.collect()
    finally:
        if enabled:
            gc.enable()
    main.kept = None  # type: ignore[attr-defined]
    gc.collect()
    assert log == ["main done", "kept open, started first closed", "in a cycle closed"]
