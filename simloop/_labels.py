"""Names for what runs in a loop, as people read them in traces and reports.

Every label comes from qualified names and loop-assigned task names, never an ``id()`` or a
``repr`` with a memory address, so that traces of the same run compare equal across processes.
"""

from __future__ import annotations

import asyncio
import linecache
import os
from typing import TYPE_CHECKING, Any

from simloop import _stdlib
from simloop._errors import InvalidArgumentError
from simloop._text import describe

if TYPE_CHECKING:
    from asyncio import events


def _not(argument: str, expected: str, value: object) -> InvalidArgumentError:
    # These functions read what they are given without checking first (the trace recorder
    # calls them at every step); a wrong argument is named when reading it fails.
    return InvalidArgumentError(f"`{argument}` must be {expected}, not {describe(value)}")


def _callback_of(handle: object, argument: str = "handle") -> Any:
    try:
        return _stdlib.callback_of(handle)
    except AttributeError:
        raise _not(argument, "an asyncio.Handle", handle) from None


def task_of(handle: events.Handle) -> asyncio.Task[Any] | None:
    """The task whose step (or wake-up) a ready callback runs; None for a callback that
    belongs to no task, and for a cancelled handle."""
    return _stdlib.task_of_callback(_callback_of(handle))


def task_woken_by(timer: events.Handle) -> asyncio.Task[Any] | None:
    """The task an ``asyncio.sleep`` wake-up timer wakes, if it is one."""
    return _stdlib.task_woken_by(timer)


def suspension_point(task: asyncio.Task[Any]) -> tuple[str, str | None] | None:
    """Where in the user's code a suspended task waits: (``"file.py:12 in func"``, source)."""
    if not isinstance(task, asyncio.Future):
        raise _not("task", "an asyncio.Task", task)
    frames = _stdlib.coroutine_frames(task)
    user = [f for f in frames if not _stdlib.is_library_frame(f)]
    frame = user[-1] if user else (frames[-1] if frames else None)
    if frame is None:
        return None
    code = frame.f_code
    location = f"{os.path.basename(code.co_filename)}:{frame.f_lineno} in {code.co_name}"
    source = linecache.getline(code.co_filename, frame.f_lineno).strip() or None
    return location, source


def task_label(task: asyncio.Task[Any]) -> str:
    """A task's name, with its coroutine's name when the name is a default ``Task-N``."""
    try:
        name = task.get_name()
    except AttributeError:
        raise _not("task", "an asyncio.Task", task) from None
    prefix, _, number = name.rpartition("-")
    if prefix == "Task" and number.isdigit():
        coro = task.get_coro()
        qualname = getattr(coro, "__qualname__", None)
        if qualname:
            return f"{name} ({qualname.rsplit('.', 1)[-1]})"
    return name


def timer_label(timer: events.Handle) -> str:
    """A timer, for a person: "timer of Task-3 (restock)" for a sleep's wake-up."""
    task = _stdlib.task_woken_by(timer)
    if task is not None:
        return f"timer of {task_label(task)}"
    return f"timer {callback_label(_callback_of(timer, 'timer'))}"


def handle_label(handle: events.Handle) -> str:
    """What a ready callback is, for a person: a task's name or a callback's name."""
    callback = _callback_of(handle)
    if callback is None:
        return "a cancelled callback"
    task = _stdlib.task_of_callback(callback)
    if task is not None:
        return task_label(task)
    if isinstance(handle, asyncio.TimerHandle):
        return timer_label(handle)
    return callback_label(callback)


def callback_label(callback: Any) -> str:
    """A process-independent name for a callback: its qualified name, never an address."""
    func = callback
    for _ in range(10):
        inner = getattr(func, "func", None)  # functools.partial
        if inner is None:
            break
        func = inner
    qualname: str | None = getattr(func, "__qualname__", None)
    if qualname is None:
        return type(func).__qualname__
    module = getattr(func, "__module__", None) or ""
    if module.startswith("asyncio."):
        return f"asyncio.{qualname}"
    return qualname
