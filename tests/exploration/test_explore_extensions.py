"""Exploration never blames the program for a broken scheduler, search or instrument.

Such a bug ends the exploration with :class:`simloop.ExtensionError` naming the object: it is
not reported as a failure of the program, not shrunk, not called nondeterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from explore_support import bank_race

import simloop
from simloop import lowlevel


async def passes() -> None:
    async def step() -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    await asyncio.gather(step(), step(), step())


class FailsOnRun:
    """A scheduler that answers like a random walk, but breaks on the ``nth`` run (counted
    across instances through ``runs``)."""

    def __init__(self, seed: int, runs: list[int], nth: int, how: str) -> None:
        self.seed = seed
        self.walk = simloop.RandomWalk(seed)
        runs.append(seed)
        self.broken = len(runs) == nth
        self.how = how

    def choose(self, point: lowlevel.ChoicePoint) -> int:
        if self.broken:
            if self.how == "raise":
                raise LookupError("lost its place")
            return point.n + 1
        return self.walk.choose(point)

    def __repr__(self) -> str:
        return f"FailsOnRun(seed={self.seed})"


@pytest.mark.parametrize(("main", "nth"), [(passes, 3), (bank_race, 1)], ids=["passing", "racy"])
@pytest.mark.parametrize("how", ["raise", "out of range"])
def test_a_scheduler_that_breaks_mid_exploration(how: str, main: Any, nth: int) -> None:
    runs: list[int] = []
    with pytest.raises(simloop.ExtensionError) as caught:
        simloop.explore(
            main,
            runs=20,
            shrink=True,
            search=lambda seed: FailsOnRun(seed, runs, nth=nth, how=how),
        )
    assert str(caught.value).startswith(f"scheduler FailsOnRun(seed={nth - 1}) ")
    assert caught.value.__notes__ == [
        "simloop: the scheduler came from the search <lambda> with seeds from 0"
    ]
    assert len(runs) == nth  # nothing ran after it: no shrinking, no replay


def test_a_scheduler_factory_that_returns_none() -> None:
    def factory(seed: int) -> Any:
        return None

    with pytest.raises(simloop.ExtensionError) as caught:
        simloop.explore(passes, runs=3, search=factory)
    assert str(caught.value) == (
        "search factory with seeds from 0 yielded None, which is not a scheduler: `scheduler` must "
        "have a choose(point) method, not NoneType None"
    )


class Yields(simloop.Search):
    def __init__(self, *items: object) -> None:
        self.items = items

    def schedulers(self) -> Iterator[Any]:
        yield from self.items

    def __repr__(self) -> str:
        return "Yields()"


@pytest.mark.parametrize(
    ("item", "what"),
    [
        (None, "`scheduler` must have a choose(point) method, not NoneType None"),
        (simloop.Fifo, "`scheduler` must be a scheduler object, not the class Fifo"),
        (simloop.PCT(2), "`scheduler` must be a scheduler (it decides one run), not the search"),
    ],
    ids=["None", "a class", "a search"],
)
def test_a_search_that_yields_what_is_not_a_scheduler(item: object, what: str) -> None:
    with pytest.raises(simloop.ExtensionError) as caught:
        simloop.explore(passes, runs=3, search=Yields(simloop.Fifo(), item))
    assert str(caught.value).startswith(f"search Yields() yielded {item!r}, which is not a ")
    assert what in str(caught.value)


def test_a_scheduler_with_a_seed_that_is_not_an_int() -> None:
    walk = simloop.RandomWalk(1)
    walk.seed = "one"  # type: ignore[assignment]
    with pytest.raises(simloop.ExtensionError) as caught:
        simloop.explore(passes, runs=3, search=Yields(walk))
    assert str(caught.value) == (
        "search Yields() yielded the scheduler RandomWalk(seed=one), whose `seed` must be an int "
        "or None, not str 'one'"
    )


class Broken(simloop.Search):
    def __init__(self, hook: str) -> None:
        self.hook = hook

    def schedulers(self) -> Iterator[simloop.Scheduler]:
        if self.hook == "schedulers":
            raise ValueError("nothing to offer")
        while True:
            yield simloop.Fifo()
            if self.hook == "next":
                raise ValueError("nothing more to offer")

    def run_finished(self, trace: simloop.Trace) -> None:
        if self.hook == "run_finished":
            raise ValueError("cannot learn")

    def proof(self) -> str | None:
        if self.hook == "proof":
            raise ValueError("no proof")
        return None

    def __repr__(self) -> str:
        return "Broken()"


@pytest.mark.parametrize(
    ("hook", "shown", "message"),
    [
        ("schedulers", "schedulers", "nothing to offer"),
        ("next", "schedulers", "nothing more to offer"),
        ("run_finished", "run_finished", "cannot learn"),
        ("proof", "proof", "no proof"),
    ],
)
def test_a_search_that_raises(hook: str, shown: str, message: str) -> None:
    with pytest.raises(simloop.ExtensionError) as caught:
        simloop.explore(passes, runs=3, search=Broken(hook))
    assert str(caught.value) == (
        f"search Broken() raised ValueError: {message} in {shown}(); that is a bug in the "
        "search, not a failure of the program"
    )
    assert isinstance(caught.value.__cause__, ValueError)


def test_a_search_may_return_any_iterable() -> None:
    class Listed(simloop.Search):
        def schedulers(self) -> Any:
            return [simloop.Fifo(), simloop.RandomWalk(3)]

    result = simloop.explore(passes, runs=5, search=Listed())
    assert (result.found, result.runs) == (False, 2)


def test_an_instrument_that_breaks_in_one_schedule_is_not_a_failure() -> None:
    class BreaksOnADeviation(simloop.Instrument):
        def step_started(self, loop: Any, index: int, handle: Any, *rest: Any) -> None:
            if rest[0]:  # the choice deviates from asyncio's order
                raise KeyError("unexpected")

        def __repr__(self) -> str:
            return "Fragile()"

    with pytest.raises(simloop.ExtensionError) as caught:
        simloop.explore(passes, runs=20, instruments=[BreaksOnADeviation()])
    assert str(caught.value).startswith(
        "instrument Fragile() raised KeyError: 'unexpected' in its step_started() hook"
    )


def test_a_check_still_fails_the_program() -> None:
    """An invariant is an instrument too: its failure is the program's, found and shrunk."""

    async def main() -> None:
        state = {"busy": 0}
        simloop.invariant(lambda: state["busy"] <= 1, name="one at a time")

        async def work() -> None:
            state["busy"] += 1
            await asyncio.sleep(0)
            state["busy"] -= 1

        await asyncio.gather(work(), work())

    result = simloop.explore(main, runs=50)
    assert result.found
    assert result.failure is not None
    assert result.failure.kind == "invariant"
    assert result.nondeterminism is None
