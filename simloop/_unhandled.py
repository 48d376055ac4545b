"""Exceptions nobody retrieved: a crashed background task, a failing callback.

Stock asyncio only logs them, and so does a bare :class:`~simloop.SimLoop` handed to someone
else's runner. When simloop's harness runs the loop (``simloop.run``, ``explore``, the pytest
marker and fixture; or ``fail_on_unhandled=True``) they fail the run, because a crash nobody
sees is a bug a test should report. They are judged at defined points: the end of each
``run_until_complete``, and the end of the run (``final``), never in the middle of a step.

Sources: what reached the loop's default exception handler (a failing callback, a library's
report, a task freed with its exception unretrieved) is certain; a finished task that still
holds an unretrieved exception may yet be retrieved (its done-callbacks, a ``gather``
collecting results, say, may not have run when the loop stopped, and stock asyncio runs them in
the cleanup that follows). Such a task is a *suspect* until the next point, or until the loop
will not run again.

The garbage collector must not decide the outcome. A task kept alive by a reference cycle is a
suspect like any task that is still alive, whether or not the collector has freed it since (a
task freed *by the collector* is judged as if it were still alive); a plain future freed by
the collector is logged as asyncio does, and only logged, because whether a plain future
(which no registry lists) is freed before the run ends is the collector's choice.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from simloop import _stdlib
from simloop._errors import UnhandledExceptionsError

_get_ident = threading.get_ident

#: The thread in which the garbage collector is running now, if any: what it frees is freed
#: at a moment that depends on the whole process's allocations, not on the program.
_collecting_in: int | None = None


def _note_collection(phase: str, info: dict[str, int]) -> None:
    global _collecting_in
    _collecting_in = _get_ident() if phase == "start" else None


gc.callbacks.append(_note_collection)


def _freed_by_the_collector() -> bool:
    return _collecting_in is not None and _collecting_in == _get_ident()


class UnhandledPolicy:
    """What one loop does with exceptions nobody retrieved."""

    __slots__ = ("collected", "contexts", "enabled", "judged_clean_at", "last_failure", "suspects")

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        #: Exception-handler contexts recorded while the loop was open.
        self.contexts: list[dict[str, Any]] = []
        #: Tasks the garbage collector freed with their exception unretrieved (kept alive
        #: here until judged, as if the collector had not run).
        self.collected: list[asyncio.Task[Any]] = []
        self.suspects: list[asyncio.Task[Any]] = []
        #: The exception the last run of the loop failed with (its cleanup must not hide it).
        self.last_failure: BaseException | None = None
        #: The loop's step count when a final look last found nothing (-1: never).
        self.judged_clean_at = -1

    def nothing_recorded(self) -> bool:
        """No exception-handler context nor collected task waits to be judged."""
        return not (self.contexts or self.collected)

    def record(self, context: dict[str, Any], *, open: bool) -> bool:
        """Keep an exception-handler context to judge at the next point; False if it is not
        one (no exception, the policy is off, or the loop is closed: nobody would raise it any
        more), or a plain future the garbage collector freed: it is logged as stock asyncio
        does."""
        if not (self.enabled and open) or context.get("exception") is None:
            return False
        source = context.get("task") or context.get("future")
        if source is not None and _freed_by_the_collector():
            if isinstance(source, asyncio.Task):
                self.collected.append(source)
                return True
            return False
        self.contexts.append(context)
        return True

    def collect(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        final: bool,
        main: asyncio.Future[Any] | None,
        ready_handles: Callable[[], Iterable[Any]],
    ) -> list[BaseException]:
        """Exceptions nobody retrieved, each with a note saying where it came from."""
        if not self.enabled:
            return []
        found: list[BaseException] = []
        contexts, self.contexts = self.contexts, []
        for context in contexts:
            exc = context["exception"]
            exc.add_note(f"simloop: {_origin_of(context)}")
            found.append(exc)
        earlier = self.suspects
        self.suspects = []
        freed = self.collected
        # Candidates: the living tasks holding an exception nobody retrieved, the earlier
        # suspects (one the collector has freed since is no longer in asyncio's registry),
        # and the tasks the collector freed (judged as if still alive), in creation order, so
        # that the report does not depend on when the collector ran.
        candidates = {
            id(task): task
            for task in _stdlib.tasks_of_loop(loop, _stdlib.holds_unretrieved_exception)
        }
        for task in (*earlier, *freed):
            if id(task) not in candidates and _unretrieved(task, freed):
                candidates[id(task)] = task
        awaited: set[int] | None = None
        for task in sorted(candidates.values(), key=_stdlib.task_sort_key):
            if task is main:
                continue
            if awaited is None:
                # Tasks whose done-callbacks are still ready: the scheduler let the loop's
                # stop overtake them, which stock asyncio never does (a ready callback runs
                # ahead of everything scheduled after it). They are not judged on that.
                awaited = {
                    id(argument)
                    for handle in ready_handles()
                    if not _stdlib.is_cancelled(handle)
                    for argument in _stdlib.arguments_of(handle)[:1]
                }
            if id(task) in awaited:
                if not final:
                    self.suspects.append(task)
                continue
            if not final and not any(task is t for t in earlier):
                self.suspects.append(task)
                continue
            freed[:] = [t for t in freed if t is not task]
            exc = task.exception()
            _stdlib.mark_exception_retrieved(task)
            if exc is not None:
                exc.add_note(f"simloop: from task {task.get_name()!r} (exception never retrieved)")
                found.append(exc)
        if final:
            freed.clear()
        return found

    def raise_found(self, found: list[BaseException]) -> None:
        """Fail with ``found``; while another exception is being handled, or after a run
        failed (a cleanup), add them to that one as notes instead of hiding it."""
        if not found:
            return
        # A cleanup after a failure (asyncio.Runner's, which runs in __exit__ where
        # sys.exc_info() is empty) must not replace the failure.
        handling = sys.exc_info()[1] or self.last_failure
        if handling is not None:
            for exc in found:
                handling.add_note(f"simloop: also unhandled during this run: {exc!r}")
            return
        summary = "; ".join(_origin(e) for e in found)
        count = "1 exception" if len(found) == 1 else f"{len(found)} exceptions"
        msg = (
            f"{count} nobody retrieved: {summary}. A crash in a background task or a callback "
            "is only logged by asyncio; simloop fails the run (fail_on_unhandled=False to "
            "only log)."
        )
        raise UnhandledExceptionsError(msg, [_as_exception(e) for e in found])

    @staticmethod
    def note_on(exc: BaseException, found: list[BaseException]) -> None:
        """Add the exceptions nobody retrieved to the run's failure ``exc``, as notes."""
        for other in found:
            if other is not exc:
                exc.add_note(f"simloop: also unhandled during this run: {other!r}")


def _unretrieved(task: asyncio.Task[Any], freed: list[asyncio.Task[Any]]) -> bool:
    """Whether nobody retrieved ``task``'s exception (the collector's finalizer, which logs it,
    does not count: it marks the exception retrieved)."""
    return any(task is t for t in freed) or _stdlib.holds_unretrieved_exception(task)


def _origin_of(context: dict[str, Any]) -> str:
    """Where an exception-handler context comes from, for the note on its exception."""
    message = context.get("message") or "unhandled exception"
    source = context.get("task") or context.get("future")
    if isinstance(source, asyncio.Task):
        return f"from task {source.get_name()!r} ({message[:1].lower()}{message[1:]})"
    generator = context.get("asyncgen")
    if generator is not None:
        code = getattr(generator, "ag_code", None)
        where = (
            f" ({_stdlib.short_path(code.co_filename)}:{code.co_firstlineno})"
            if code is not None
            else ""
        )
        name = getattr(generator, "__qualname__", "an async generator")
        return (
            f"raised while shutdown_asyncgens() closed the async generator {name}(){where}, "
            "which the program left unfinished"
        )
    if not any(key in context for key in ("future", "task", "handle")):
        # Not something asyncio itself noticed: the program (or a library) reported it.
        return f"reported to the loop's exception handler: {message}"
    return message


def _origin(exc: BaseException) -> str:
    notes = [n for n in getattr(exc, "__notes__", ()) if n.startswith("simloop: ")]
    where = notes[-1].removeprefix("simloop: ") if notes else "unhandled"
    return f"{exc!r} ({where})"


def _as_exception(exc: BaseException) -> Exception:
    if isinstance(exc, Exception):
        return exc
    wrapped = RuntimeError(f"a background task raised {exc!r}")
    wrapped.__cause__ = exc
    return wrapped
