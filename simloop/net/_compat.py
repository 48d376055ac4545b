"""The one module of :mod:`simloop.net` that reaches into the loop: a stand-in for
``simloop.lowlevel`` until that lands.

It exposes exactly the functions of the extension contract (``ChoicePoint``, ``choose``,
``now_ns``, ``call_at_ns``, ``call_later_ns``, ``fail``, ``current_loop``), implemented
against today's loop. Every other module of the network uses only these, ``simloop``'s public
names and asyncio's public API, so that replacing this module by
``from simloop.lowlevel import ...`` is the whole migration.

Until then, two things are approximations, both confined here:

* Today's loop only knows the closed ``ChoiceKind`` enum. Network choices are made as
  ``JITTER`` choices, the one kind every scheduler and search answers uniformly, without a
  branch of its own (``READY`` and ``TIMER_TIE`` look at ready handles, ``CANCEL`` is biased).
  The point's ``kind`` name is kept for reports. ``weights`` cannot reach today's schedulers,
  so they are ignored: random schedulers pick fault options uniformly. Fault budgets (see
  :class:`simloop.net.Faults`) bound what that costs.
* Reports: the trace recorder has no way to hear what an option meant. A non-zero answer is
  written into the recorder's note for the current step, so that a failure report shows
  "packet 17 client→db delayed 120 ms" beside the step that sent it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import attrs

import simloop
from simloop import InvalidArgumentError, SimLoop

_NS_PER_SECOND = 1_000_000_000


def _check_n(instance: ChoicePoint, attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"`n` must be a positive int, not {type(value).__name__} {value!r}"
        raise InvalidArgumentError(msg)


@attrs.frozen
class ChoicePoint:
    """One decision: ``n`` options, option 0 being what an ideal network (stock asyncio on
    localhost) does."""

    #: What is decided: ``"net.delay"``, ``"net.drop"``, ``"net.segment"``...
    kind: str
    #: How many options (a point with one option is not a choice, and is not asked).
    n: int = attrs.field(validator=_check_n)
    #: What it is about (a packet, a connection); reports attach the deviation to it.
    subject: object = None
    #: How option ``k`` reads in a report.
    labels: Sequence[str] | Callable[[int], str] | None = None
    #: How random schedulers weigh the options (uniform when None).
    weights: Sequence[float] | None = None

    def describe(self, option: int) -> str:
        """Option ``option`` in words."""
        labels = self.labels
        if labels is None:
            return f"option {option} of {self.n}"
        if callable(labels):
            return labels(option)
        return labels[option]


def current_loop() -> SimLoop:
    """The running :class:`~simloop.SimLoop`, or :class:`~simloop.InvalidArgumentError`."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if not isinstance(loop, SimLoop):
        where = "outside any event loop" if loop is None else f"on {loop!r}"
        msg = (
            "the simulated network is only reachable inside a simulated run (a coroutine "
            f"running on a simloop.SimLoop), not {where}"
        )
        raise InvalidArgumentError(msg)
    return loop


def choose(point: ChoicePoint, *, loop: SimLoop | None = None) -> int:
    """Ask the loop's scheduler; the answer is recorded and replayed like any choice."""
    if point.n < 2:
        return 0
    if loop is None:
        loop = current_loop()
    # JITTER: answered uniformly by every scheduler (see the module docstring).
    c: int = loop._make_choice(simloop.ChoiceKind.JITTER, point.n)
    if c:
        _note(loop, point.describe(c))
    return c


def _note(loop: SimLoop, text: str) -> None:
    """Show a deviation in the report, beside the step being run (if events are recorded)."""
    recorder = getattr(loop, "_recorder", None)
    current = getattr(recorder, "_current", None)
    if isinstance(current, dict):
        previous = current.get("deviation")
        current["deviation"] = text if not previous else f"{previous}; {text}"


def now_ns(*, loop: SimLoop | None = None) -> int:
    """Virtual time, in integer nanoseconds."""
    if loop is None:
        loop = current_loop()
    return int(loop._now_ns)


def call_at_ns(
    when_ns: int, callback: Callable[..., object], *args: Any, loop: SimLoop | None = None
) -> asyncio.TimerHandle:
    """A timer at exactly ``when_ns``: never jittered, not a choice of its own."""
    if loop is None:
        loop = current_loop()
    handle: asyncio.TimerHandle = loop._new_timer(
        when_ns, when_ns / _NS_PER_SECOND, callback, args, None, False
    )
    return handle


def call_later_ns(
    delay_ns: int, callback: Callable[..., object], *args: Any, loop: SimLoop | None = None
) -> asyncio.TimerHandle:
    """A timer ``delay_ns`` from now (0: at the next batch boundary, as I/O arrives)."""
    if loop is None:
        loop = current_loop()
    return call_at_ns(int(loop._now_ns) + delay_ns, callback, *args, loop=loop)


def loop_local(loop: SimLoop, key: str, factory: Callable[[], Any]) -> Any:
    """Per-loop state of an extension: ``factory()`` the first time, the same object after.

    Kept on the loop itself, not in a module's dictionary, so that it lives exactly as long as
    the loop does, and so that an extension imported twice (pytester drops the modules an
    in-process run imported) still finds the loop's one copy. (Not in the contract yet.)
    """
    extensions: dict[str, Any] = vars(loop).setdefault("_simloop_extensions", {})
    found = extensions.get(key)
    if found is None:
        found = extensions[key] = factory()
    return found


def fail(exc: BaseException, *, loop: SimLoop | None = None) -> None:
    """End the run with ``exc`` at the next batch boundary."""
    if loop is None:
        loop = current_loop()
    loop._pending_errors.append(exc)
