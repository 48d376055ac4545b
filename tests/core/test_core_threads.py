"""Simulations in several threads at once, beside real threads that draw random numbers, read
clocks and run stock asyncio loops: every simulation equals its solo run, and nothing outside
the simulations changes. Every determinism guard is per thread."""

from __future__ import annotations

import asyncio
import datetime
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import simloop
from simloop import _guards

EPOCH = 946_684_800
real = _guards.real_time_functions()


async def program() -> dict[str, Any]:
    """Something of every kind the guards cover, under a seeded scheduler."""
    lock = asyncio.Lock()
    order: list[int] = []

    async def worker(n: int) -> None:
        for _ in range(3):
            await asyncio.sleep(random.random())
            async with lock:
                order.append(n)
                await asyncio.sleep(0)

    await asyncio.gather(*(worker(n) for n in range(4)))
    time.sleep(0.5)  # blocking: virtual time
    return {
        "order": order,
        "random": [random.random(), random.randint(0, 10**9), random.choice("abcdef")],
        "uuid4": uuid.uuid4(),
        "urandom": os.urandom(8),
        "monotonic": time.monotonic(),
        "time": time.time(),
        "now": datetime.datetime.now(datetime.UTC),
        "Random()": random.Random().random(),
    }


async def deadlock() -> None:
    a, b = asyncio.Lock(), asyncio.Lock()

    async def one(first: asyncio.Lock, second: asyncio.Lock) -> None:
        async with first:
            await asyncio.sleep(0)
            async with second:
                pass

    await asyncio.gather(one(a, b), one(b, a))


def simulate(seed: int) -> Any:
    """One simulation's observable outcome: a run's result, an exploration's, a deadlock
    report (which numbers the locks it names). (warn=False: catching warnings is not
    thread-safe, the warnings module's filters are the process's.)"""
    result = simloop.run(program(), seed=seed, warn=False)
    explored = simloop.explore(program, runs=5, seed=seed, warn=False)
    with pytest.raises(simloop.DeadlockError) as deadlocked:
        simloop.run(deadlock())
    return result, (explored.found, explored.runs, explored.total_steps), str(deadlocked.value)


def test_the_program_is_deterministic_and_its_report_numbers_the_locks() -> None:
    first = simulate(3)
    assert simulate(3) == first
    assert "Lock #1" in first[2]
    assert "Lock #2" in first[2]


class Outside:
    """Real threads doing ordinary things while simulations run: what each saw."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        #: Each thread keeps going until it has done this much, so that it overlaps the
        #: simulations even when they hold the GIL most of the time.
        self.at_least = 20
        self.errors: list[BaseException] = []
        self.random_draws: list[float] = []
        self.clock_reads: list[tuple[float, float]] = []
        self.loop_runs: list[tuple[str, float]] = []
        self.threads = [
            threading.Thread(target=self._guarded(self._draw_random)),
            threading.Thread(target=self._guarded(self._read_clocks)),
            threading.Thread(target=self._guarded(self._run_stock_loops)),
        ]

    def _guarded(self, body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except BaseException as exc:
                self.errors.append(exc)

        return run

    def _draw_random(self) -> None:
        # This thread owns the global generator: its draws must follow its own seed, with no
        # simulation drawing from it or rewinding it.
        random.seed(2024)
        while not self.stop.is_set() or len(self.random_draws) < self.at_least:
            self.random_draws.append(random.random())
            real["sleep"](0.0005)

    def _read_clocks(self) -> None:
        while not self.stop.is_set() or len(self.clock_reads) < self.at_least:
            self.clock_reads.append((time.monotonic(), time.time()))
            real["sleep"](0.0005)

    def _run_stock_loops(self) -> None:
        async def nap() -> tuple[str, float]:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.sleep(0.002)
            return type(loop).__name__, loop.time() - started

        while not self.stop.is_set() or len(self.loop_runs) < self.at_least:
            self.loop_runs.append(asyncio.run(nap()))

    def __enter__(self) -> Outside:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def check(self) -> None:
        assert self.errors == []
        expected = random.Random(2024)
        assert self.random_draws == [expected.random() for _ in self.random_draws]
        assert len(self.random_draws) >= self.at_least
        assert self.clock_reads == sorted(self.clock_reads)  # monotonic, and real:
        assert all(wall > EPOCH + 10 * 365 * 86400 for _, wall in self.clock_reads)
        assert self.loop_runs
        for name, elapsed in self.loop_runs:
            assert "SimLoop" not in name
            assert elapsed >= 0.002  # real time passed on the stock loop's clock


def test_simulations_in_threads_equal_their_solo_runs_and_leave_the_outside_alone() -> None:
    seeds = [1, 2, 3, 4]
    solo = {seed: simulate(seed) for seed in seeds}
    state = random.getstate()
    results: dict[int, list[Any]] = {seed: [] for seed in seeds}
    errors: list[BaseException] = []

    def simulations(seed: int) -> None:
        try:
            for _ in range(3):
                results[seed].append(simulate(seed))
        except BaseException as exc:
            errors.append(exc)

    with Outside() as outside:
        threads = [threading.Thread(target=simulations, args=(seed,)) for seed in seeds]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    for seed in seeds:
        assert results[seed] == [solo[seed]] * 3, seed
    outside.check()
    random.setstate(state)
    assert not _guards.is_installed()
    assert "_locked" not in asyncio.Lock.__dict__
    assert type(random._inst) is random.Random  # type: ignore[attr-defined]


def test_a_simulation_in_another_thread_does_not_touch_this_threads_random() -> None:
    started = threading.Event()
    finish = threading.Event()

    async def holds_the_guards() -> float:
        started.set()
        while not finish.is_set():
            real["sleep"](0.001)
            await asyncio.sleep(0)
        return random.random()

    inside: list[float] = []
    thread = threading.Thread(target=lambda: inside.append(simloop.run(holds_the_guards(), seed=9)))
    state = random.getstate()
    try:
        thread.start()
        assert started.wait(10)
        random.seed(77)
        draws = [random.random() for _ in range(5)]
        expected = random.Random(77)
        assert draws == [expected.random() for _ in range(5)]
    finally:
        finish.set()
        thread.join()
        random.setstate(state)
    # ... and what this thread drew did not change the simulation's draws.
    assert inside == [simloop.run(draw_once(), seed=9)]


async def draw_once() -> float:
    return random.random()


def test_simulated_makes_simloops_only_in_its_own_thread() -> None:
    seen: list[str] = []

    def other() -> None:
        loop = asyncio.new_event_loop()
        seen.append(type(loop).__name__)
        loop.close()

    with simloop.simulated():
        thread = threading.Thread(target=other)
        with simloop.simulated(forbid_escapes=False):
            loop = asyncio.new_event_loop()
            loop.close()
        thread.start()
        thread.join()
        mine = asyncio.new_event_loop()
        mine.close()
    assert type(loop) is simloop.SimLoop
    assert type(mine) is simloop.SimLoop
    assert len(seen) == 1
    assert "SimLoop" not in seen[0]


def test_simulated_every_thread_covers_the_threads_a_program_starts() -> None:
    seen: list[str] = []

    def other() -> None:
        loop = asyncio.new_event_loop()
        seen.append(type(loop).__name__)
        loop.close()

    with simloop.simulated(every_thread=True):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert seen == ["SimLoop"]
    other()  # and not after the block
    assert seen[1] != "SimLoop"
