"""Shrinking a failing schedule towards stock asyncio's order.

A schedule is a list of option numbers, and an option number names a ready lane by its place
among the lanes, which earlier choices change. So zeroing one deviation of a failing schedule
can change what every later deviation means: numeric candidates work when the deviations are
independent of each other, and get stuck when they are not (typically with other tasks
around). The shrinker therefore tries two kinds of candidates:

- *numeric*: the failing choices with some deviations set to 0 (delta debugging: chunks, then
  single deviations), then lower values;
- *by intent*: each deviation remembered as "run this callback (a task's name, a callback's
  name) ahead of asyncio's choice", replayed by :class:`_IntentScheduler`, which makes the
  deviations it keeps at the same point of the run, picking the same callback whatever its
  option number has become.

Every candidate is a whole run, accepted only if it fails the same way (same kind, exception
type and place) and is simpler: fewer deviations, then fewer steps, then smaller values.

Then what was reached is checked, so that the report claims only what holds:

- *1-minimal*: no single deviation can be dropped (by option number or by intent) with the
  run still failing the same way;
- *minimal*, within a budget of its own: every schedule with fewer deviations (an
  :class:`~simloop.Exhaustive` search one below, sleep-tie reduction included) passes or fails
  otherwise. A schedule found there that fails the same way becomes the new result (and is
  checked in turn). The report then says "needs 2 deviations: none of the 37 schedules with
  fewer fails this way".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from simloop import _stdlib
from simloop._choices import ChoicePoint
from simloop._labels import handle_label, task_of
from simloop._scheduling import bind_scheduler
from simloop._text import plural
from simloop._trace import Trace

if TYPE_CHECKING:
    from simloop._explore import Program, RunResult
    from simloop._loop import SimLoop


@attrs.frozen
class ShrinkReport:
    """What shrinking achieved, and what was checked about the result."""

    deviations_before: int
    deviations_after: int
    steps_before: int
    steps_after: int
    replays: int
    #: Whether no single deviation of the result can be dropped (None: not checked).
    one_minimal: bool | None = None
    #: Schedules with fewer deviations than the result that were run to check it is minimal.
    fewer_checked: int = 0
    #: Whether those were all the schedules with fewer deviations (so none fails this way).
    minimal: bool = False

    def __str__(self) -> str:
        text = (
            f"shrunk from {self.deviations_before} to "
            f"{plural(self.deviations_after, 'deviation')} from asyncio's order in "
            f"{plural(self.replays, 'replay')}"
        )
        checked = self.minimality()
        return f"{text}; {checked}" if checked else text

    def minimality(self) -> str:
        """What is known of the result's minimality, in a few words ("" if nothing)."""
        if self.deviations_after == 0:
            return ""
        if self.minimal:
            if self.deviations_after == 1:
                return "asyncio's own order passes"
            return (
                f"none of the {plural(self.fewer_checked, 'schedule')} with fewer deviations "
                "fails this way"
            )
        if self.one_minimal:
            return (
                "each deviation is needed (1-minimal), but not every schedule with fewer was "
                f"tried (only {self.fewer_checked})"
            )
        return ""


def simplicity(trace: Trace) -> tuple[int, int, int]:
    """Smaller is simpler: fewer deviations, then fewer steps, then smaller choice values."""
    return (trace.deviations, trace.steps, sum(trace.choices))


#: A callback as an intent names it: its label (a task's name, a callback's name) and, for a
#: task step, where the task is suspended (the innermost frame: file, line, function).
Anchor = tuple[str, str | None]


@attrs.frozen
class _Deviation:
    """One deviation of a run, as an intent: run ``chosen`` ahead of ``overtaken`` (what
    asyncio's order would have run), whenever both are options of a ``kind`` choice. For a
    choice without callbacks to name (a timer's lateness), ``chosen`` is None: then option
    ``value``, at choice ``index``."""

    index: int
    kind: str
    chosen: Anchor | None
    overtaken: Anchor | None
    value: int


def _anchor(handle: Any) -> Anchor:
    task = task_of(handle)
    if task is None:
        return handle_label(handle), None
    frames = _stdlib.coroutine_frames(task)
    if not frames:
        return handle_label(handle), None
    code = frames[-1].f_code
    return handle_label(handle), f"{code.co_filename}:{frames[-1].f_lineno} in {code.co_name}"


def _option_anchors(point: ChoicePoint) -> list[Anchor]:
    return [_anchor(handle) for handle in point.option_handles()]


def _intent(point: ChoicePoint, index: int, c: int) -> _Deviation:
    handles = point.option_handles()
    if c < len(handles):
        return _Deviation(index, point.kind, _anchor(handles[c]), _anchor(handles[0]), c)
    return _Deviation(index, point.kind, None, None, c)


class _IntentRecorder:
    """Follows a scheduler and remembers its deviations as intents."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._position = 0
        self.deviations: list[_Deviation] = []

    def bind(self, loop: SimLoop) -> None:
        bind_scheduler(self._inner, loop)

    def choose(self, point: ChoicePoint) -> int:
        index = self._position
        self._position += 1
        c: int = self._inner.choose(point)
        if 0 < c < point.n:
            self.deviations.append(_intent(point, index, c))
        return c

    def __repr__(self) -> str:
        return repr(self._inner)


class _IntentScheduler:
    """asyncio's order, except for the planned deviations: each is made, once, at the first
    choice where what it overtook is asyncio's next callback and what it ran is an option
    (or dropped, if asyncio's order runs that callback first anyway). Costs one anchor
    (option 0's) per choice while deviations are pending, and all the options' anchors only
    where one may be made. (Wrapped in an :class:`_IntentRecorder` to learn what it did.)"""

    def __init__(self, plan: list[_Deviation]) -> None:
        self._plan = plan
        self._position = 0
        self._unnamed: dict[int, _Deviation] = {}
        self._by_overtaken: dict[tuple[str, Anchor], list[_Deviation]] = {}
        self._by_chosen: dict[tuple[str, Anchor], list[_Deviation]] = {}
        for deviation in plan:
            if deviation.chosen is None or deviation.overtaken is None:
                self._unnamed[deviation.index] = deviation
            else:
                key = (deviation.kind, deviation.overtaken)
                self._by_overtaken.setdefault(key, []).append(deviation)
                self._by_chosen.setdefault((deviation.kind, deviation.chosen), []).append(deviation)
        self._named_left = len(plan) - len(self._unnamed)
        self._done: set[int] = set()  # ids of the deviations made or dropped

    def __repr__(self) -> str:
        return f"the shrinker's schedule ({plural(len(self._plan), 'deviation')} kept by intent)"

    def _take(self, deviations: list[_Deviation] | None) -> _Deviation | None:
        """The first of ``deviations`` not made or dropped yet."""
        for deviation in deviations or ():
            if id(deviation) not in self._done:
                return deviation
        return None

    def choose(self, point: ChoicePoint) -> int:
        index = self._position
        self._position += 1
        kind = point.kind
        unnamed = self._unnamed.get(index)
        if unnamed is not None and unnamed.kind == kind:
            return min(unnamed.value, point.n - 1)
        if not self._named_left:
            return 0
        handle = point.stock_handle()
        if handle is None:
            return 0
        stock = _anchor(handle)
        already = self._take(self._by_chosen.get((kind, stock)))
        if already is not None:
            # asyncio's order runs it next anyway: nothing to deviate for.
            self._done.add(id(already))
            self._named_left -= 1
            return 0
        candidates = self._by_overtaken.get((kind, stock))
        if not candidates:
            return 0
        anchors = _option_anchors(point)
        for deviation in candidates:
            if id(deviation) not in self._done and deviation.chosen in anchors:
                self._done.add(id(deviation))
                self._named_left -= 1
                return anchors.index(deviation.chosen)
        return 0


#: Schedules with fewer deviations run, by default, to show that a shrunk one is minimal.
DEFAULT_MINIMALITY_BUDGET = 500


def shrink_schedule(
    program: Program,
    failing: RunResult,
    *,
    budget: int,
    minimality_budget: int = DEFAULT_MINIMALITY_BUDGET,
) -> tuple[Trace, ShrinkReport]:
    """Shrink a failing schedule towards stock asyncio's order, within ``budget`` replays;
    then check that it is 1-minimal, and run up to ``minimality_budget`` schedules with fewer
    deviations to show that it is minimal (see the module docstring). A ``budget`` of 0 keeps
    the schedule as it is, unchecked."""
    assert failing.failure is not None
    shrinker = _Shrinker(program, failing.trace, failing.failure.signature, budget)
    shrinker.shrink()
    one_minimal: bool | None = None
    fewer_checked = 0
    minimal = False
    if shrinker.best.deviations and minimality_budget and budget:
        # Until no schedule with fewer deviations fails, or none is left to check: shrinking
        # again after a dropped deviation may reach asyncio's own order (no deviation at all).
        while shrinker.best.deviations:
            one_minimal = shrinker.one_minimal()
            if not one_minimal:
                shrinker.budget = shrinker.replays + budget  # it dropped one: shrink again
                shrinker.shrink()
                continue
            fewer_checked, minimal, smaller = _fewer_deviations(
                program, shrinker.best, shrinker.signature, minimality_budget
            )
            if smaller is None:
                break
            # A schedule with fewer deviations fails the same way: it is the result now.
            shrinker.best, shrinker.intents = smaller, None
    if not shrinker.best.deviations:
        one_minimal, minimal = True, True  # asyncio's own order: nothing fewer to try
    report = ShrinkReport(
        deviations_before=failing.trace.deviations,
        deviations_after=shrinker.best.deviations,
        steps_before=failing.trace.steps,
        steps_after=shrinker.best.steps,
        replays=shrinker.replays,
        one_minimal=one_minimal,
        fewer_checked=fewer_checked,
        minimal=minimal,
    )
    best = shrinker.best
    if best is not failing.trace:
        # Named after the schedule it came from, not after the shrinker's candidate.
        best = attrs.evolve(best, scheduler=f"{failing.trace.scheduler}, shrunk")
    return best, report


class _Shrinker:
    def __init__(self, program: Program, failing: Trace, signature: object, budget: int) -> None:
        self.program = program
        self.signature = signature
        self.budget = budget
        self.best = failing
        self.replays = 0
        #: How many options each choice of asyncio's own order has (once that run was tried).
        self.zero_options: list[int] | None = None
        #: ``best``'s deviations as intents (None until recorded for this ``best``).
        self.intents: list[_Deviation] | None = None

    def within_budget(self) -> bool:
        return self.replays < self.budget

    def shrink(self) -> None:
        improved = True
        while improved and self.within_budget():
            improved = self.drop_numerically()
            improved = self.lower_values() or improved
            if improved or self.best.deviations <= 1:
                continue
            # Numeric candidates are stuck: drop deviations by intent.
            if self.drop_by_intent():
                improved = True
                continue
            # A schedule with one deviation may still fail the same way; try those, where
            # the deviations were first. They all share asyncio's order up to their
            # deviation, so asyncio's own run (tried first: it may fail the same way) says
            # how many options each place has.
            improved = self.attempt([]) or (
                self.zero_options is not None
                and _single_deviations(self.best, self.zero_options, self.attempt)
            )

    # --- candidates -------------------------------------------------------------------------

    def run(self, scheduler: Any) -> RunResult | None:
        if not self.within_budget():
            return None
        self.replays += 1
        return self.program.run(scheduler, self.best.seed, record_events=False)

    def accept(self, result: RunResult | None, intents: list[_Deviation] | None) -> bool:
        """Keep ``result`` if it fails the same way and is simpler than the best so far."""
        if result is None or result.failure is None or result.failure.signature != self.signature:
            return False
        if simplicity(result.trace) < simplicity(self.best):
            self.best = result.trace
            self.intents = intents
            return True
        return False

    def attempt(self, choices: list[int]) -> bool:
        """Try a schedule given as option numbers."""
        if not self.within_budget():
            return False
        candidate = attrs.evolve(self.best, choices=choices, options=[0] * len(choices), kinds=None)
        result = self.run(candidate.replay_scheduler(strict=False))
        if result is not None and not choices:
            self.zero_options = result.trace.options
        return self.accept(result, None)

    def attempt_intents(self, plan: list[_Deviation]) -> bool:
        """Try a schedule given as intents."""
        recorder = _IntentRecorder(_IntentScheduler(plan))
        return self.accept(self.run(recorder), recorder.deviations)

    # --- passes -----------------------------------------------------------------------------

    def drop_numerically(self) -> bool:
        """Set deviations to 0, in chunks, halving the chunk size (delta debugging)."""
        improved = False
        size = max(1, self.best.deviations // 2)
        while size >= 1 and self.within_budget():
            choices = self.best.choices
            deviating = [i for i, c in enumerate(choices) if c]
            progress = False
            for start in range(0, len(deviating), size):
                chunk = set(deviating[start : start + size])
                if self.attempt(_trim([0 if i in chunk else c for i, c in enumerate(choices)])):
                    improved = progress = True
                    break
            if not progress:
                if size == 1:
                    break
                size //= 2
        return improved

    def lower_values(self) -> bool:
        """Lower each remaining deviation: to 1, then by one."""
        improved = False
        for i, c in enumerate(self.best.choices):
            if not self.within_budget():
                break
            if c > 1:
                for lower in (1, c - 1):
                    choices = list(self.best.choices)
                    if i < len(choices) and choices[i] == c:
                        choices[i] = lower
                        if self.attempt(_trim(choices)):
                            improved = True
                            break
        return improved

    def one_minimal(self) -> bool:
        """Whether no single deviation of ``best`` can be dropped, by option number or by
        intent (each tried, whatever the budget left: the claim is made only if checked).
        False once one could: ``best`` is then the smaller schedule."""
        self.budget = max(self.budget, self.replays + 2 * self.best.deviations + 1)
        choices = self.best.choices
        for i, c in enumerate(choices):
            if c and self.attempt(_trim([0 if j == i else v for j, v in enumerate(choices)])):
                return False
        if self.intents is None:
            recorder = _IntentRecorder(self.best.replay_scheduler(strict=False))
            if self.run(recorder) is None:
                return False
            self.intents = recorder.deviations
        intents = self.intents
        for i in range(len(intents)):
            if self.attempt_intents(intents[:i] + intents[i + 1 :]):
                return False
        return True

    def drop_by_intent(self) -> bool:
        """Drop deviations by intent, in chunks, halving the chunk size; True once one
        candidate is kept (the caller starts over from the new best)."""
        if self.intents is None:
            recorder = _IntentRecorder(self.best.replay_scheduler(strict=False))
            if self.run(recorder) is None:
                return False
            self.intents = recorder.deviations
        intents = self.intents
        size = max(1, len(intents) // 2)
        while size >= 1 and self.within_budget():
            for start in range(0, len(intents), size):
                if self.attempt_intents(intents[:start] + intents[start + size :]):
                    return True
            size //= 2
        return False


def _fewer_deviations(
    program: Program, best: Trace, signature: object, budget: int
) -> tuple[int, bool, Trace | None]:
    """Run every schedule with fewer deviations than ``best`` (an exhaustive search one
    below, up to ``budget`` runs): (schedules run, whether that was all of them, a schedule
    among them that fails the same way, if one does)."""
    from simloop._searches import Exhaustive  # the searches build on what this module offers

    search = Exhaustive(best.deviations - 1, seed=best.seed)
    runs = 0
    for scheduler in search.schedulers():
        if runs >= budget:
            return runs, False, None
        result = program.run(scheduler, best.seed, record_events=False)
        search.run_finished(result.trace)
        runs += 1
        failure = result.failure
        if failure is not None and failure.signature == signature:
            return runs, False, attrs.evolve(result.trace, scheduler=best.scheduler)
    return runs, search.complete, None


def _single_deviations(
    best: Trace, zero_options: list[int], attempt: Callable[[list[int]], bool]
) -> bool:
    """Try every schedule with one deviation (until one is kept, or the budget runs out).

    ``zero_options`` are the option counts of asyncio's own order: a schedule that deviates
    only at choice ``i`` makes the same choices as that run before ``i``, so it has
    ``zero_options[i]`` options there (``best``'s counts at ``i`` may differ).
    """
    deviated = {i for i, c in enumerate(best.choices) if c}
    positions = sorted(range(len(zero_options)), key=lambda i: (i not in deviated, i))
    for i in positions:
        for value in range(1, zero_options[i]):
            if attempt([0] * i + [value]):
                return True
    return False


def _trim(choices: list[int]) -> list[int]:
    while choices and choices[-1] == 0:
        choices.pop()
    return choices
