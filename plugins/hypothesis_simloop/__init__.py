"""Hypothesis as simloop's search engine: schedules as Hypothesis data.

``schedules()`` is a strategy for schedulers whose every choice is a Hypothesis draw. Option 0
is stock asyncio's order and Hypothesis shrinks integers towards 0, so a failing schedule
shrinks to the fewest deviations from asyncio's order; Hypothesis's example database replays
it; and one ``@given`` fuzzes inputs and orderings together::

    @given(amounts=st.lists(st.integers(1, 50)), schedule=schedules())
    def test_bank(amounts, schedule):
        simloop.run(check_bank(amounts), scheduler=schedule)

Under pytest with simloop's plugin, a drawn schedule also drives the ``simloop`` fixture's
loop, and a ``@given`` ``async def`` test marked ``simloop`` runs each example on a fresh
SimLoop driven by it. :class:`SimLoopStateMachine` runs the rules of a Hypothesis state
machine as concurrent tasks on one SimLoop.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize

import simloop
from simloop import lowlevel

__all__ = ["HypothesisScheduler", "SimLoopStateMachine", "schedules"]

_T = TypeVar("_T")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class HypothesisScheduler:
    """A scheduler whose choices are Hypothesis draws (from :func:`schedules`).

    It remembers its choices, so a failing example shows them (``repr``), and so that one
    scheduler can drive several loops in a row, continuing where it left off. Its ``seed``,
    also a draw, seeds the run's ``random``, ``os.urandom`` and ``uuid`` (a loop given no
    seed of its own takes it), so Hypothesis varies and shrinks those too.

    A choice is one draw, whether to deviate from asyncio's order (shrinking to no), and for
    a deviation a second, which other option. Hypothesis shrinks towards fewer draws first,
    and a run's number of choices depends on its schedule (a deviation can make a run
    shorter): with one draw per choice, a schedule with more deviations but fewer choices
    would count as simpler. With a deviation costing a draw of its own, fewer deviations win.
    """

    def __init__(self, source: random.Random, seed: int = 0) -> None:
        self._source = source
        self.seed = seed
        self.choices: list[int] = []

    def choose(self, point: lowlevel.ChoicePoint) -> int:
        n = point.n
        choice = 0
        if self._source.randrange(2):
            # Which other option: a draw over n values (never a draw of one value, which
            # Hypothesis would not count), onto 1 .. n - 1; it shrinks to option 1.
            choice = 1 + self._source.randrange(n) % (n - 1)
        self.choices.append(choice)
        return choice

    @property
    def deviations(self) -> int:
        """How many choices so far differ from stock asyncio's order."""
        return sum(1 for c in self.choices if c)

    def replay_note(self) -> str:
        """How to replay a run this scheduler failed (used in simloop's failure notes)."""
        return (
            f"The schedule came from Hypothesis ({plural(self.deviations, 'deviation')} from "
            f"asyncio's order, choices {self._shown()}); Hypothesis replays it from its example "
            "database on the next run."
        )

    def _shown(self) -> list[int | str]:
        choices: list[int | str] = list(self.choices)
        while choices and choices[-1] == 0:
            choices.pop()  # past the last deviation, every choice is asyncio's own
        return choices if len(choices) <= 30 else [*choices[:30], "..."]

    def __repr__(self) -> str:
        # Hypothesis shows an example's arguments before running it, when no choice has been
        # made yet; the failure's note lists the choices.
        if not self.choices:
            return "schedules()"
        return f"schedules() -> {plural(self.deviations, 'deviation')}, choices {self._shown()}"


@st.composite
def _schedulers(draw: st.DrawFn) -> HypothesisScheduler:
    # The seed of the run's random sources: shrinks to 0.
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    # randoms(use_true_random=False) gives a Random whose every call is a Hypothesis draw,
    # made when the program asks, shrinking towards 0: towards asyncio's own order.
    source = draw(st.randoms(use_true_random=False, note_method_calls=False))
    return HypothesisScheduler(source, seed)


def schedules() -> st.SearchStrategy[HypothesisScheduler]:
    """A strategy for schedulers driven by Hypothesis (see the module docstring)."""
    return _schedulers()


class SimLoopStateMachine(RuleBasedStateMachine):
    """A Hypothesis state machine whose rules run coroutines concurrently on one SimLoop.

    Rules start coroutines as tasks with :meth:`start` (they do not run yet) and let the
    simulation make progress with :meth:`settle` (run what is ready, without advancing the
    clock) or :meth:`advance` (let virtual time pass). Hypothesis then searches the sequences
    of operations and, through the loop's scheduler (a :func:`schedules` draw), their
    interleavings, and shrinks both. The schedule is drawn by an ``initialize`` rule; the loop
    is created when first used and closed in ``teardown``; override :meth:`loop_options` to
    configure it. (Hypothesis runs ``initialize`` rules in any order: what a subclass's own
    ``initialize`` rules run before the schedule is drawn runs in asyncio's order.)
    """

    def __init__(self) -> None:
        super().__init__()
        self._started: list[asyncio.Task[Any]] = []
        self._loop: simloop.SimLoop | None = None
        self._schedule: HypothesisScheduler | None = None

    def loop_options(self) -> dict[str, Any]:
        """Keyword arguments for the :class:`~simloop.SimLoop` (override to change them)."""
        return {}

    @property
    def loop(self) -> simloop.SimLoop:
        """The SimLoop the rules' tasks run on (created when first used)."""
        if self._loop is None:
            scheduler = self._schedule if self._schedule is not None else _Undrawn()
            self._loop = simloop.SimLoop(scheduler=scheduler, **self.loop_options())
            lowlevel.use_harness_defaults(self._loop)  # a crash nobody awaits fails the test
        return self._loop

    @property
    def schedule(self) -> HypothesisScheduler | None:
        """The drawn schedule (``None`` until the ``initialize`` rule that draws it has run)."""
        return self._schedule

    @initialize(schedule=schedules())
    def _simloop_start(self, schedule: HypothesisScheduler) -> None:
        self._schedule = schedule
        if self._loop is not None:
            # Another initialize rule used the loop first: the schedule decides from now on.
            lowlevel.set_scheduler(self._loop, schedule)

    def start(self, coro: Coroutine[Any, Any, _T], *, name: str | None = None) -> asyncio.Task[_T]:
        """Start ``coro`` as a task; it runs when the simulation next makes progress."""
        task = self.loop.create_task(coro, name=name)
        self._started.append(task)
        return task

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` to completion (other tasks run meanwhile) and return its result."""
        return self.loop.run_until_complete(coro)

    def settle(self) -> None:
        """Run every callback that is ready, and those they make ready, at the current time."""
        self.loop.run_until_complete(_settled())

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass; everything due meanwhile runs."""
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def teardown(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        # Hypothesis may have stopped drawing (the example failed); clean up in asyncio's
        # own order, without asking the schedule.
        lowlevel.set_scheduler(loop, simloop.Fifo(), cleanup=True)
        try:
            pending = [t for t in self._started if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            # A task that crashed and nobody awaited is a failure, as in simloop.run().
            for task in self._started:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            lowlevel.abandon(loop)
            loop.close()


class _Undrawn:
    """The scheduler until the schedule is drawn: asyncio's order.

    Not :class:`~simloop.Fifo`, whose loop could not hand over to another scheduler."""

    def choose(self, point: lowlevel.ChoicePoint) -> int:
        return 0

    def __repr__(self) -> str:
        return "asyncio's order (before the schedule was drawn)"


async def _settled() -> None:
    """Return once nothing else is ready at the current virtual time."""
    while not lowlevel.idle_now():
        await asyncio.sleep(0)
