"""Exceptions raised and caught inside steps, for the trace (Python 3.12+).

A task step can raise and catch exceptions that leave no other mark: a retry that swallowed
a ``ConnectionError``, a cancellation caught and ignored. :class:`ExceptionWatch` notes them
through :mod:`sys.monitoring` (``RAISE``, ``EXCEPTION_HANDLED`` and ``RERAISE`` events, which
cost nothing until an exception is raised), in the program's own frames and the watching
thread only.
Python 3.11 has no such hook short of a trace function on every call, which would slow every
recorded run and fight coverage tools and debuggers for ``sys.settrace``: there the watch is
unavailable and records nothing.
"""

from __future__ import annotations

import os
import sys
import threading
from types import CodeType
from typing import Any

from simloop._stdlib import is_library_frame

#: Exceptions Python uses for control flow: not worth a line in a trace.
_CONTROL_FLOW = (StopIteration, StopAsyncIteration, GeneratorExit)

#: sys.monitoring's tool ids 3 and 4 are free by convention (0 debuggers, 1 coverage,
#: 2 profilers, 5 optimizers).
_TOOL_IDS = (4, 3)


class ExceptionWatch:
    """Notes the exceptions raised in the program's own frames, and whether they were
    caught there, between :meth:`start` and :meth:`stop` (see the module docstring)."""

    def __init__(self) -> None:
        self._tool: int | None = None
        self._thread = 0
        # Each entry: [exception, "ValueError at x.py:3 in f", caught?]
        self._seen: list[list[Any]] = []

    @property
    def available(self) -> bool:
        """Whether this Python can watch exceptions (3.12+, with a free monitoring tool id)."""
        return hasattr(sys, "monitoring")

    def start(self) -> bool:
        """Begin watching (in this thread); whether it could."""
        monitoring = getattr(sys, "monitoring", None)
        if monitoring is None or self._tool is not None:
            return self._tool is not None
        for tool in _TOOL_IDS:
            if monitoring.get_tool(tool) is None:
                monitoring.use_tool_id(tool, "simloop")
                break
        else:
            return False
        self._tool = tool
        self._thread = threading.get_ident()
        events = monitoring.events
        monitoring.register_callback(tool, events.RAISE, self._raised)
        monitoring.register_callback(tool, events.EXCEPTION_HANDLED, self._handled)
        monitoring.register_callback(tool, events.RERAISE, self._reraised)
        monitoring.set_events(tool, events.RAISE | events.EXCEPTION_HANDLED | events.RERAISE)
        return True

    def stop(self) -> None:
        """Stop watching."""
        tool, self._tool = self._tool, None
        if tool is None:
            return
        monitoring = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        monitoring.set_events(tool, 0)
        monitoring.register_callback(tool, monitoring.events.RAISE, None)
        monitoring.register_callback(tool, monitoring.events.EXCEPTION_HANDLED, None)
        monitoring.register_callback(tool, monitoring.events.RERAISE, None)
        monitoring.free_tool_id(tool)

    def take(self) -> list[str]:
        """What was seen since the last call: ``"ValueError at pool.py:12 in get, caught"``."""
        seen, self._seen = self._seen, []
        return [f"{where}, {'caught' if caught else 'not caught'}" for _, where, caught in seen]

    def _raised(self, code: CodeType, offset: int, exc: BaseException) -> None:
        if threading.get_ident() != self._thread or isinstance(exc, _CONTROL_FLOW):
            return
        frame = sys._getframe(1)
        if is_library_frame(frame) or any(entry[0] is exc for entry in self._seen):
            return
        where = (
            f"{type(exc).__name__} at {os.path.basename(code.co_filename)}:"
            f"{frame.f_lineno} in {code.co_name}"
        )
        self._seen.append([exc, where, False])

    def _handled(self, code: CodeType, offset: int, exc: BaseException) -> None:
        if threading.get_ident() != self._thread:
            return
        if is_library_frame(sys._getframe(1)):
            return
        for entry in self._seen:
            if entry[0] is exc:
                entry[2] = True

    def _reraised(self, code: CodeType, offset: int, exc: BaseException) -> None:
        # A handler that re-raises (a ``finally``, a coroutine's own implicit handler) did
        # not catch it after all.
        if threading.get_ident() != self._thread:
            return
        for entry in self._seen:
            if entry[0] is exc:
                entry[2] = False
