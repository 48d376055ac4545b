"""Regression tests for simloop bugs that exploring found outside the exploration layer.

- A false "exception nobody retrieved": a random walk let the loop's last stop overtake a
  ``gather``'s done-callback, which would have retrieved the exception (stock asyncio runs a
  ready callback ahead of everything scheduled after it). Reported within ~150 runs before.
- A cleanup that failed after a successful main left the leftover tasks pending, so asyncio
  logged "Task was destroyed but it is pending!" when they were collected.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest

import simloop


async def cancelled_gather_of_failures() -> None:
    """A correct program: a parent gathers two children that both fail, and is cancelled
    meanwhile. The gather retrieves both children's exceptions (the second from its done
    callback), so stock asyncio never logs "Task exception was never retrieved"."""

    async def child(name: str) -> None:
        raise ValueError(name)

    async def parent() -> None:
        try:
            await asyncio.gather(child("a"), child("b"))
        except ValueError:
            pass

    async def canceller(task: asyncio.Task[None]) -> None:
        task.cancel()

    parent_task = asyncio.create_task(parent())
    canceller_task = asyncio.create_task(canceller(parent_task))
    await asyncio.gather(parent_task, canceller_task, return_exceptions=True)


def errors_stock_asyncio_logs(main: Any, caplog: pytest.LogCaptureFixture) -> list[str]:
    """What stock asyncio logs as errors running ``main()`` (once its tasks are collected)."""
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(main())
        gc.collect()  # an exception nobody retrieved is logged when its task goes
    return [r.getMessage().splitlines()[0] for r in caplog.records if r.name == "asyncio"]


def test_the_gather_program_is_fine_in_asyncios_order(caplog: pytest.LogCaptureFixture) -> None:
    simloop.run(cancelled_gather_of_failures())
    assert errors_stock_asyncio_logs(cancelled_gather_of_failures, caplog) == []

    # The check above can fail: a task whose exception nobody retrieves is logged.
    async def crash_unseen() -> None:
        lost = asyncio.create_task(_fails())
        await asyncio.sleep(0)
        del lost

    assert errors_stock_asyncio_logs(crash_unseen, caplog) == ["Task exception was never retrieved"]


async def _fails() -> None:
    raise ValueError("nobody retrieves this")


def test_explore_reports_no_failure_for_a_gather_that_retrieves_its_exceptions() -> None:
    result = simloop.explore(cancelled_gather_of_failures, runs=300, shrink=False)
    assert not result.found, result.failure and result.failure.summary()


async def cleanup_breaks_an_invariant() -> None:
    """Returns at once, leaving two workers; cancelling them (simloop.run's cleanup, as
    asyncio.run's) breaks the invariant."""
    state = {"cancelled": 0}
    simloop.invariant(lambda: state["cancelled"] == 0, name="no worker is cancelled")

    async def worker() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            state["cancelled"] += 1
            await asyncio.sleep(0)
            raise

    workers = [asyncio.create_task(worker()) for _ in range(2)]
    await asyncio.sleep(0)
    del workers


def test_a_failed_cleanup_leaves_no_task_pending(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(simloop.InvariantError, match="no worker is cancelled"):
        simloop.run(cleanup_breaks_an_invariant())
    gc.collect()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
