"""Checks beyond the final assert: invariants, liveness, reachability, cancellation points.

Called from inside a simulated run (they find the running :class:`~simloop.SimLoop`):

* ``invariant(check)``: ``check()`` must hold after every step from now on; the failure names
  the step that broke it;
* ``eventually(check, within=seconds)``: ``check()`` must become true within that much virtual
  time (liveness);
* ``sometimes(label, condition)``: a reachability mark; an exploration reports the labels whose
  condition never held;
* ``cancel_somewhere(task)``: let the scheduler cancel ``task`` before any one of its steps,
  to find code that is not safe to cancel.

Each attaches an :class:`~simloop.Instrument` to the loop, which runs its batches through the
observed path from then on (a little slower; nothing changes for runs that use no checks).
They are built on :mod:`simloop.lowlevel` alone, as a user's own checks would be.
"""

from __future__ import annotations

import asyncio
import sys
from asyncio import events
from collections.abc import Callable
from typing import Any

# Built on the public surface only, as any extension would be (simloop/__init__.py imports
# this module after the names it uses).
from simloop import (
    Instrument,
    InvalidArgumentError,
    InvariantError,
    LivenessError,
    SimLoop,
    lowlevel,
)


def _detach(loop: SimLoop, instrument: Instrument) -> None:
    """Stop telling ``instrument`` about the run (if it is still attached)."""
    if loop.has_instrument(instrument):
        loop.remove_instrument(instrument)


def _note_on_failure(message: str) -> bool:
    """While a failure is being handled (the cleanup after a failed run: ``simloop.run``
    cancels the tasks left over), a check that fails adds a note to that failure instead of
    raising: the run's failure is what it reports, and raising would cut the cleanup short,
    leaving tasks pending. Whether it did."""
    failure = sys.exc_info()[1]
    if failure is None:
        return False
    failure.add_note(f"simloop: then, while cleaning up: {message}")
    return True


def _running_simloop(what: str) -> SimLoop:
    loop = lowlevel.get_running_loop_or_none()
    if not isinstance(loop, SimLoop):
        msg = (
            f"simloop.{what}() must be called inside a simulated run (a coroutine running on a "
            f"SimLoop), not {'outside any event loop' if loop is None else f'on {loop!r}'}"
        )
        raise InvalidArgumentError(msg)
    return loop


def _name_of(check: Callable[[], object], name: str | None) -> str:
    """A check's name: its ``name=``, else its function's qualified name."""
    if name:
        return name
    return getattr(check, "__qualname__", None) or repr(check)


def _check_arguments(check: object, name: object) -> None:
    if not callable(check):
        msg = f"`check` must be a function of no arguments, not {lowlevel.describe(check)}"
        raise InvalidArgumentError(msg)
    if name is not None and not isinstance(name, str):
        msg = f"`name` must be a str or None, not {lowlevel.describe(name)}"
        raise InvalidArgumentError(msg)


def _describe(check: Callable[[], object], name: str | None) -> str:
    """A check as messages show it: a given name quoted, a function's name as is."""
    return repr(name) if name else _name_of(check, None)


def _holds(check: Callable[[], object]) -> tuple[bool, str]:
    """(whether it holds, why not): a falsy result and an AssertionError both mean no."""
    try:
        result = check()
    except AssertionError as exc:
        return False, f": {exc}" if str(exc) else ""
    return bool(result), ""


def _where(handle: events.Handle) -> str:
    task = lowlevel.task_of(handle)
    label = lowlevel.handle_label(handle)
    if task is not None and not task.done():
        spot = lowlevel.suspension_point(task)
        if spot is not None:
            return f"{label}, which then waited at {spot[0]}"
    if task is not None and task.done():
        return f"{label}, which then finished"
    return label


class _Invariant(Instrument):
    def __init__(self, check: Callable[[], object], name: str, label: str) -> None:
        self.check = check
        self.name = name
        self.label = label

    def step_finished(self, loop: SimLoop, index: int, handle: events.Handle) -> None:
        holds, why = _holds(self.check)
        if not holds:
            _detach(loop, self)
            msg = (
                f"invariant {self.label} broken by step {index} ({_where(handle)}) at virtual "
                f"time {lowlevel.format_seconds(lowlevel.now_ns(loop=loop))}{why}"
            )
            if _note_on_failure(msg):
                return
            raise InvariantError(msg, name=self.name, step=index)


def invariant(check: Callable[[], object], *, name: str | None = None) -> Callable[[], None]:
    """Check ``check()`` now and after every step of the run; fail the run when it is false
    (or raises ``AssertionError``) with :class:`~simloop.InvariantError` naming the step.

    Returns a function that removes the check.
    """
    loop = _running_simloop("invariant")
    _check_arguments(check, name)
    label = _describe(check, name)
    holds, why = _holds(check)
    if not holds:
        msg = f"invariant {label} does not hold when it is set{why}"
        raise InvariantError(msg, name=_name_of(check, name), step=loop.steps)
    instrument = _Invariant(check, _name_of(check, name), label)
    loop.add_instrument(instrument)

    def remove() -> None:
        _detach(loop, instrument)

    return remove


class _Eventually(Instrument):
    def __init__(
        self, check: Callable[[], object], name: str, label: str, deadline_ns: int
    ) -> None:
        self.check = check
        self.name = name
        self.label = label
        self.deadline_ns = deadline_ns
        self.satisfied = False

    def step_finished(self, loop: SimLoop, index: int, handle: events.Handle) -> None:
        if _holds(self.check)[0]:
            self.satisfied = True
            _detach(loop, self)

    def deadline_passed(self, loop: SimLoop) -> None:
        if not self.satisfied and not _holds(self.check)[0]:
            _detach(loop, self)
            error = self.error(loop, "by the deadline")
            if not _note_on_failure(str(error)):
                lowlevel.fail(error, loop=loop)

    def run_stopped(self, loop: SimLoop) -> None:
        # The program finished before the deadline: the condition can never become true.
        main = lowlevel.main_task(loop=loop)
        finished = main is not None and main.done() and not main.cancelled()
        if self.satisfied or main is None or not finished or sys.exc_info()[1] is not None:
            return
        if main.exception() is None and not _holds(self.check)[0]:
            _detach(loop, self)
            raise self.error(loop, "before the program finished")

    def error(self, loop: SimLoop, when: str) -> LivenessError:
        return LivenessError(
            f"eventually {self.label} never became true {when} (deadline: virtual time "
            f"{lowlevel.format_seconds(self.deadline_ns)}; now "
            f"{lowlevel.format_seconds(lowlevel.now_ns(loop=loop))})",
            name=self.name,
        )


def eventually(check: Callable[[], object], *, within: float, name: str | None = None) -> None:
    """Require ``check()`` to become true within ``within`` virtual seconds from now.

    It is checked after every step. If the deadline passes, or the program finishes first,
    with ``check()`` never true, the run fails with :class:`~simloop.LivenessError`.
    """
    loop = _running_simloop("eventually")
    _check_arguments(check, name)
    within_ns = lowlevel.seconds_to_ns(within, name="within")
    if within_ns < 0:
        msg = f"`within` must be a non-negative number of seconds, not {lowlevel.describe(within)}"
        raise InvalidArgumentError(msg)
    if _holds(check)[0]:
        return
    instrument = _Eventually(
        check, _name_of(check, name), _describe(check, name), lowlevel.now_ns() + within_ns
    )
    loop.add_instrument(instrument)
    lowlevel.call_later_ns(within_ns, instrument.deadline_passed, loop)


def sometimes(label: str, condition: object = True) -> None:
    """A reachability mark: note that this point was reached with ``condition`` true (or
    not). An exploration reports the labels whose condition never held in any run."""
    if not isinstance(label, str):
        msg = f"`label` must be a str, not {lowlevel.describe(label)}"
        raise InvalidArgumentError(msg)
    _running_simloop("sometimes")
    lowlevel.record_mark(label, bool(condition))


class _CancelSomewhere(Instrument):
    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task

    def step_started(
        self,
        loop: SimLoop,
        index: int,
        handle: events.Handle,
        choice: int,
        options: int,
        stock: events.Handle,
    ) -> None:
        task = self.task
        if task.done():
            _detach(loop, self)
            return
        if lowlevel.task_of(handle) is not task:
            return
        # Option 0 (asyncio's way) lets the task run on; option 1 cancels it before this step,
        # so it sees CancelledError at the await it is about to resume from.
        if lowlevel.choose(_cancel_point(task), loop=loop):
            _detach(loop, self)
            task.cancel()


#: How often a random scheduler cancels, per step of a task given to ``cancel_somewhere``:
#: a quarter of the steps, not half, so that cancellation points spread over the task's
#: awaits rather than bunching at its first.
CANCEL_WEIGHTS = (3, 1)


def _cancel_point(task: asyncio.Task[Any]) -> lowlevel.ChoicePoint:
    return lowlevel.ChoicePoint(
        lowlevel.CANCEL,
        2,
        subject=task,
        labels=("not cancelled", "cancelled here by the explorer (cancel_somewhere)"),
        weights=CANCEL_WEIGHTS,
    )


def cancel_somewhere(task: asyncio.Task[Any]) -> None:
    """Let the scheduler cancel ``task`` at any one of its awaits (or not at all).

    Before each step of the task, the scheduler makes a ``CANCEL`` choice: option 0 runs the
    step as usual, option 1 cancels the task first, so that it sees ``CancelledError`` where it
    was suspended. Exploring these choices finds code that is not safe to cancel: a lock never
    released, a half-done update.
    """
    if not isinstance(task, asyncio.Task):
        msg = f"`task` must be an asyncio.Task, not {lowlevel.describe(task)}"
        raise InvalidArgumentError(msg)
    loop = _running_simloop("cancel_somewhere")
    if task.get_loop() is not loop:
        msg = "cancel_somewhere(): the task belongs to another event loop"
        raise InvalidArgumentError(msg)
    # First among the instruments: its CANCEL choice, made when a step of the task starts,
    # must come before the others hear of the step (the trace notes the deviation there).
    loop.add_instrument(_CancelSomewhere(task), first=True)
