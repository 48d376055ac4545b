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
import threading
from collections.abc import Callable
from typing import Any

from simloop import _stdlib

#: The loop whose executor job each thread is running (a job runs with no running loop, as in
#: a worker thread), by thread id: how code that must reach the simulation from inside a job
#: (a socket bound there, a signal sent there) finds it.
_job_loops: dict[int, list[Any]] = {}


def loop_of_running_job() -> Any:
    """The SimLoop whose executor job the calling thread is running, or None."""
    loops = _job_loops.get(threading.get_ident())
    return loops[-1] if loops else None


class SimulatedExecutor:
    """A loop's executor: jobs run as steps in the loop's thread. ``call_later_ns(delay,
    callback, *args)`` is the loop's exact timer, used to deliver a job's result after the
    virtual time it spent in ``time.sleep``."""

    __slots__ = ("call_later_ns", "configured", "job", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, call_later_ns: Callable[..., Any]) -> None:
        self.loop = loop
        self.call_later_ns = call_later_ns
        #: The job running now (its step), if any.
        self.job: ExecutorJob | None = None
        #: What ``set_default_executor`` was given (kept, never used).
        self.configured: Any = None

    def submit(self, func: Callable[..., Any], args: tuple[Any, ...]) -> asyncio.Future[Any]:
        """Run ``func(*args)`` as a step of its own; return the future of its result."""
        future = self.loop.create_future()
        job = ExecutorJob(self, future, func, args)
        # A timer due now: the job joins the ready callbacks at the next batch, in a lane of
        # its own, as a worker thread's result would arrive from outside the current step.
        self.call_later_ns(0, job.run)
        return future

    def block(self, ns: int) -> bool:
        """``time.sleep(ns)``: True if a running job absorbed the time (it delivers its
        result that much later), False if the caller is not a job."""
        if self.job is None:
            return False
        self.job.elapsed_ns += ns
        return True

    def offset_ns(self) -> int:
        """Virtual time the running job has spent in ``time.sleep`` (its clock is ahead of
        the loop's by that much)."""
        return 0 if self.job is None else self.job.elapsed_ns


class ExecutorJob:
    """One ``run_in_executor`` call."""

    __slots__ = ("args", "elapsed_ns", "executor", "func", "future")

    def __init__(
        self,
        executor: SimulatedExecutor,
        future: asyncio.Future[Any],
        func: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        self.executor = executor
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
        executor = self.executor
        outer_job = executor.job
        executor.job = self
        _stdlib.set_running_loop(None)
        job_loops = _job_loops.setdefault(threading.get_ident(), [])
        job_loops.append(executor.loop)
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
            job_loops.pop()
            if not job_loops:
                del _job_loops[threading.get_ident()]
            _stdlib.set_running_loop(executor.loop)
            executor.job = outer_job
        if self.elapsed_ns:
            executor.call_later_ns(self.elapsed_ns, self.deliver, outcome)
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
