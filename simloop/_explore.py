"""Exploring schedules: run a program under many schedules, shrink a failure, replay it.

``explore(main)`` runs ``main()`` on a fresh :class:`~simloop.SimLoop` once per schedule, each
schedule coming from a *search* (by default the :class:`~simloop.Portfolio`: random walks and
PCT of several depths, in turn, each run with a seed of its own). When a run
fails, the failing schedule is *shrunk* towards stock asyncio's order, then replayed with full
event recording, which also checks that the failure reproduces. ``replay(main, recording)``
re-runs one recorded schedule.

A *recording* is a :class:`~simloop.Trace` without events: the seed, the loop settings that
shape the schedule, and the choices. ``recording.token`` is the same as one short string.
"""

from __future__ import annotations

import asyncio
import os
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Protocol

import attrs

from simloop import _stdlib
from simloop._determinism import CheckedReplay
from simloop._errors import (
    DeadlockError,
    ExtensionError,
    InvalidArgumentError,
    InvariantError,
    LivenessError,
    NondeterminismError,
    ReplayDivergenceError,
    StepLimitError,
    TimeLimitError,
    UnhandledExceptionsError,
)
from simloop._guards import patches_held, real_time_functions
from simloop._instrument import Instrument
from simloop._kernel import now_ns
from simloop._labels import task_label, task_of
from simloop._loop import SimLoop
from simloop._options import LoopOptions, check_recorded
from simloop._runner import check_not_in_loop, run_on
from simloop._scheduling import Scheduler, check_scheduler
from simloop._searches import Search, make_search
from simloop._shrinking import DEFAULT_MINIMALITY_BUDGET, ShrinkReport, shrink_schedule
from simloop._text import describe, plural, shown
from simloop._token import as_recording
from simloop._trace import Trace

Main = Callable[[], Coroutine[Any, Any, Any]]

#: Real clock for measuring explorations: inside a run, time.perf_counter is virtual.
_perf_counter = real_time_functions()["perf_counter"]

DEFAULT_SHRINK_BUDGET = 300

#: The search every entry point uses unless told otherwise (explore, the pytest marker and
#: options): random walks and PCT of several depths, in turn.
DEFAULT_SEARCH = "portfolio"

#: A progress callback is called at most this often (real seconds).
PROGRESS_EVERY = 0.5

#: What a failure found by a schedule given to try first (a failure database's) names as
#: its scheduler: the search did not choose it.
SAVED_SCHEDULE = "a schedule saved by an earlier failure"

#: The full replay of a failure records (at most) this many of its last steps' events.
REPORTED_STEPS = 20_000


@attrs.frozen
class Failure:
    """How a run failed."""

    #: The exception the run raised.
    exception: BaseException = attrs.field(eq=False)
    #: ``"exception"``, ``"deadlock"``, ``"step limit"``, ``"time limit"``, ``"unhandled"``
    #: (exceptions nobody retrieved) or ``"invariant"``.
    kind: str
    #: Where it was raised in the user's code (``"file.py:12 in func"``), if known.
    location: str | None
    #: How many steps had run, and the virtual time (ns), when it failed.
    step: int
    time_ns: int

    @property
    def signature(self) -> tuple[str, str, str | None]:
        """What makes two failures "the same": kind, exception type, and place."""
        return (self.kind, type(self.exception).__qualname__, self.location)

    def summary(self) -> str:
        """One line: ``"AssertionError: lost update ... (bank.py:34 in test)"``."""
        message = str(self.exception)
        text = type(self.exception).__name__
        if message:
            text += f": {message.splitlines()[0]}"
        return text + (f" ({self.location})" if self.location else "")


@attrs.frozen
class RunResult:
    """One run of a program under one schedule."""

    #: What ``main()`` returned (``None`` if it failed).
    value: Any
    #: How the run failed, or ``None``.
    failure: Failure | None
    #: The run's trace (with events if it was recorded with them).
    trace: Trace

    @property
    def failed(self) -> bool:
        return self.failure is not None


@attrs.frozen
class ExplorationResult:
    """The outcome of :func:`explore`."""

    #: Whether some schedule failed.
    found: bool
    #: How many schedules ran (up to and including the first failure).
    runs: int
    #: The failure, as the final (shrunk, replayed) schedule produces it.
    failure: Failure | None
    #: The failing schedule, shrunk: replay it with :func:`replay` or its ``token``.
    recording: Trace | None
    #: The full trace of the failing schedule's replay, events included.
    trace: Trace | None
    #: 1-based index of the first failing schedule.
    failing_run: int | None
    #: The scheduler of the first failing schedule, e.g. ``"RandomWalk(seed=1237)"``.
    failing_scheduler: str | None
    #: What shrinking did (``None`` if it did not run).
    shrink: ShrinkReport | None
    #: Set when the program's runs do not repeat: replaying the failing schedule did not fail
    #: the same way (says where the runs first diverged), or a schedule that passed earlier
    #: fails when run again (see ``stale_run``). No replay reproduces such a failure.
    nondeterminism: str | None
    #: Real seconds the exploration took.
    seconds: float
    #: Total steps over all runs (for schedules/s and steps/s figures).
    total_steps: int
    #: Total virtual time simulated over all runs, in nanoseconds.
    total_virtual_ns: int = 0
    #: Of the schedules given to try first (a failure database's), those that now pass.
    passing_first_runs: tuple[Trace, ...] = ()
    #: For a search that can tell (:class:`~simloop.Exhaustive`), that every schedule in its
    #: bound passed: ``"all 37 schedules with at most 2 deviations ... pass"``.
    proof: str | None = None
    #: What the runs covered, when ``explore(coverage=True)``.
    coverage: Coverage | None = None
    #: The search that chose the schedules, as its repr: ``"Portfolio(seed=0)"``.
    search: str = ""
    #: 1-based index of a schedule that passed, then failed when run again after the failure:
    #: state made outside the program outlived a run (``nondeterminism`` says more).
    stale_run: int | None = None

    def raise_failure(self) -> None:
        """Raise the failure's exception (with notes on how to replay it), if there was one."""
        if self.failure is not None:
            raise self.failure.exception


@attrs.frozen
class Coverage:
    """What an exploration exercised."""

    #: Distinct ordered pairs (task, next task) of consecutive task steps, over all runs.
    interleavings: int
    #: ``simloop.sometimes`` labels, with whether their condition held in some run.
    marks: dict[str, bool]

    @property
    def never_reached(self) -> list[str]:
        """The marks whose condition never held."""
        return sorted(label for label, reached in self.marks.items() if not reached)

    def __str__(self) -> str:
        text = f"{plural(self.interleavings, 'distinct pair')} of consecutive task steps"
        if self.marks:
            missing = self.never_reached
            text += f"; marks: {len(self.marks) - len(missing)} of {len(self.marks)} reached"
            if missing:
                text += " (never: " + ", ".join(repr(m) for m in missing) + ")"
        return text


class PairsSeen(Instrument):
    """Counts the distinct (task, next task) pairs of consecutive task steps, over runs."""

    def __init__(self) -> None:
        self.pairs: set[tuple[str, str]] = set()
        self._previous: str | None = None

    def run_started(self, loop: SimLoop) -> None:
        if loop.steps == 0:
            self._previous = None

    def step_started(
        self,
        loop: SimLoop,
        index: int,
        handle: Any,
        choice: int,
        options: int,
        stock: Any,
    ) -> None:
        task = task_of(handle)
        if task is None:
            return
        label = task_label(task)
        if self._previous is not None:
            self.pairs.add((self._previous, label))
        self._previous = label


class Program(Protocol):
    """Something exploration can run under a given schedule: ``run`` never raises the run's
    failure, it returns it in the :class:`RunResult`."""

    def run(
        self, scheduler: Scheduler, seed: int | None, *, record_events: bool | int
    ) -> RunResult: ...


class AsyncProgram:
    """An async ``main`` (a function returning a fresh coroutine), one SimLoop per run."""

    def __init__(self, main: Main, options: LoopOptions) -> None:
        _check_main(main, "AsyncProgram")
        if not isinstance(options, LoopOptions):
            msg = f"`options` must be a simloop.lowlevel.LoopOptions, not {describe(options)}"
            raise InvalidArgumentError(msg)
        self.main = main
        self.options = options
        #: Where ``main`` can be found again (a trace records it: ``simloop replay FILE``).
        self.entry_point = entry_point(main)

    def run(
        self, scheduler: Scheduler, seed: int | None, *, record_events: bool | int
    ) -> RunResult:
        loop = SimLoop(options=self.options.for_run(seed, scheduler, record_events=record_events))
        try:
            coro = self.main()
        except BaseException:
            loop.close()
            raise
        if not asyncio.iscoroutine(coro):
            loop.close()
            msg = f"`main()` must return a coroutine, not {describe(coro)}"
            raise InvalidArgumentError(msg)
        result = run_coroutine(loop, coro)
        if record_events and self.entry_point is not None:
            # Only runs with events: they are the ones saved to files, and exploration runs
            # (which record none) pay nothing for it.
            result = attrs.evolve(
                result, trace=attrs.evolve(result.trace, program=self.entry_point)
            )
        return result


def entry_point(main: Any) -> dict[str, str] | None:
    """``{"kind": "function", "target": "package.module:main"}`` for a function defined at
    the top level of a module (a script run as ``__main__`` is named by its path), else None."""
    module = getattr(main, "__module__", None)
    qualname = getattr(main, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    if module == "__main__":
        code = getattr(main, "__code__", None)
        filename = getattr(code, "co_filename", "")
        if not filename.endswith(".py") or not os.path.isfile(filename):
            return None
        module = os.path.abspath(filename)
    return {"kind": "function", "target": f"{module}:{qualname}"}


def _check_program(program: object) -> None:
    if not callable(getattr(program, "run", None)):
        msg = (
            "`program` must be a simloop.lowlevel.Program (an object with a run(scheduler, "
            f"seed, *, record_events) method), not {describe(program)}"
        )
        raise InvalidArgumentError(msg)


def _check_main(main: Any, what: str) -> None:
    if asyncio.iscoroutine(main):
        main.close()
        msg = (
            f"{what}() needs a function that makes a fresh coroutine, since every schedule runs "
            f"the program anew: pass `main`, not `main()`"
        )
        raise InvalidArgumentError(msg)
    if not callable(main):
        msg = f"`main` must be a zero-argument async function, not {describe(main)}"
        raise InvalidArgumentError(msg)


def run_coroutine(
    loop: SimLoop, coro: Coroutine[Any, Any, Any], *, name: str | None = None
) -> RunResult:
    """Run ``coro`` on ``loop`` as :func:`simloop.run` would, closing the loop; return the
    outcome instead of raising it. Exceptions that are not failures of the program
    (``KeyboardInterrupt``, ``SystemExit``, a test framework's control flow) propagate.
    ``name`` names the main task."""
    if not isinstance(loop, SimLoop) or loop.is_closed() or loop.is_running():
        if asyncio.iscoroutine(coro):
            coro.close()
        msg = f"`loop` must be a simloop.SimLoop, not running nor closed, not {describe(loop)}"
        raise InvalidArgumentError(msg)
    if not asyncio.iscoroutine(coro):
        msg = f"`coro` must be a coroutine, not {describe(coro)}"
        raise InvalidArgumentError(msg)
    if name is not None and not isinstance(name, str):
        coro.close()
        msg = f"`name` must be a str or None, not {describe(name)}"
        raise InvalidArgumentError(msg)
    failed_at: list[tuple[int, int]] = []

    def on_failure(exc: BaseException) -> None:
        failed_at.append((loop.steps, now_ns(loop=loop)))

    try:
        value = run_on(loop, coro, on_failure=on_failure, name=name)
    except ExtensionError:
        raise  # a bug in a scheduler or instrument, not a failure of the program
    except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - a failing run is a result
        step, time_ns = failed_at[0] if failed_at else (loop.steps, now_ns(loop=loop))
        return RunResult(value=None, failure=make_failure(exc, step, time_ns), trace=loop.trace)
    return RunResult(value=value, failure=None, trace=loop.trace)


def make_failure(exc: BaseException, step: int, time_ns: int) -> Failure:
    """Classify an exception that ended a run."""
    if not isinstance(exc, BaseException):
        msg = f"`exc` must be an exception, not {describe(exc)}"
        raise InvalidArgumentError(msg)
    for name, value in (("step", step), ("time_ns", time_ns)):
        if isinstance(value, bool) or not isinstance(value, int):
            msg = f"`{name}` must be an int, not {describe(value)}"
            raise InvalidArgumentError(msg)
    return Failure(
        exception=exc,
        kind=failure_kind(exc),
        location=failure_location(exc),
        step=step,
        time_ns=time_ns,
    )


def failure_kind(exc: BaseException) -> str:
    """The kind of failure an exception stands for."""
    for kind, types in _KINDS:
        if isinstance(exc, types):
            return kind
    return "exception"


_KINDS: list[tuple[str, type[BaseException] | tuple[type[BaseException], ...]]] = [
    ("invariant", InvariantError),
    ("liveness", LivenessError),
    ("deadlock", DeadlockError),
    ("step limit", StepLimitError),
    ("time limit", TimeLimitError),
    ("unhandled", UnhandledExceptionsError),
    ("nondeterminism", NondeterminismError),
    ("divergence", ReplayDivergenceError),
]


def failure_location(exc: BaseException) -> str | None:
    """Where in the user's code ``exc`` was raised: its innermost non-library frame."""
    if isinstance(exc, DeadlockError):
        spots = sorted({t.location for t in exc.tasks if t.location})
        return "; ".join(spots) or None
    if isinstance(exc, (InvariantError, LivenessError)):
        return exc.name
    if isinstance(exc, UnhandledExceptionsError):
        return (
            "; ".join(sorted(filter(None, (failure_location(e) for e in exc.exceptions)))) or None
        )
    location = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if not _stdlib.is_library_frame(frame):
            code = frame.f_code
            location = f"{os.path.basename(code.co_filename)}:{lineno} in {code.co_name}"
    return location


def replay(
    main: Main,
    recording: Trace | str | os.PathLike[str],
    *,
    record_events: bool | int = True,
    strict: bool = True,
    **loop_options: Any,
) -> RunResult:
    """Re-run ``main()`` under a recorded schedule, exactly; return the run (never raises it).

    ``recording`` is a :class:`~simloop.Trace`, a replay token (``"sl2-..."``) or a trace file.
    With ``strict`` (the default), a run that leaves the recorded schedule fails with
    :class:`~simloop.ReplayDivergenceError` instead of silently doing something else.
    ``loop_options`` go to the :class:`SimLoop`; those a recording fixes (its seed, ``shuffle``,
    ``timer_jitter``, limits...) come from the recording, and giving another value is an
    error.
    """
    check_not_in_loop("simloop.replay")
    _check_main(main, "simloop.replay")
    if "scheduler" in loop_options:
        msg = "simloop.replay() takes no `scheduler`: the recording fixes the schedule"
        raise InvalidArgumentError(msg)
    schedule = as_recording(recording)
    recorded = schedule.recorded_options()
    check_recorded(recorded, loop_options, "simloop.replay()")
    options = LoopOptions.build(**{**loop_options, **recorded})
    program = AsyncProgram(main, options)
    return replay_program(program, schedule, record_events=record_events, strict=strict)


def replay_program(
    program: Program, schedule: Trace, *, record_events: bool | int, strict: bool = True
) -> RunResult:
    """Run ``program`` under ``schedule``'s choices and seed. A strict replay of a schedule
    with events also compares every step with the recorded one, and fails with
    :class:`~simloop.NondeterminismError` at the first that differs."""
    _check_program(program)
    if not isinstance(schedule, Trace):
        msg = f"`schedule` must be a simloop.Trace, not {describe(schedule)}"
        raise InvalidArgumentError(msg)
    scheduler: Scheduler = schedule.replay_scheduler(strict=strict)
    if strict and schedule.events:
        scheduler = CheckedReplay(scheduler, schedule)
    return program.run(scheduler, schedule.seed, record_events=record_events)


def explore(
    main: Main,
    *,
    runs: int = 100,
    seed: int | None = None,
    search: Any = None,
    shrink: bool = True,
    shrink_budget: int = DEFAULT_SHRINK_BUDGET,
    minimality_budget: int = DEFAULT_MINIMALITY_BUDGET,
    coverage: bool = False,
    scheduler: Any = None,
    **loop_options: Any,
) -> ExplorationResult:
    """Run ``main()`` under up to ``runs`` schedules; stop at the first failure and shrink it.

    ``main`` is a zero-argument callable that returns a fresh coroutine (each schedule runs the
    program anew). ``search`` chooses the schedules: a :class:`~simloop.Search` object
    (:class:`~simloop.Portfolio`, :class:`~simloop.PCT`, :class:`~simloop.Exhaustive`...), a
    registered search's name (``"pct:2"``), or a callable taking a seed and returning a
    scheduler (``simloop.RandomWalk``); by default the :class:`~simloop.Portfolio`, as in the
    pytest plugin. ``result.search`` names the search that ran. ``seed`` seeds the search
    (a search made with a seed of its own refuses another). ``loop_options`` go to every
    :class:`SimLoop`. (``scheduler=`` is the old name of ``search=``.)

    A failure is shrunk within ``shrink_budget`` replays, then checked: no single deviation
    can be dropped (1-minimal), and up to ``minimality_budget`` schedules with fewer
    deviations are run to show that none fails the same way (``result.shrink`` says what was
    shown; 0 skips the check). Before that, a few schedules that passed earlier are run again:
    if one fails now, state made outside ``main`` outlived a run, and the result says so
    (``result.stale_run``, ``result.nondeterminism``) instead of shrinking the failure.
    """
    check_not_in_loop("simloop.explore")
    _check_main(main, "simloop.explore")
    for name, flag in (("shrink", shrink), ("coverage", coverage)):
        if not isinstance(flag, bool):
            msg = f"`{name}` must be True or False, not {describe(flag)}"
            raise InvalidArgumentError(msg)
    if scheduler is not None:
        if search is not None:
            msg = "give `search` (the new name of `scheduler`), not both"
            raise InvalidArgumentError(msg)
        warnings.warn(
            "simloop.explore(scheduler=...) is now simloop.explore(search=...)",
            DeprecationWarning,
            stacklevel=2,
        )
        search = scheduler
    if "record_events" in loop_options:
        msg = (
            "simloop.explore() takes no `record_events`: exploration runs record the schedule "
            "only, and the failing run's replay records its events"
        )
        raise InvalidArgumentError(msg)
    options = LoopOptions.build(**loop_options)
    pairs = PairsSeen() if coverage else None
    if pairs is not None:
        options = LoopOptions.build(options, instruments=(*options.instruments, pairs))
    return explore_program(
        AsyncProgram(main, options),
        runs=runs,
        search=make_search(DEFAULT_SEARCH if search is None else search, seed=seed),
        shrink=shrink,
        shrink_budget=shrink_budget,
        minimality_budget=minimality_budget,
        pairs=pairs,
    )


def explore_program(
    program: Program,
    *,
    runs: int,
    search: Search,
    shrink: bool,
    shrink_budget: int,
    first_runs: tuple[Trace, ...] = (),
    pairs: PairsSeen | None = None,
    minimality_budget: int = DEFAULT_MINIMALITY_BUDGET,
    progress: Callable[[int, float], None] | None = None,
) -> ExplorationResult:
    """:func:`explore` for any :class:`Program`. ``first_runs``: schedules to try first
    (a failure database's), each replayed leniently before the search begins. ``progress``,
    if given, is called with the schedules run so far and the real seconds spent, at most
    every :data:`PROGRESS_EVERY` seconds (a progress line), and once at the end of the
    search."""
    _check_program(program)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        msg = f"`runs` must be a positive int, not {shown(runs)}"
        raise InvalidArgumentError(msg)
    if not isinstance(shrink, bool):
        msg = f"`shrink` must be True or False, not {describe(shrink)}"
        raise InvalidArgumentError(msg)
    if not isinstance(first_runs, tuple) or not all(isinstance(t, Trace) for t in first_runs):
        msg = f"`first_runs` must be a tuple of simloop.Trace, not {describe(first_runs)}"
        raise InvalidArgumentError(msg)
    if pairs is not None and not isinstance(pairs, PairsSeen):
        msg = f"`pairs` must be a simloop.lowlevel.PairsSeen or None, not {describe(pairs)}"
        raise InvalidArgumentError(msg)
    if isinstance(shrink_budget, bool) or not isinstance(shrink_budget, int) or shrink_budget < 0:
        msg = f"`shrink_budget` must be a non-negative int, not {shown(shrink_budget)}"
        raise InvalidArgumentError(msg)
    if (
        isinstance(minimality_budget, bool)
        or not isinstance(minimality_budget, int)
        or minimality_budget < 0
    ):
        msg = f"`minimality_budget` must be a non-negative int, not {minimality_budget!r}"
        raise InvalidArgumentError(msg)
    if not isinstance(search, Search):
        msg = f"`search` must be a simloop.Search, not {shown(search)} (see lowlevel.make_search)"
        raise InvalidArgumentError(msg)
    with patches_held():
        return _explore(
            program,
            runs,
            search,
            shrink,
            shrink_budget,
            first_runs,
            pairs,
            minimality_budget,
            progress,
        )


def _explore(
    program: Program,
    runs: int,
    search: Search,
    shrink: bool,
    shrink_budget: int,
    first_runs: tuple[Trace, ...],
    pairs: PairsSeen | None,
    minimality_budget: int,
    progress: Callable[[int, float], None] | None,
) -> ExplorationResult:
    started = _perf_counter()
    next_report = started + PROGRESS_EVERY
    total_steps = 0
    count = 0
    first: RunResult | None = None
    failing_scheduler = None
    total_virtual_ns = 0
    passing_first_runs: list[Trace] = []
    # The first schedules that passed and the latest ones, with their run numbers: run
    # again if a later one fails, to tell a program that starts from the same state every run.
    passed: list[tuple[int, Trace]] = []
    latest_passed: deque[tuple[int, Trace]] = deque(maxlen=RECHECKED_RUNS)
    marks: dict[str, bool] = {}

    def note_marks(trace: Trace) -> None:
        for label, reached in (trace.marks or {}).items():
            marks[label] = marks.get(label, False) or reached

    def note_passed(trace: Trace) -> None:
        if len(passed) < RECHECKED_RUNS:
            passed.append((count, trace))
        else:
            latest_passed.append((count, trace))

    for schedule in first_runs:
        count += 1
        result = replay_program(program, schedule, record_events=False, strict=False)
        total_steps += result.trace.steps
        total_virtual_ns += result.trace.end_time_ns - result.trace.start_time_ns
        note_marks(result.trace)
        if result.failure is not None:
            first = result
            failing_scheduler = SAVED_SCHEDULE
            break
        passing_first_runs.append(schedule)
        note_passed(result.trace)
    if first is None:
        for candidate in _schedulers_of(search):
            seed = getattr(candidate, "seed", None)
            try:
                result = program.run(candidate, seed, record_events=False)
            except ExtensionError as error:
                error.add_note(f"simloop: the scheduler came from the search {shown(search)}")
                raise
            _call_search(search, "run_finished", result.trace)
            if getattr(candidate, "probe", False):
                continue  # run only to inform the search: another search reports it
            count += 1
            total_steps += result.trace.steps
            total_virtual_ns += result.trace.end_time_ns - result.trace.start_time_ns
            note_marks(result.trace)
            if result.failure is not None:
                first = result
                failing_scheduler = repr(candidate)
                break
            note_passed(result.trace)
            if count >= runs:
                break
            if progress is not None and not count % 16:
                now = _perf_counter()  # a clock read per 16 runs, not per run
                if now >= next_report:
                    progress(count, now - started)
                    next_report = now + PROGRESS_EVERY
    if progress is not None:
        progress(count, _perf_counter() - started)
    coverage = None
    if pairs is not None:
        coverage = Coverage(interleavings=len(pairs.pairs), marks=marks)
    if first is None:
        return ExplorationResult(
            found=False,
            runs=count,
            failure=None,
            recording=None,
            trace=None,
            failing_run=None,
            failing_scheduler=None,
            shrink=None,
            nondeterminism=None,
            seconds=_perf_counter() - started,
            total_steps=total_steps,
            total_virtual_ns=total_virtual_ns,
            passing_first_runs=tuple(passing_first_runs),
            proof=_call_search(search, "proof"),
            coverage=coverage,
            search=repr(search),
        )
    assert first.failure is not None
    failure: Failure | None = first.failure
    recording = trace = first.trace
    shrink_report = None
    stale = _passes_again(program, [*passed, *reversed(latest_passed)], count)
    nondeterminism = None if stale is None else stale[1]
    if stale is None:
        # A step limit is a livelock, or a long run: each replay would take as long again,
        # and the schedule of a livelock rarely matters. Shrink the others.
        if shrink and first.failure.kind != "step limit":
            recording, shrink_report = shrink_schedule(
                program, first, budget=shrink_budget, minimality_budget=minimality_budget
            )
        final = replay_program(program, recording, record_events=REPORTED_STEPS)
        trace, failure = final.trace, final.failure
        if failure is None or failure.signature != first.failure.signature:
            # Replay once more, comparing every step with the replay just made: the first
            # step that differs names the nondeterminism and its likely cause.
            again = replay_program(program, final.trace, record_events=False)
            nondeterminism = describe_divergence(recording, final, first.failure, again=again)
            failure = first.failure
    return ExplorationResult(
        found=True,
        runs=count,
        failure=failure,
        recording=_schedule_only(recording),
        trace=with_outcome(trace, failure),
        failing_run=count,
        failing_scheduler=failing_scheduler,
        shrink=shrink_report,
        nondeterminism=nondeterminism,
        seconds=_perf_counter() - started,
        total_steps=total_steps,
        total_virtual_ns=total_virtual_ns,
        passing_first_runs=tuple(passing_first_runs),
        coverage=coverage,
        search=repr(search),
        stale_run=None if stale is None else stale[0],
    )


#: How many of the first and of the latest schedules that passed an exploration runs again
#: when a later one fails (see :func:`_passes_again`).
RECHECKED_RUNS = 4


def _passes_again(
    program: Program, passed: list[tuple[int, Trace]], failing_run: int
) -> tuple[int, str] | None:
    """Run schedules that passed (``(run number, schedule)``) again, now that run
    ``failing_run`` failed. None if they all pass again, as they do for a program that starts
    from the same state every run; else the first that did not, and what happened: state made
    outside the program outlived a run, and no replay of the failure can be trusted."""
    for run, schedule in passed:
        again = replay_program(program, schedule, record_events=False)
        if again.failure is None:
            continue
        if again.failure.kind == "divergence":
            now = "no longer makes the choices it made then"
        else:
            now = f"fails too, with {again.failure.summary()}"
        return run, (
            f"schedule {run} passed, and run again after schedule {failing_run} failed, it "
            f"{now}: the program does not start from the same state in every run. Something "
            "it uses was made outside it, outlives a run, and an earlier run changed it: a "
            "pytest fixture that is not async (pytest makes it once per test, and all the "
            "test's schedules share it), a module global or cache, or an asyncio lock, event "
            "or queue made outside the run, which stays bound to the first loop that used it. "
            "Make it inside the program (in the test itself, or in an async fixture, which "
            "runs inside each schedule), or reset it at the start of each run: until then no "
            "replay reproduces this failure."
        )
    return None


def with_outcome(trace: Trace, failure: Failure | None) -> Trace:
    """``trace`` saying how its run ended (what ``simloop replay FILE`` checks a replay
    against)."""
    if failure is None:
        return attrs.evolve(trace, outcome={"kind": "passed"})
    return attrs.evolve(trace, outcome={"kind": failure.kind, "summary": failure.summary()})


def _schedulers_of(search: Search) -> Iterator[Scheduler]:
    """The schedulers ``search`` yields, each checked; a search that breaks its contract
    (raises, or yields something other than a scheduler) is an error naming it."""
    schedulers = _call_search(search, "schedulers")
    try:
        iterator = iter(schedulers)
    except TypeError:
        msg = (
            f"search {shown(search)}: schedulers() must return an iterator of schedulers, "
            f"not {describe(schedulers)}"
        )
        raise ExtensionError(msg) from None
    while True:
        try:
            candidate = next(iterator)
        except StopIteration:
            return
        except ExtensionError:
            raise
        except Exception as exc:
            raise _search_error(search, "schedulers", exc) from exc
        try:
            check_scheduler(candidate)
        except InvalidArgumentError as exc:
            msg = (
                f"search {shown(search)} yielded {shown(candidate)}, which is not a "
                f"scheduler: {exc}"
            )
            raise ExtensionError(msg) from None
        seed = getattr(candidate, "seed", None)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            msg = (
                f"search {shown(search)} yielded the scheduler {shown(candidate)}, whose "
                f"`seed` must be an int or None, not {describe(seed)}"
            )
            raise ExtensionError(msg)
        yield candidate


def _call_search(search: Search, hook: str, *args: Any) -> Any:
    """``search.<hook>(*args)``, its exceptions raised as a bug of the search."""
    try:
        return getattr(search, hook)(*args)
    except ExtensionError:
        raise
    except Exception as exc:
        raise _search_error(search, hook, exc) from exc


def _search_error(search: Search, hook: str, exc: BaseException) -> ExtensionError:
    msg = (
        f"search {shown(search)} raised {type(exc).__name__}: {exc} in {hook}(); that is a bug in "
        "the search, not a failure of the program"
    )
    return ExtensionError(msg)


def _schedule_only(trace: Trace) -> Trace:
    return attrs.evolve(trace, events=None)


def describe_divergence(
    recording: Trace, replayed: RunResult, expected: Failure, *, again: RunResult | None = None
) -> str:
    """Where a replay left its recording: the first choice that differs, and what each did.
    ``again``, a replay checked step by step against ``replayed``, may name the very step."""
    got = (
        "passed"
        if replayed.failure is None
        else f"failed differently ({replayed.failure.summary()})"
    )
    text = (
        f"replaying the failing schedule did not fail the same way: the original run failed "
        f"with {expected.summary()}, the replay {got}. The program is nondeterministic: "
        "something it depends on is not under simloop's control."
    )
    if again is not None and again.failure is not None:
        exc = again.failure.exception
        if isinstance(exc, NondeterminismError):
            return f"{text} Replayed twice, {exc}"
    elif again is not None:
        text += (
            " Two further replays agree with each other, so the run that failed differed: "
            "state kept between runs (a cache or module global filled by an earlier run) is "
            "the likely cause."
        )
    a, b = recording, replayed.trace
    for i, (pair_a, pair_b) in enumerate(
        zip(
            zip(a.choices, a.options, strict=True),
            zip(b.choices, b.options, strict=True),
            strict=False,
        )
    ):
        if pair_a[1] != pair_b[1]:
            return text + (
                f" The runs first diverged at choice {i}: the failing run had {pair_a[1]} "
                f"options there, the replay {pair_b[1]}."
            )
        if pair_a[0] != pair_b[0]:
            return text + f" The runs first diverged at choice {i}."
    if a.steps != b.steps:
        return text + f" The failing run took {a.steps} steps, the replay {b.steps}."
    return text


# --- shrinking ------------------------------------------------------------------------------
