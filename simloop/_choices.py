"""Choice points: every decision a run makes, as a record a scheduler answers.

A *choice point* is a choice among ``n >= 2`` options, where option ``0`` is what stock
asyncio (or an ideal world: no lost write, no late packet) would do. What a point is about is
its *kind*, a name: the loop makes ``"ready"`` (which ready callback runs next),
``"timer.tie"`` (which of several timers due together fires first), ``"timer.jitter"`` (how
late the loop wakes up for its next timer), ``"sleep.jitter"`` (how much longer a sleep
lasts) and ``"cancel"`` (:func:`simloop.cancel_somewhere`) choices; anything
built on :mod:`simloop.lowlevel` may make choices of kinds of its own (``"net.delay"``,
``"disk.write"``...). Schedulers answer every kind alike: what differs between kinds (how a
random scheduler weighs the options, how a report describes one) is a field of the point.

:class:`Schedule` is a run's record of the answers: the schedule that replays the run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from simloop._errors import ExtensionError, InvalidArgumentError
from simloop._text import describe, shown

#: The kinds of choice the loop itself makes.
READY = "ready"
TIMER_TIE = "timer.tie"
TIMER_JITTER = "timer.jitter"
SLEEP_JITTER = "sleep.jitter"
CANCEL = "cancel"

#: The kinds whose non-zero options change *when* things happen rather than in which order:
#: :class:`~simloop.Exhaustive` can bound them apart, and its proofs say whether it held
#: them at option 0 (timers on time).
TIMING_KINDS = frozenset({TIMER_JITTER, SLEEP_JITTER})


def _check_kind(point: ChoicePoint, attribute: Any, kind: Any) -> None:
    if not isinstance(kind, str) or not kind:
        msg = f"`kind` must be a non-empty str, not {describe(kind)}"
        raise InvalidArgumentError(msg)


def _check_n(point: ChoicePoint, attribute: Any, n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        msg = f"`n` must be an int of at least 2 (a choice needs two options), not {shown(n)}"
        raise InvalidArgumentError(msg)


def _check_labels(point: ChoicePoint, attribute: Any, labels: Any) -> None:
    if labels is None or callable(labels):
        return
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        msg = (
            "`labels` must be a sequence of n strings or a function of the option, not "
            f"{describe(labels)}"
        )
        raise InvalidArgumentError(msg)
    if len(labels) != point.n:
        msg = f"`labels` must have one entry per option ({point.n}), not {len(labels)}"
        raise InvalidArgumentError(msg)


def _check_weights(point: ChoicePoint, attribute: Any, weights: Any) -> None:
    if weights is None:
        return
    if (
        isinstance(weights, (str, bytes, bytearray))
        or not isinstance(weights, Sequence)
        or len(weights) != point.n
    ):
        msg = (
            f"`weights` must be a sequence of {point.n} numbers, one per option, "
            f"not {shown(weights)}"
        )
        raise InvalidArgumentError(msg)
    if (
        any(
            isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < math.inf
            for w in weights
        )
        or not 0 < sum(weights) < math.inf
    ):
        msg = f"`weights` must be non-negative numbers, not all zero, not {shown(weights)}"
        raise InvalidArgumentError(msg)


@attrs.frozen(slots=True)
class ChoicePoint:
    """One decision of a run, among ``n`` options; option ``0`` is asyncio's (or the ideal) way.

    ``subject`` is what the choice is about (a timer, a task, a packet): a trace shows a
    deviation at the step that runs the subject, if it is a callback or a task, else at the
    step during which the choice was made. ``labels`` says how each option reads in a report
    (a sequence of ``n`` strings, or a function of the option); ``weights``, how a random
    scheduler weighs the options (uniform if not given). ``handles`` and ``stock`` are for the
    loop's own choices among callbacks; see :meth:`option_handles`.
    """

    kind: str = attrs.field(validator=_check_kind)
    n: int = attrs.field(validator=_check_n)
    subject: object = attrs.field(default=None, kw_only=True)
    labels: Sequence[str] | Callable[[int], str] | None = attrs.field(
        default=None, kw_only=True, validator=_check_labels
    )
    weights: Sequence[float] | None = attrs.field(
        default=None, kw_only=True, validator=_check_weights
    )
    handles: Callable[[], Sequence[Any]] | None = attrs.field(
        default=None, kw_only=True, repr=False
    )
    stock: Callable[[], Any] | None = attrs.field(default=None, kw_only=True, repr=False)

    def describe(self, option: int) -> str:
        """How ``option`` reads in a report: its label, or "option k of n"."""
        labels = self.labels
        if callable(labels):
            return str(labels(option))
        if labels is not None and 0 <= option < len(labels):
            return str(labels[option])
        return f"option {option} of {self.n}"

    def option_handles(self) -> Sequence[Any]:
        """For a choice among callbacks (``"ready"``, ``"timer.tie"``), what each option would
        run, in option order (asyncio handles); empty for other choices. Valid only while the
        choice is being made; costs O(n)."""
        return () if self.handles is None else self.handles()

    def stock_handle(self) -> Any:
        """What option 0 would run, like ``option_handles()[0]`` but in O(1); None for a
        choice that is not among callbacks."""
        if self.stock is not None:
            return self.stock()
        handles = self.option_handles()
        return handles[0] if handles else None


class Schedule:
    """The answers of one run: one entry per choice point, in order.

    ``choices[i]`` answered a point with ``options[i]`` options. Most choices are ``"ready"``
    ones, so kinds are kept only for the others (``kinds`` maps index to kind): the loop's
    hot path appends to the two lists and nothing else.
    """

    __slots__ = ("choices", "kinds", "options")

    def __init__(self) -> None:
        self.choices: list[int] = []
        self.options: list[int] = []
        self.kinds: dict[int, str] = {}

    def record(self, kind: str, n: int, choice: int) -> None:
        if kind != READY:
            self.kinds[len(self.choices)] = kind
        self.choices.append(choice)
        self.options.append(n)

    def kind_list(self) -> list[str]:
        """The kind of every choice, in order."""
        kinds = [READY] * len(self.choices)
        for index, kind in self.kinds.items():
            kinds[index] = kind
        return kinds


def bad_choice_error(scheduler: object, point: ChoicePoint, choice: object) -> ExtensionError:
    """The error for a scheduler that answered something other than an option."""
    msg = (
        f"scheduler {shown(scheduler)} answered {shown(choice)} to a {shown(point.kind)} "
        f"choice among {point.n} options; it must answer an int in range({point.n})"
    )
    return ExtensionError(msg)


def scheduler_error(scheduler: object, point: ChoicePoint, exc: BaseException) -> ExtensionError:
    """The error for a scheduler that raised instead of answering."""
    msg = (
        f"scheduler {shown(scheduler)} raised {type(exc).__name__}: {exc} answering a "
        f"{shown(point.kind)} choice among {point.n} options; that is a bug in the scheduler, not "
        "a failure of the program"
    )
    return ExtensionError(msg)
