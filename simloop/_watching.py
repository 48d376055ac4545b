"""Watched values: ``simloop.watch(label, fn)`` records ``fn()`` after every step of a run.

The values are kept per loop (a weak mapping: nothing outlives its loop). The trace recorder
reads them after each step with :func:`watched_values` and records the ones that changed, so
the trace, the failure report and the HTML report show them as columns, and the debugger can
jump to the step where one changed.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from simloop._errors import InvalidArgumentError
from simloop._kernel import current_loop
from simloop._loop import SimLoop

#: Longest repr kept for a watched value (a trace must stay small).
MAX_REPR = 200

_WATCHES: weakref.WeakKeyDictionary[SimLoop, dict[str, Callable[[], object]]] = (
    weakref.WeakKeyDictionary()
)


def watch(label: str, fn: Callable[[], object]) -> None:
    """Record ``fn()`` after every step of the running simulation, as ``label``.

    Call it from inside the run (a test's coroutine). The trace of a run with events shows the
    steps where the value changed (``old -> new`` in ``simloop show``, a column of the failure
    report and the HTML report), and ``simloop debug`` can ``goto`` them. ``fn`` must not
    change anything: it is called between steps. Watching the same label again replaces it.
    """
    if not isinstance(label, str) or not label:
        msg = f"`label` must be a non-empty string, not {type(label).__name__} {label!r}"
        raise InvalidArgumentError(msg)
    if not callable(fn):
        msg = f"`fn` must be a function of no arguments, not {type(fn).__name__} {fn!r}"
        raise InvalidArgumentError(msg)
    _WATCHES.setdefault(current_loop(), {})[label] = fn


def watched_values(*, loop: SimLoop | None = None) -> dict[str, str]:
    """The current value of every :func:`simloop.watch` of the loop, as a (short) repr by
    label; a value that cannot be computed reads ``"<ValueError: ...>"``."""
    the = current_loop() if loop is None else loop
    watches = _WATCHES.get(the)
    if not watches:
        return {}
    values = {}
    for label, fn in list(watches.items()):
        try:
            text = repr(fn())
        except Exception as exc:  # noqa: BLE001 - a watch must not fail the run it watches
            text = f"<{type(exc).__name__}: {exc}>"
        values[label] = text if len(text) <= MAX_REPR else text[: MAX_REPR - 3] + "..."
    return values
