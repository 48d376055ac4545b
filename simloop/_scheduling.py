"""Schedulers: who answers each choice point of a run.

A scheduler answers each :class:`~simloop.lowlevel.ChoicePoint` with an option in
``range(point.n)``; the loop records the answers, and the list of answers is the *schedule*.
Option 0 is always what stock asyncio would do, so a scheduler that always answers 0 runs the
program exactly as asyncio does. Replaying a schedule replays the run.

A scheduler may declare what lets the loop answer for it on its fast path, instead of calling
``choose`` (declared, so that the loop never guesses from a scheduler's class):

``always_stock = True``
    It answers 0 to everything; the loop then keeps asyncio's plain ready queue and makes no
    choices at all (:class:`Fifo`).
``uniform_random``
    A function returning floats in ``[0, 1)``: its answer to a choice with no ``weights`` is
    ``int(uniform_random() * n)``, which the loop may compute inline (:class:`RandomWalk`).
``seed``
    An int that seeds the run's ``random``, ``os.urandom`` and ``uuid`` when the loop is
    given no seed of its own.

and hooks the loop calls, if a scheduler has them: ``bind(loop)`` before the loop first runs,
``finish(loop)`` once the run is over (:class:`Replay` checks there that the run went the
whole way of its recording). A scheduler that raises anything but a
:class:`~simloop.ReplayDivergenceError` (or answers something other than an option) ends the
run with an :class:`~simloop.ExtensionError` naming it: a bug in the scheduler is not a
failure of the program.
"""

from __future__ import annotations

import inspect
import itertools
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from simloop._choices import ChoicePoint
from simloop._errors import InvalidArgumentError, ReplayDivergenceError
from simloop._text import describe, plural, shown

if TYPE_CHECKING:
    import asyncio


@runtime_checkable
class Scheduler(Protocol):
    """The protocol every scheduler follows: ``choose(point)`` returns an option.

    It is only asked about points with two or more options. A scheduler may also define
    ``bind(loop)``, which the loop calls once before its first run, to look at the loop while
    it decides; ``finish(loop)``, which the loop calls once when the run is over (before it
    closes), to check that the run went as the scheduler expected; and the declarations
    described in this module's documentation. A scheduler instance belongs to one loop: it
    keeps the state of one run.
    """

    def choose(self, point: ChoicePoint) -> int:
        """Pick one of ``point.n >= 2`` options."""
        ...


class Fifo:
    """Stock asyncio's order: always option ``0``.

    A loop with this scheduler runs callbacks in exactly the order stock asyncio does, with
    virtual time; equal timer deadlines fire in the order they were scheduled.
    """

    always_stock = True

    def choose(self, point: ChoicePoint) -> int:
        return 0

    def __repr__(self) -> str:
        return "Fifo()"


def weighted_option(draw: float, weights: Sequence[float]) -> int:
    """The option a uniform ``draw`` in ``[0, 1)`` picks when options have these weights."""
    if (
        isinstance(draw, bool)
        or not isinstance(draw, (int, float))
        or not 0 <= draw < 1
        or isinstance(weights, (str, bytes, bytearray))
        or not isinstance(weights, Sequence)
        or any(
            isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < math.inf
            for w in weights
        )
        or not 0 < sum(weights) < math.inf
    ):
        msg = (
            "`draw` must be a number in [0, 1) and `weights` a sequence of non-negative "
            f"finite numbers, not all zero, not {describe(draw)} and {describe(weights)}"
        )
        raise InvalidArgumentError(msg)
    target = draw * sum(weights)
    total = 0.0
    for option, weight in enumerate(weights):
        total += weight
        if target < total:
            return option
    # Rounding: the draw fell on the last boundary; take the last option with any weight.
    return max(i for i, w in enumerate(weights) if w > 0)


class RandomWalk:
    """Each choice at random (uniformly, or by the point's ``weights``), from a generator
    seeded with ``seed``.

    The same seed gives the same choices, so the same run, in any process.
    """

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            msg = f"`seed` must be an int, not {describe(seed)}"
            raise InvalidArgumentError(msg)
        self.seed = seed
        #: One call per choice: O(1) whatever n is. int() truncation gives a uniform pick up
        #: to a bias of n / 2**53, far below anything a test can observe.
        self.uniform_random: Callable[[], float] = random.Random(seed).random

    def choose(self, point: ChoicePoint) -> int:
        if point.weights is not None:
            return weighted_option(self.uniform_random(), point.weights)
        return int(self.uniform_random() * point.n)

    def __repr__(self) -> str:
        return f"RandomWalk(seed={self.seed})"


class Replay:
    """Replays a recorded schedule: the ``i``-th choice answers with ``choices[i]``.

    Past the end of ``choices`` every answer is ``0`` (stock asyncio's order), so a schedule
    can be a short prefix: ``Replay([])`` runs like :class:`Fifo`, ``Replay([0, 0, 2])``
    deviates once, at the third choice.

    ``options`` and ``kinds``, when given (a trace records them), are the number of options
    and the kind of each recorded choice; a choice point with another number of options or
    another kind means the run has diverged from the recording, and raises
    :class:`~simloop.ReplayDivergenceError`, and so does a run that ends before making every
    recorded choice (checked by :meth:`finish`: such a run did not replay the recording).
    With ``strict=False``, divergences are tolerated instead: a choice out of range is clamped
    to the last option, and a run may end early.
    """

    def __init__(
        self,
        choices: Iterable[int],
        options: Sequence[int] | None = None,
        *,
        kinds: Sequence[str] | None = None,
        strict: bool = True,
    ) -> None:
        self.choices = _int_list(choices, "choices")
        self.options = None if options is None else _int_list(options, "options")
        if kinds is not None and (
            isinstance(kinds, str)
            or not isinstance(kinds, Sequence)
            or not all(isinstance(k, str) for k in kinds)
        ):
            msg = f"`kinds` must be a sequence of str, one per choice, not {describe(kinds)}"
            raise InvalidArgumentError(msg)
        for name, values, noun in (
            ("options", self.options, "option count"),
            ("kinds", kinds, "kind"),
        ):
            if values is not None and len(values) != len(self.choices):
                msg = (
                    f"`{name}` must have one entry per choice: got {plural(len(values), noun)} "
                    f"for {plural(len(self.choices), 'choice')}"
                )
                raise InvalidArgumentError(msg)
        self.kinds = None if kinds is None else list(kinds)
        if not isinstance(strict, bool):
            msg = f"`strict` must be True or False, not {shown(strict)}"
            raise InvalidArgumentError(msg)
        self.strict = strict
        self._position = 0
        self._diverged = False

    @property
    def position(self) -> int:
        """How many choices have been answered so far."""
        return self._position

    def choose(self, point: ChoicePoint) -> int:
        i = self._position
        self._position = i + 1
        if i >= len(self.choices):
            return 0
        c = self.choices[i]
        n = point.n
        if self.strict:
            recorded_n = n if self.options is None else self.options[i]
            recorded_kind = point.kind if self.kinds is None else self.kinds[i]
            if recorded_n != n or recorded_kind != point.kind or c >= n:
                self._diverged = True
                raise _divergence(i, c, self.options is not None, recorded_n, recorded_kind, point)
        return c if c < n else n - 1

    def finish(self, loop: object = None) -> None:
        """The run is over: with ``strict``, raise :class:`~simloop.ReplayDivergenceError` if
        it made fewer choices than the recording (the loop calls this)."""
        i = self._position
        if not self.strict or self._diverged or i >= len(self.choices):
            return  # (a divergence is reported once)
        c = self.choices[i]
        of = "" if self.options is None else f" of {self.options[i]}"
        at = "" if self.kinds is None else f" at a {shown(self.kinds[i])} choice"
        expected = f"option {c}{of}{at}"
        msg = (
            f"replay diverged at choice {i}: the recording has "
            f"{plural(len(self.choices), 'choice')}, but this run ended after "
            f"{plural(i, 'choice')} (the recording chose {expected} next). The program "
            "changed since the recording, or it reads a source of nondeterminism simloop "
            "does not control."
        )
        raise ReplayDivergenceError(msg, step=i, expected=expected, found="the end of the run")

    def __repr__(self) -> str:
        return f"Replay({plural(len(self.choices), 'choice')})"


def _divergence(
    i: int, c: int, known_n: bool, recorded_n: int, recorded_kind: str, point: ChoicePoint
) -> ReplayDivergenceError:
    of = f" of {recorded_n}" if known_n else ""
    expected = f"option {c}{of} at a {shown(recorded_kind)} choice"
    found = f"a {shown(point.kind)} choice with {plural(point.n, 'option')}"
    meaning = f" (where option {c} would mean: {point.describe(c)})" if c < point.n else ""
    msg = (
        f"replay diverged at choice {i}: the recording chose {expected}, but this run makes "
        f"{found} there{meaning}. The program changed since the recording, or it reads a "
        "source of nondeterminism simloop does not control."
    )
    return ReplayDivergenceError(msg, step=i, expected=expected, found=found)


#: The most choices a recording may have (a token is at most 10 million characters).
MAX_CHOICES = 100_000_000


def _int_list(values: Iterable[int], name: str) -> list[int]:
    if isinstance(values, (str, bytes, bytearray, Set, Mapping)):
        # Iterable, but not a list of choices: characters, bytes, keys, or no order at all.
        msg = f"`{name}` must be a sequence of ints, not {describe(values)}"
        raise InvalidArgumentError(msg)
    try:
        # Read at most one past the limit: an endless iterable ends here, not in a MemoryError.
        result = list(itertools.islice(values, MAX_CHOICES + 1))
    except TypeError:
        msg = f"`{name}` must be an iterable of ints, not {describe(values)}"
        raise InvalidArgumentError(msg) from None
    if len(result) > MAX_CHOICES:
        msg = f"`{name}` must have at most {MAX_CHOICES:,} entries (is it endless?)"
        raise InvalidArgumentError(msg)
    for i, value in enumerate(result):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            msg = f"`{name}[{i}]` must be a non-negative int, not {shown(value)}"
            raise InvalidArgumentError(msg)
    return result


def check_scheduler(scheduler: object) -> Scheduler:
    """``scheduler`` if it is a scheduler object, else a clear error saying what it is."""
    if isinstance(scheduler, type):
        name = scheduler.__name__
        if callable(getattr(scheduler, "schedulers", None)):
            msg = (
                f"`scheduler` must be a scheduler object, not the search class {name}: a search "
                f"runs many schedules, so pass it to simloop.explore(main, search={name}(...))"
            )
        else:
            msg = (
                f"`scheduler` must be a scheduler object, not the class {name}: pass an "
                f"instance, e.g. simloop.{name}(...)"
            )
        raise InvalidArgumentError(msg)
    if callable(getattr(scheduler, "schedulers", None)):
        msg = (
            "`scheduler` must be a scheduler (it decides one run), not the search "
            f"{shown(scheduler)}: pass the search to simloop.explore(main, search=...)"
        )
        raise InvalidArgumentError(msg)
    choose = getattr(scheduler, "choose", None)
    if not callable(choose):
        msg = f"`scheduler` must have a choose(point) method, not {describe(scheduler)}"
        raise InvalidArgumentError(msg)
    if _takes_two_arguments(choose):
        msg = (
            f"`scheduler` {shown(scheduler)} has a choose(kind, n) method; schedulers now answer "
            "choose(point), where point.kind and point.n are what the two arguments were "
            "(see simloop.lowlevel.ChoicePoint)"
        )
        raise InvalidArgumentError(msg)
    return scheduler  # type: ignore[return-value]


#: Whether each scheduler class's choose() has the old two-argument signature (asked once
#: per class: exploration checks a scheduler per run).
_OLD_SIGNATURE: dict[Any, bool] = {}


def _takes_two_arguments(method: Any) -> bool:
    function = getattr(method, "__func__", None)
    if function is None:  # not a method defined on a class: nothing to cache on
        return _two_required_arguments(method)
    known = _OLD_SIGNATURE.get(function)
    if known is None:
        known = _OLD_SIGNATURE[function] = _two_required_arguments(method)
    return known


def _two_required_arguments(method: Any) -> bool:
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False  # no signature to check (a builtin): find out when it is called
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(positional) >= 2


def scheduler_for(seed: int | None, scheduler: Scheduler | None) -> Scheduler:
    """The default rule: ``scheduler`` if given, else ``RandomWalk(seed)``, else ``Fifo``."""
    if scheduler is not None:
        return check_scheduler(scheduler)
    if seed is None:
        return Fifo()
    return RandomWalk(seed)


def bind_scheduler(scheduler: Scheduler, loop: asyncio.AbstractEventLoop) -> None:
    """Call the scheduler's optional ``bind(loop)`` hook."""
    bind = getattr(scheduler, "bind", None)
    if bind is not None:
        bind(loop)
