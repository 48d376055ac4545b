"""Schedulers: who decides each choice the loop makes.

Every decision a :class:`~simloop.SimLoop` makes is a *choice point*: a choice among ``n``
options, where option ``0`` is always what stock asyncio would do. A scheduler answers each
choice with an integer in ``range(n)``; the loop records the answers, and the list of answers
is the *schedule*. Replaying a schedule replays the run.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from simloop._errors import InvalidArgumentError, ReplayDivergenceError
from simloop._text import plural

if TYPE_CHECKING:
    import asyncio


class ChoiceKind(enum.IntEnum):
    """What a choice point decides."""

    #: Which ready callback (task step, timer callback...) runs next.
    READY = 0
    #: Which of several timers due at the same virtual time fires first.
    TIMER_TIE = 1
    #: How late a timer fires (only with ``timer_jitter``); option ``k`` is ``k`` jitter steps.
    JITTER = 2
    #: Whether to cancel a task before its next step (``cancel_somewhere``); option 1 cancels.
    CANCEL = 3


@runtime_checkable
class Scheduler(Protocol):
    """The protocol every scheduler follows.

    ``choose(kind, n)`` returns an option in ``range(n)``; it is only called when ``n >= 2``.
    Option ``0`` is what stock asyncio would do, so a scheduler that always answers ``0`` runs
    the program exactly as asyncio does. A scheduler may also define ``bind(loop)``, which the
    loop calls once before its first run, to look at the loop while it decides.

    A scheduler instance belongs to one loop: it keeps the state of one run.
    """

    def choose(self, kind: ChoiceKind, n: int) -> int:
        """Pick one of ``n >= 2`` options for a choice point of the given kind."""
        ...


class Fifo:
    """Stock asyncio's order: always option ``0``.

    A loop with this scheduler runs callbacks in exactly the order stock asyncio does, with
    virtual time; equal timer deadlines fire in the order they were scheduled.
    """

    def choose(self, kind: ChoiceKind, n: int) -> int:
        return 0

    def __repr__(self) -> str:
        return "Fifo()"


class RandomWalk:
    """Each choice uniformly at random, from a generator seeded with ``seed``.

    (``CANCEL`` choices, from ``cancel_somewhere``, cancel with probability 1/4.)

    The same seed gives the same choices, so the same run, in any process.
    """

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            msg = f"`seed` must be an int, not {type(seed).__name__} {seed!r}"
            raise InvalidArgumentError(msg)
        self.seed = seed
        self._random = random.Random(seed).random

    def choose(self, kind: ChoiceKind, n: int) -> int:
        # One call to random() per choice: O(1) whatever n is. int() truncation gives a
        # uniform pick up to a bias of n / 2**53, far below anything a test can observe.
        if kind is ChoiceKind.CANCEL:
            # Cancel before a quarter of the steps, not half, so that cancellation points
            # spread over the task's awaits rather than bunching at its first.
            return 1 if self._random() < 0.25 else 0
        return int(self._random() * n)

    def __repr__(self) -> str:
        return f"RandomWalk(seed={self.seed})"


class Replay:
    """Replays a recorded schedule: the ``i``-th choice answers with ``choices[i]``.

    Past the end of ``choices`` every answer is ``0`` (stock asyncio's order), so a schedule
    can be a short prefix: ``Replay([])`` runs like :class:`Fifo`, ``Replay([0, 0, 2])``
    deviates once, at the third choice.

    ``options``, when given (a trace records it), is the number of options each recorded choice
    had; a choice point with a different number of options means the run has diverged from the
    recording, and raises :class:`~simloop.ReplayDivergenceError`. With ``strict=False``,
    divergences are tolerated instead: a choice out of range is clamped to the last option.
    """

    def __init__(
        self,
        choices: Iterable[int],
        options: Sequence[int] | None = None,
        *,
        strict: bool = True,
    ) -> None:
        self.choices = _int_list(choices, "choices")
        self.options = None if options is None else _int_list(options, "options")
        if self.options is not None and len(self.options) != len(self.choices):
            msg = (
                f"`options` must have one entry per choice: got "
                f"{plural(len(self.options), 'option count')} for "
                f"{plural(len(self.choices), 'choice')}"
            )
            raise InvalidArgumentError(msg)
        self.strict = strict
        self._position = 0

    @property
    def position(self) -> int:
        """How many choices have been answered so far."""
        return self._position

    def choose(self, kind: ChoiceKind, n: int) -> int:
        i = self._position
        self._position = i + 1
        if i >= len(self.choices):
            return 0
        c = self.choices[i]
        if self.strict:
            recorded_n = n if self.options is None else self.options[i]
            if recorded_n != n or c >= n:
                expected = f"option {c}" if self.options is None else f"option {c} of {recorded_n}"
                found = plural(n, "option")
                msg = (
                    f"replay diverged at choice {i} (a {kind.name} choice): the recording chose "
                    f"{expected}, but this run has {found} there. The program changed since "
                    "the recording, or it reads a source of nondeterminism simloop does not "
                    "control."
                )
                raise ReplayDivergenceError(msg, step=i, expected=expected, found=found)
        return c if c < n else n - 1

    def __repr__(self) -> str:
        return f"Replay({plural(len(self.choices), 'choice')})"


def _int_list(values: Iterable[int], name: str) -> list[int]:
    try:
        result = list(values)
    except TypeError:
        msg = f"`{name}` must be an iterable of ints, not {type(values).__name__}"
        raise InvalidArgumentError(msg) from None
    for i, value in enumerate(result):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            msg = f"`{name}[{i}]` must be a non-negative int, not {value!r}"
            raise InvalidArgumentError(msg)
    return result


def scheduler_for(seed: int | None, scheduler: Scheduler | None) -> Scheduler:
    """The default rule: ``scheduler`` if given, else ``RandomWalk(seed)``, else ``Fifo``."""
    if scheduler is not None:
        if not callable(getattr(scheduler, "choose", None)):
            msg = (
                "`scheduler` must have a choose(kind, n) method, "
                f"not {type(scheduler).__name__} {scheduler!r}"
            )
            raise InvalidArgumentError(msg)
        return scheduler
    if seed is None:
        return Fifo()
    return RandomWalk(seed)


def bind_scheduler(scheduler: Scheduler, loop: asyncio.AbstractEventLoop) -> None:
    """Call the scheduler's optional ``bind(loop)`` hook."""
    bind = getattr(scheduler, "bind", None)
    if bind is not None:
        bind(loop)
