"""Timers due at the same instant: when they fire, and in which order.

On a virtual clock, ties are common (two ``sleep(1)`` started in the same step). Tied timers
fire at their deadline, never earlier, each seeing the clock read it; in asyncio's order
(``Fifo``, option 0) they fire in the order they were scheduled, and any other scheduler
makes that order a ``"timer.tie"`` choice. Each test runs on the three forms of the run loop:
the Fifo hot path, the chosen hot path (a scheduler that picks) and the observed path (with
an instrument).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import simloop
from simloop import lowlevel

LOOPS = {
    "Fifo hot path": {},
    "chosen hot path": {"scheduler": simloop.Replay([], strict=False)},
    "observed path": {"scheduler": simloop.Replay([], strict=False), "record_events": True},
    "Fifo observed": {"record_events": True},
}


@pytest.fixture(params=list(LOOPS))
def options(request: pytest.FixtureRequest) -> dict[str, Any]:
    chosen: dict[str, Any] = dict(LOOPS[request.param])
    if "scheduler" in chosen:
        chosen["scheduler"] = simloop.Replay([], strict=False)  # a fresh one per test
    return chosen


def test_two_sleeps_of_one_second_both_wake_at_one(options: dict[str, Any]) -> None:
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str) -> None:
        await asyncio.sleep(1)
        woke.append((name, asyncio.get_running_loop().time()))

    async def main() -> float:
        await asyncio.gather(sleeper("a"), sleeper("b"))
        return asyncio.get_running_loop().time()

    assert simloop.run(main(), **options) == 1.0
    assert woke == [("a", 1.0), ("b", 1.0)]


def test_tied_callbacks_fire_at_their_deadline_in_scheduling_order(
    options: dict[str, Any],
) -> None:
    fired: list[tuple[str, float]] = []

    def note(name: str) -> None:
        fired.append((name, asyncio.get_running_loop().time()))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_at(2.0, note, "first")
        loop.call_later(2.0, note, "second")
        loop.call_at(1.0, note, "earlier")
        await asyncio.sleep(1)
        loop.call_later(1.0, note, "third, scheduled a second later")
        loop.call_soon(note, "now")
        await asyncio.sleep(5)

    simloop.run(main(), **options)
    assert fired == [
        ("earlier", 1.0),
        ("now", 1.0),
        ("first", 2.0),
        ("second", 2.0),
        ("third, scheduled a second later", 2.0),
    ]


def test_a_timer_due_now_waits_for_the_next_batch(options: dict[str, Any]) -> None:
    """``call_later(0)`` is due at once but, as in stock asyncio, joins the ready callbacks
    only at the next batch boundary: after the callbacks scheduled before it."""
    order: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(0, order.append, "timer, due now")
        loop.call_soon(order.append, "soon")
        loop.call_soon(lambda: loop.call_soon(order.append, "soon, from soon"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    simloop.run(main(), **options)
    assert order == ["soon", "timer, due now", "soon, from soon"]


def test_tie_order_is_a_choice_for_a_scheduler_that_picks() -> None:
    """Option k of a tie fires the k-th timer first; the time is the same for all."""

    class Picks(simloop.Instrument):
        def __init__(self) -> None:
            self.kinds: list[str] = []

        def choice_made(self, loop: Any, point: lowlevel.ChoicePoint, choice: int) -> None:
            self.kinds.append(point.kind)

    async def main(fired: list[tuple[int, float]]) -> None:
        loop = asyncio.get_running_loop()
        for i in range(3):
            loop.call_at(1.0, lambda i=i: fired.append((i, loop.time())))
        await asyncio.sleep(2)

    for first in range(3):
        fired: list[tuple[int, float]] = []
        picks = Picks()
        simloop.run(main(fired), scheduler=simloop.Replay([first], [3]), instruments=[picks])
        assert picks.kinds[0] == lowlevel.TIMER_TIE
        assert fired[0] == (first, 1.0)
        assert sorted(fired) == [(0, 1.0), (1, 1.0), (2, 1.0)]


def test_sleeps_of_different_lengths_meet_at_one_instant(options: dict[str, Any]) -> None:
    """A tie between timers made at different times (0 + 2 and 1 + 1): exact integer time
    makes them equal, and they fire in the order they were scheduled."""
    woke: list[tuple[str, float]] = []

    async def long() -> None:
        await asyncio.sleep(0.2)
        woke.append(("long", asyncio.get_running_loop().time()))

    async def late() -> None:
        await asyncio.sleep(0.1)
        await asyncio.sleep(0.1)
        woke.append(("late", asyncio.get_running_loop().time()))

    async def main() -> None:
        await asyncio.gather(long(), late())

    simloop.run(main(), **options)
    assert woke == [("long", 0.2), ("late", 0.2)]


def test_tied_wake_ups_come_before_what_the_first_woken_task_does_next(
    options: dict[str, Any],
) -> None:
    """Tied timers fire in one batch, as in stock asyncio: both tasks wake before the first
    one's next step (here after a yield) runs."""
    order: list[str] = []

    async def sleeper(name: str) -> None:
        await asyncio.sleep(1)
        order.append(f"{name} woke")
        await asyncio.sleep(0)
        order.append(f"{name} went on")

    async def main() -> None:
        await asyncio.gather(sleeper("a"), sleeper("b"))

    simloop.run(main(), **options)
    assert order == ["a woke", "b woke", "a went on", "b went on"]
