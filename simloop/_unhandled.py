"""Exceptions nobody retrieved: a crashed background task, a failing callback.

Stock asyncio only logs them. In a simulation they fail the run (``fail_on_unhandled``), at the
end of ``run_until_complete``, because a crash nobody sees is a bug a test should report. Two
sources: what reached the loop's default exception handler while it ran (a failing callback, a
task collected with its exception unretrieved) is certain; a finished task that still holds an
unretrieved exception may yet be retrieved (its done-callbacks, a ``gather`` collecting
results, say, may not have run when the loop stopped, and stock asyncio runs them in the
cleanup that follows). Such a task is a *suspect* until the end of the next run of the loop,
or until the loop will not run again (``final``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable
from typing import Any

from simloop import _stdlib
from simloop._errors import UnhandledExceptionsError


class UnhandledPolicy:
    """What one loop does with exceptions nobody retrieved."""

    __slots__ = ("contexts", "enabled", "last_failure", "suspects")

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        #: Exception-handler contexts recorded while the loop ran.
        self.contexts: list[dict[str, Any]] = []
        self.suspects: list[asyncio.Task[Any]] = []
        #: The exception the last run of the loop failed with (its cleanup must not hide it).
        self.last_failure: BaseException | None = None

    def record(self, context: dict[str, Any], *, running: bool) -> bool:
        """Keep an exception-handler context to fail the run with; False if it is not one
        (no exception, the policy is off, or the loop is not running: nobody would raise it
        any more, so it is logged as stock asyncio does)."""
        if self.enabled and running and context.get("exception") is not None:
            self.contexts.append(context)
            return True
        return False

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
        for context in self.contexts:
            exc = context["exception"]
            message = context.get("message") or "unhandled exception"
            source = context.get("task") or context.get("future")
            if isinstance(source, asyncio.Task):
                message = f"from task {source.get_name()!r} ({message[:1].lower()}{message[1:]})"
            exc.add_note(f"simloop: {message}")
            found.append(exc)
        self.contexts.clear()
        earlier = self.suspects
        self.suspects = []
        awaited: set[int] | None = None
        for task in _stdlib.tasks_of_loop(loop, _stdlib.holds_unretrieved_exception):
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
            exc = task.exception()
            _stdlib.mark_exception_retrieved(task)
            if exc is not None:
                exc.add_note(f"simloop: from task {task.get_name()!r} (exception never retrieved)")
                found.append(exc)
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
