"""Regression tests for simloop bugs the property tests found."""

from __future__ import annotations

import asyncio
import gc

import pytest
from simprog import run_reference, run_sim, run_simloop_run

import simloop

# run_until_complete flagged a task's exception as unretrieved while the gather() done
# callback that retrieves it was still pending; asyncio.run runs that callback during cleanup.


async def _fails_now() -> None:
    raise ValueError("first")


async def _fails_later(yields: int) -> None:
    for _ in range(yields):
        await asyncio.sleep(0)
    raise KeyError("second")


async def _gather_two_failures(yields: int) -> str:
    try:
        await asyncio.gather(_fails_now(), _fails_later(yields))
    except ValueError:
        return "caught"
    return "not raised"


def test_stock_asyncio_is_fine_with_the_gather_program(caplog: pytest.LogCaptureFixture) -> None:
    """The program is correct asyncio: ``asyncio.run`` returns, and logs nothing."""
    gc.collect()
    caplog.clear()
    for yields in range(6):
        assert asyncio.run(_gather_two_failures(yields)) == "caught"
    gc.collect()  # asyncio logs "exception was never retrieved" when a task is collected
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def test_gather_second_failure_is_not_unhandled() -> None:
    """Minimal reproducer, in stock order (Fifo, no seed).

    ``gather(a, b)``: ``a`` fails at once, the caller catches that and returns; ``b`` fails
    three batches later, in the batch where the main task's done callback stops the loop. The
    gather's done callback for ``b`` (which calls ``b.exception()``) is scheduled in that
    batch, so it only runs in the next one; ``SimLoop.run_until_complete`` checks for
    unretrieved exceptions before that and raises ``UnhandledExceptionsError`` for ``b``.
    With 0-2 or 4-5 yields instead of 3, it passes.
    """
    assert simloop.run(_gather_two_failures(3)) == "caught"


def test_fifo_matches_stock_on_a_gather_with_two_failures() -> None:
    """The same bug seen by the differential test, as a program description."""
    desc = {
        "locks": 0,
        "queues": [],
        "events": 0,
        "tasks": [[["gather", [[["raise"]], [*[["yield"]] * 5, ["raise"]]]]]],
    }
    stock = run_reference(desc)
    assert stock.kind == "ok"
    assert run_sim(desc).observable() == stock.observable()
    assert run_simloop_run(desc).observable() == stock.observable()
