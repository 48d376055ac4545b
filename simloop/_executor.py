"""Executor calls (``run_in_executor``, ``asyncio.to_thread``) without threads.

A real executor runs the function in a worker thread, concurrently with the loop, and hands
the result back whenever the thread finishes: real-world timing. In a simulation the function
runs in the loop's thread, as a step of its own that the scheduler places among the other
ready callbacks, so *when* it runs and completes is a choice point like any other.

Inside the function there is no running event loop (as in a worker thread) and the context is
a fresh one (worker threads do not inherit the caller's context; ``to_thread`` passes it
explicitly). If the function calls ``time.sleep``, the job takes that much virtual time: its
result arrives that much later, while the rest of the program keeps running.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simloop import _stdlib

if TYPE_CHECKING:
    from simloop._loop import SimLoop


class ExecutorJob:
    """One ``run_in_executor`` call."""

    __slots__ = ("args", "elapsed_ns", "func", "future", "loop")

    def __init__(
        self,
        loop: SimLoop,
        future: asyncio.Future[Any],
        func: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        self.loop = loop
        self.future = future
        self.func = func
        self.args = args
        #: Virtual time the job has spent in ``time.sleep``.
        self.elapsed_ns = 0

    def run(self) -> None:
        """The job's step: call the function, then deliver its outcome (maybe later)."""
        future = self.future
        if future.cancelled():
            return  # cancelled before a worker picked it up: it never runs
        loop = self.loop
        outer_job = loop._job
        loop._job = self
        _stdlib.set_running_loop(None)
        outcome: tuple[bool, Any]
        try:
            outcome = (True, contextvars.Context().run(self.func, *self.args))
        except BaseException as exc:  # noqa: BLE001 - a worker thread would capture it too
            if isinstance(exc, StopIteration):
                # Futures refuse StopIteration; concurrent.futures has the same problem.
                wrapped = RuntimeError(f"executor function raised {exc!r}")
                wrapped.__cause__ = exc
                exc = wrapped
            outcome = (False, exc)
        finally:
            _stdlib.set_running_loop(loop)
            loop._job = outer_job
        if self.elapsed_ns:
            loop._call_later_ns(self.elapsed_ns, self.deliver, outcome)
        else:
            self.deliver(outcome)

    def deliver(self, outcome: tuple[bool, Any]) -> None:
        if self.future.cancelled():
            return
        ok, value = outcome
        if ok:
            self.future.set_result(value)
        else:
            self.future.set_exception(value)
