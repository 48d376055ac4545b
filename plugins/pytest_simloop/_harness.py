"""The ``simloop`` fixture: the harness of the current test.

A harness owns one :class:`simloop.SimLoop` per schedule the test runs under. In an ``async def``
test, that loop is the running loop. In a plain ``def`` test, the test drives it: ``run(coro)``
runs a coroutine to completion, ``start(coro)`` starts a task, ``advance(seconds)`` and
``run_until(when)`` let virtual time pass. Either way ``time()``, ``seed``, ``loop`` and
``trace`` describe the current schedule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from simloop import Scheduler, SimLoop, Trace, lowlevel

_T = TypeVar("_T")


class SimloopHarness:
    """What the ``simloop`` fixture returns. See the module docstring."""

    def __init__(self) -> None:
        self._loop: SimLoop | None = None
        self._scheduler: Scheduler | None = None
        self._seed: int | None = None
        self._loop_options = lowlevel.LoopOptions()
        self._record_events: bool | int = False
        self._traces: list[Trace] = []

    # --- the plugin drives these, once per schedule -----------------------------------------

    def _begin(
        self,
        scheduler: Scheduler | None,
        seed: int | None,
        loop_options: lowlevel.LoopOptions,
        *,
        record_events: bool | int,
    ) -> None:
        self._scheduler = scheduler
        self._seed = seed
        self._loop_options = loop_options
        self._record_events = record_events
        self._traces = []
        self._loop = None

    def _make_loop(self) -> SimLoop:
        self._loop = SimLoop(
            options=self._loop_options.for_run(
                self._seed, self._scheduler, record_events=self._record_events
            )
        )
        lowlevel.use_harness_defaults(self._loop)  # exceptions nobody retrieved fail the test
        return self._loop

    def _finish(self) -> Trace | None:
        """Close this schedule's loop (cancelling what is left); return its trace."""
        loop = self._loop
        if loop is None:
            return None
        if not loop.is_closed():
            try:
                lowlevel.shut_down(loop)
            finally:
                loop.close()
        return loop.trace

    # --- for tests ----------------------------------------------------------------------------

    @property
    def loop(self) -> SimLoop:
        """The SimLoop of the current schedule (created on first use in a ``def`` test).

        In a test that another plugin runs on a SimLoop (pytest-asyncio with
        ``simloop_asyncio_loop_factory``), it is that running loop.
        """
        if self._loop is None:
            running = lowlevel.get_running_loop_or_none()
            if isinstance(running, SimLoop):
                return running
            return self._make_loop()
        return self._loop

    @property
    def seed(self) -> int | None:
        """The current schedule's seed (``None`` in asyncio's own order)."""
        return self._seed

    @property
    def trace(self) -> Trace:
        """The trace of the current schedule so far."""
        return self.loop.trace

    def time(self) -> float:
        """The current virtual time, in seconds."""
        return self.loop.time()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` to completion on this schedule's loop and return its result.

        Tasks it started keep running in later calls; the loop closes when the test ends.
        """
        loop = self.loop
        if loop.is_running():
            if asyncio.iscoroutine(coro):
                coro.close()
            msg = (
                "simloop.run() inside an async test: the test already runs on the simulated "
                "loop, so `await` the coroutine instead"
            )
            raise RuntimeError(msg)
        return loop.run_until_complete(coro)

    def start(self, coro: Coroutine[Any, Any, _T], *, name: str | None = None) -> asyncio.Task[_T]:
        """Start ``coro`` as a task on this schedule's loop, without running the loop."""
        return self.loop.create_task(coro, name=name)

    def run_until(self, when: float) -> None:
        """Run the loop until virtual time ``when`` (everything due by then has run)."""
        loop = self.loop
        self._refuse_inside_the_loop("run_until", when - loop.time())
        if when < loop.time():
            msg = f"run_until({when!r}): virtual time is already {loop.time()!r}"
            raise ValueError(msg)
        loop.run_until_complete(_sleep_until(when))

    def advance(self, seconds: float) -> None:
        """Run the loop for ``seconds`` of virtual time."""
        self._refuse_inside_the_loop("advance", seconds)
        if seconds < 0:
            msg = f"advance({seconds!r}): time can't go backwards"
            raise ValueError(msg)
        self.run_until(self.loop.time() + seconds)

    def _refuse_inside_the_loop(self, method: str, seconds: float) -> None:
        """In an async test the loop already runs: time passes by awaiting."""
        if self.loop.is_running():
            msg = (
                f"simloop.{method}() inside an async test: the test already runs on the "
                f"simulated loop, so let time pass by awaiting, e.g. `await "
                f"asyncio.sleep({seconds!r})`"
            )
            raise RuntimeError(msg)

    def __repr__(self) -> str:
        return f"<simloop harness seed={self._seed!r} scheduler={self._scheduler!r}>"


async def _sleep_until(when: float) -> None:
    loop = asyncio.get_running_loop()
    wake_up = loop.create_future()
    handle = loop.call_at(when, _set_done, wake_up)
    try:
        await wake_up
    finally:
        handle.cancel()


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
