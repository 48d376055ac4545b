"""Run CPython's own asyncio tests with SimLoop (Fifo order, stock asyncio's) as the loop.

CPython's tests make their loops in several ways; all of them give a SimLoop here:

* ``test_utils.TestCase.new_test_loop(gen)`` returns a :class:`cpython_support.GenLoop`;
* ``asyncio.new_event_loop()``, ``asyncio.run()``, ``asyncio.Runner()`` and so
  ``unittest.IsolatedAsyncioTestCase`` go through an event loop policy that makes SimLoops
  (``simloop.simulated()``), installed around every test;
* the few classes that build a bare ``asyncio.BaseEventLoop`` themselves (in test_pep492,
  test_runners, test_base_events) are subclassed in their module here, to make a SimLoop.

A stock loop that runs fails the test, so that nothing here passes by testing asyncio's own
loop instead. See ``docs/conformance.md`` for what runs and what is excluded, and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cpython_support import LOOP_OPTIONS, GenLoop, exclusion_reason

import simloop

#: Warnings CPython's tests cause on purpose, which the project's ``error`` filter would turn
#: into failures (CPython runs its tests with warnings displayed, not raised). None so far: a
#: bare SimLoop warns about nothing stock asyncio does not (test_timeouts blocks the loop with
#: time.sleep() on purpose; the loop advances virtual time without a word).
WARNING_FILTERS: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(here):
            continue
        for spec in WARNING_FILTERS:
            item.add_marker(pytest.mark.filterwarnings(spec))
        cls = getattr(item, "cls", None)
        excluded = getattr(item.module, "EXCLUDED", None)
        if cls is not None and excluded:
            reason = exclusion_reason(excluded, cls.__name__, item.name)
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=f"excluded: {reason}"))


@pytest.fixture(autouse=True)
def _loops_are_simloops(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from test.test_asyncio import utils as test_utils

    def new_test_loop(self: Any, gen: Any = None) -> GenLoop:
        loop = GenLoop(gen)
        self.set_event_loop(loop)
        return loop

    monkeypatch.setattr(test_utils.TestCase, "new_test_loop", new_test_loop)

    stock_run_forever = asyncio.BaseEventLoop.run_forever

    def run_forever(self: asyncio.BaseEventLoop) -> None:
        if not isinstance(self, simloop.SimLoop):
            msg = f"a stock event loop ran in a conformance test: {self!r}"
            raise AssertionError(msg)
        stock_run_forever(self)

    monkeypatch.setattr(asyncio.BaseEventLoop, "run_forever", run_forever)
    with simloop.simulated(**LOOP_OPTIONS):
        yield
