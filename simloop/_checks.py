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
"""

from __future__ import annotations

import asyncio
import sys
from asyncio import events
from collections.abc import Callable
from typing import Any

from simloop import _stdlib
from simloop._clock import format_seconds, seconds_to_ns
from simloop._errors import InvalidArgumentError, InvariantError, LivenessError
from simloop._instrument import Instrument
from simloop._loop import SimLoop
from simloop._scheduling import ChoiceKind
from simloop._trace import handle_label, suspension_point


def _running_simloop(what: str) -> SimLoop:
    loop = _stdlib.get_running_loop_or_none()
    if not isinstance(loop, SimLoop):
        msg = (
            f"simloop.{what}() must be called inside a simulated run (a coroutine running on a "
            f"SimLoop), not {'outside any event loop' if loop is None else f'on {loop!r}'}"
        )
        raise InvalidArgumentError(msg)
    return loop


def _describe(check: Callable[[], object], name: str | None) -> str:
    if name:
        return repr(name)
    return getattr(check, "__qualname__", None) or repr(check)


def _holds(check: Callable[[], object]) -> tuple[bool, str]:
    """(whether it holds, why not): a falsy result and an AssertionError both mean no."""
    try:
        result = check()
    except AssertionError as exc:
        return False, f": {exc}" if str(exc) else ""
    return bool(result), ""


def _where(handle: events.Handle) -> str:
    task = (
        _stdlib.task_of_callback(_stdlib.callback_of(handle))
        if _stdlib.callback_of(handle)
        else None
    )
    label = handle_label(handle)
    if task is not None and not task.done():
        spot = suspension_point(task)
        if spot is not None:
            return f"{label}, which then waited at {spot[0]}"
    if task is not None and task.done():
        return f"{label}, which then finished"
    return label


class _Invariant(Instrument):
    def __init__(self, check: Callable[[], object], name: str) -> None:
        self.check = check
        self.name = name

    def step_finished(self, loop: SimLoop, index: int, handle: events.Handle) -> None:
        holds, why = _holds(self.check)
        if not holds:
            loop.remove_instrument(self)
            msg = (
                f"invariant {self.name} broken by step {index} ({_where(handle)}) at virtual "
                f"time {format_seconds(loop._now_ns)}{why}"
            )
            raise InvariantError(msg, name=self.name, step=index)


def invariant(check: Callable[[], object], *, name: str | None = None) -> Callable[[], None]:
    """Check ``check()`` now and after every step of the run; fail the run when it is false
    (or raises ``AssertionError``) with :class:`~simloop.InvariantError` naming the step.

    Returns a function that removes the check.
    """
    loop = _running_simloop("invariant")
    label = _describe(check, name)
    holds, why = _holds(check)
    if not holds:
        msg = f"invariant {label} does not hold when it is set{why}"
        raise InvariantError(msg, name=label, step=loop.steps)
    instrument = _Invariant(check, label)
    loop.add_instrument(instrument)

    def remove() -> None:
        if instrument in loop._instruments:
            loop.remove_instrument(instrument)

    return remove


class _Eventually(Instrument):
    def __init__(self, check: Callable[[], object], name: str, deadline_ns: int) -> None:
        self.check = check
        self.name = name
        self.deadline_ns = deadline_ns
        self.satisfied = False

    def step_finished(self, loop: SimLoop, index: int, handle: events.Handle) -> None:
        if _holds(self.check)[0]:
            self.satisfied = True
            loop.remove_instrument(self)

    def deadline_passed(self, loop: SimLoop) -> None:
        if not self.satisfied and not _holds(self.check)[0]:
            loop.remove_instrument(self)
            loop._pending_errors.append(self.error(loop, "by the deadline"))

    def run_stopped(self, loop: SimLoop) -> None:
        # The program finished before the deadline: the condition can never become true.
        main = loop._main_future
        finished = main is not None and main.done() and not main.cancelled()
        if self.satisfied or main is None or not finished or sys.exc_info()[1] is not None:
            return
        if main.exception() is None and not _holds(self.check)[0]:
            loop.remove_instrument(self)
            raise self.error(loop, "before the program finished")

    def error(self, loop: SimLoop, when: str) -> LivenessError:
        return LivenessError(
            f"eventually {self.name} never became true {when} (deadline: virtual time "
            f"{format_seconds(self.deadline_ns)}; now {format_seconds(loop._now_ns)})",
            name=self.name,
        )


def eventually(check: Callable[[], object], *, within: float, name: str | None = None) -> None:
    """Require ``check()`` to become true within ``within`` virtual seconds from now.

    It is checked after every step. If the deadline passes, or the program finishes first,
    with ``check()`` never true, the run fails with :class:`~simloop.LivenessError`.
    """
    loop = _running_simloop("eventually")
    if _holds(check)[0]:
        return
    within_ns = seconds_to_ns(within, name="within")
    if within_ns < 0:
        msg = f"`within` must be a non-negative number of seconds, not {within!r}"
        raise InvalidArgumentError(msg)
    instrument = _Eventually(check, _describe(check, name), loop._now_ns + within_ns)
    loop.add_instrument(instrument)
    loop._call_later_ns(within_ns, instrument.deadline_passed, loop)


def sometimes(label: str, condition: object = True) -> None:
    """A reachability mark: note that this point was reached with ``condition`` true (or
    not). An exploration reports the labels whose condition never held in any run."""
    if not isinstance(label, str):
        msg = f"`label` must be a str, not {type(label).__name__} {label!r}"
        raise InvalidArgumentError(msg)
    loop = _running_simloop("sometimes")
    loop._marks[label] = loop._marks.get(label, False) or bool(condition)


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
            loop.remove_instrument(self)
            return
        if _stdlib.task_of_callback(_stdlib.callback_of(handle)) is not task:
            return
        # Option 0 (asyncio's way) lets the task run on; option 1 cancels it before this step,
        # so it sees CancelledError at the await it is about to resume from.
        loop._choice_subject = task
        try:
            cancel = loop._make_choice(ChoiceKind.CANCEL, 2)
        finally:
            loop._choice_subject = None
        if cancel:
            loop.remove_instrument(self)
            task.cancel()


def cancel_somewhere(task: asyncio.Task[Any]) -> None:
    """Let the scheduler cancel ``task`` at any one of its awaits (or not at all).

    Before each step of the task, the scheduler makes a ``CANCEL`` choice: option 0 runs the
    step as usual, option 1 cancels the task first, so that it sees ``CancelledError`` where it
    was suspended. Exploring these choices finds code that is not safe to cancel: a lock never
    released, a half-done update.
    """
    if not isinstance(task, asyncio.Task):
        msg = f"`task` must be an asyncio.Task, not {type(task).__name__} {task!r}"
        raise InvalidArgumentError(msg)
    loop = _running_simloop("cancel_somewhere")
    if task.get_loop() is not loop:
        msg = "cancel_somewhere(): the task belongs to another event loop"
        raise InvalidArgumentError(msg)
    loop.add_instrument(_CancelSomewhere(task))
