"""Recording events: one :class:`~simloop.Step` per callback the loop runs.

The recorder is an :class:`~simloop.Instrument` built on :mod:`simloop.lowlevel` alone, as any
extension would be. A deviation from asyncio's order is shown at the step it concerns: a
choice among callbacks at the step that runs the chosen one, a choice about a timer or a task
(its ``subject``) at the step that runs it, and any other choice (a packet's fate, a disk
write) at the step during which it was made.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import os
from asyncio import events
from typing import Any

from simloop import Instrument, SimLoop, Step
from simloop.lowlevel import (
    ChoicePoint,
    ExceptionWatch,
    await_chain,
    describe_task,
    exception_of,
    handle_label,
    now_ns,
    suspension_point,
    task_label,
    task_of,
    timer_label,
    watched_values,
)


class TraceRecorder(Instrument):
    """Records one :class:`~simloop.Step` per callback the loop runs.

    Besides where each task step resumed and suspended, it records how the step ended, the
    cancellations it requested, received or caught (from each task's public ``cancelling()``
    count, compared step by step), the values of :func:`simloop.watch` that changed, and with
    ``chains=True`` the task's whole await chain after the step.
    """

    def __init__(self, *, keep: int | None = None, chains: bool = False) -> None:
        #: The steps recorded (at most ``keep``, the latest, if given).
        self.events: collections.deque[Step] = collections.deque(maxlen=keep)
        self._chains = chains
        # Live tasks seen so far, with their cancelling() count after the last step.
        self._cancelling: dict[int, tuple[asyncio.Task[Any], int]] = {}
        # Tasks with a cancellation requested and not yet delivered (by id, with the task).
        self._undelivered: dict[int, asyncio.Task[Any]] = {}
        self._watched: dict[str, str] = {}
        # Exceptions raised and caught inside steps (Python 3.12+; see ExceptionWatch).
        self._exceptions = ExceptionWatch()
        self._task_ids: dict[int, tuple[asyncio.Task[Any], int]] = {}
        self._where: dict[int, tuple[str, str | None]] = {}
        self._current: dict[str, Any] | None = None
        # Deviations decided before the step they show in, by id of the handle or task they
        # concern, with the object (to check against a reused id).
        self._pending: dict[int, tuple[object, str]] = {}
        # Deviations with nothing to run: shown at the step in progress, or the next one.
        self._loose: list[str] = []

    def run_started(self, loop: SimLoop) -> None:
        self._exceptions.start()

    def run_stopped(self, loop: SimLoop) -> None:
        self._exceptions.stop()

    def choice_made(self, loop: SimLoop, point: ChoicePoint, choice: int) -> None:
        if not choice:
            return
        note = point.describe(choice)
        handles = point.option_handles()
        if choice < len(handles):
            target: object = handles[choice]
        elif isinstance(point.subject, (asyncio.Handle, asyncio.Task)):
            target = point.subject
        else:
            target = None
        if target is not None:
            self._pending[id(target)] = (target, note)
            return
        current = self._current
        if current is not None:
            current["deviation"] = _joined(current["deviation"], note)
        else:
            self._loose.append(note)

    def _take_pending(self, key: object) -> str | None:
        entry = self._pending.get(id(key))
        if entry is None or entry[0] is not key:
            return None
        del self._pending[id(key)]
        return entry[1]

    def _task_id(self, task: asyncio.Task[Any]) -> int:
        # Keyed by id() but holding the task, so an id is never reused while we remember it.
        entry = self._task_ids.get(id(task))
        if entry is None or entry[0] is not task:
            entry = (task, len(self._task_ids) + 1)
            self._task_ids[id(task)] = entry
        return entry[1]

    def step_started(
        self,
        loop: SimLoop,
        index: int,
        handle: events.Handle,
        choice: int,
        options: int,
        stock: events.Handle,
    ) -> None:
        task = task_of(handle)
        deviation = self._take_pending(handle)
        if task is not None:
            deviation = _joined(self._take_pending(task), deviation)
        if self._loose:
            deviation = _joined("; ".join(self._loose), deviation)
            self._loose.clear()
        self._exceptions.take()  # raised between steps: not this step's
        current: dict[str, Any] = {
            "index": index,
            "choice": choice,
            "options": options,
            "deviation": deviation,
            "task_id": None,
            "resumed_at": None,
            "resumed_source": None,
            "cancellations": [],
        }
        if task is not None:
            task_id = self._task_id(task)
            count = task.cancelling()
            known = self._cancelling.get(id(task))
            if (known is None or known[0] is not task) and count:
                # Cancelled before its first step: requested by a step we did not attribute.
                self._undelivered[id(task)] = task
            self._cancelling[id(task)] = (task, count)
            if self._undelivered.pop(id(task), None) is not None:
                current["cancellations"].append("delivered")
            where = self._where.get(task_id)
            if where is None:
                coro = task.get_coro()
                fresh = inspect.iscoroutine(coro) and (
                    inspect.getcoroutinestate(coro) == inspect.CORO_CREATED
                )
                where = (None if fresh else suspension_point(task)) or ("start", None)
            current.update(
                kind="task",
                label=task_label(task),
                task_id=task_id,
                task=task,
                resumed_at=where[0],
                resumed_source=where[1],
            )
        elif isinstance(handle, asyncio.TimerHandle):
            current.update(kind="timer", label=timer_label(handle), task=None)
        else:
            current.update(kind="callback", label=handle_label(handle), task=None)
        self._current = current

    def step_finished(self, loop: SimLoop, index: int, handle: events.Handle) -> None:
        current = self._current
        if current is None or current["index"] != index:
            return
        self._current = None
        task = current.pop("task")
        suspended: tuple[str, str | None] | None = None
        ended = chain = None
        cancellations: list[str] = current.pop("cancellations")
        if task is not None:
            suspended = ("finished", None) if task.done() else suspension_point(task)
            if suspended is not None:
                self._where[current["task_id"]] = suspended
            ended = _ending(task)
            if cancellations and not task.cancelled():
                cancellations.append("caught")
            if self._chains and not task.done():
                chain = [_where(link.frame) for link in await_chain(task)]
                waiting = describe_task(task, loop=loop).waiting_on
                if waiting:
                    chain.append(waiting)
        cancellations += self._new_cancellations()
        watched = watched_values(loop=loop)
        changed = None
        if watched != self._watched:
            changed = {k: v for k, v in watched.items() if self._watched.get(k) != v}
            self._watched = watched
        self.events.append(
            Step(
                time_ns=now_ns(loop=loop),
                suspended_at=None if suspended is None else suspended[0],
                suspended_source=None if suspended is None else suspended[1],
                ended=ended,
                cancellations=cancellations,
                exceptions=self._exceptions.take(),
                chain=chain,
                watched=changed or None,
                **current,
            )
        )

    def _new_cancellations(self) -> list[str]:
        """Cancellations requested during the step that just ran (cancelling() went up)."""
        requested = []
        for key, (task, before) in list(self._cancelling.items()):
            if task.done():
                del self._cancelling[key]
                self._undelivered.pop(key, None)
                continue
            count = task.cancelling()
            if count > before:
                requested.append(f"requested for {task_label(task)}")
                self._undelivered[key] = task
            if count != before:
                self._cancelling[key] = (task, count)
        return requested


def _where(frame: Any) -> str:
    """A frame as traces name it: file name (no directory, which differs between machines),
    line, function."""
    code = frame.f_code
    return f"{os.path.basename(code.co_filename)}:{frame.f_lineno} in {code.co_name}"


def _ending(task: asyncio.Task[Any]) -> str:
    """How a task's step ended: suspended, finished, cancelled, or raised an exception."""
    if not task.done():
        return "suspended"
    if task.cancelled():
        return "cancelled"
    exc = exception_of(task)
    return "finished" if exc is None else f"raised {type(exc).__name__}"


def _joined(first: str | None, second: str | None) -> str | None:
    if first and second:
        return f"{first}; {second}"
    return first or second
