"""Nondeterminism caught at the step where it happens.

A replay that has the recorded run's events compares each step it runs with the recorded one
(:class:`StepChecker`, attached through the replay's scheduler); the first difference fails
the run with :class:`~simloop.NondeterminismError`, naming the step, what the recording ran
there and what ran instead, and the likely cause, judged from what differs (the time, the
task, the line) and from the facts both runs recorded (hash seed, Python version).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from simloop._errors import NondeterminismError
from simloop._instrument import Instrument
from simloop._kernel import fail
from simloop._scheduling import bind_scheduler
from simloop._trace import Step, Trace, environment, hash_seed_description

if TYPE_CHECKING:
    from asyncio import events

    from simloop._choices import ChoicePoint
    from simloop._loop import SimLoop
    from simloop._scheduling import Scheduler

#: What two runs of the same step must agree on.
COMPARED = ("time_ns", "kind", "label", "resumed_at", "suspended_at")


class StepChecker(Instrument):
    """Compares every step of a run with the recorded ``events``; fails the run at the first
    difference."""

    def __init__(self, recorded: Trace) -> None:
        from simloop._recorder import TraceRecorder  # a shipped extension, built on simloop

        assert recorded.events is not None
        self.recorded = recorded
        self.expected = {step.index: step for step in recorded.events}
        self.recorder = TraceRecorder(keep=1)
        self.diverged: NondeterminismError | None = None

    def choice_made(self, loop: SimLoop, point: ChoicePoint, choice: int) -> None:
        self.recorder.choice_made(loop, point, choice)

    def step_started(
        self,
        loop: SimLoop,
        index: int,
        handle: events.Handle,
        choice: int,
        options: int,
        stock: events.Handle,
    ) -> None:
        self.recorder.step_started(loop, index, handle, choice, options, stock)

    def step_finished(self, loop: SimLoop, index: int, handle: events.Handle) -> None:
        self.recorder.step_finished(loop, index, handle)
        if self.diverged is not None or not self.recorder.events:
            return
        expected = self.expected.get(index)
        if expected is None:
            return
        found = self.recorder.events[-1]
        if any(getattr(found, f) != getattr(expected, f) for f in COMPARED):
            self.diverged = divergence(self.recorded, expected, found)
            fail(self.diverged, loop=loop)


class CheckedReplay:
    """A replay scheduler that also attaches a :class:`StepChecker` to the loop it binds."""

    def __init__(self, inner: Scheduler, recorded: Trace) -> None:
        self.inner = inner
        self.checker = StepChecker(recorded)

    def choose(self, point: ChoicePoint) -> int:
        answer: int = self.inner.choose(point)
        return answer

    def bind(self, loop: SimLoop) -> None:
        bind_scheduler(self.inner, loop)
        loop.add_instrument(self.checker)

    def __repr__(self) -> str:
        return repr(self.inner)


def describe(step: Step) -> str:
    """A step as the error shows it: "Task-3 (get) resumed at pool.py:36 in get, then waited
    at pool.py:40 in get (t=0.5s)"."""
    from simloop._clock import format_seconds

    text = step.label
    if step.kind == "task":
        text += f" resumed at {step.resumed_at or '?'}"
        then = step.suspended_at or "?"
        text += ", then finished" if then == "finished" else f", then waited at {then}"
    else:
        text += f" ({step.kind})"
    return f"{text} (t={format_seconds(step.time_ns)})"


def divergence(recorded: Trace, expected: Step, found: Step) -> NondeterminismError:
    """The error for the first step where a replay differs from its recording."""
    cause = likely_cause(recorded, expected, found)
    message = (
        f"the replay diverged from the recorded run at step {expected.index}: the recording "
        f"ran {describe(expected)}; this run ran {describe(found)}. Likely cause: {cause}"
    )
    return NondeterminismError(
        message,
        step=expected.index,
        expected=describe(expected),
        found=describe(found),
        cause=cause,
    )


def likely_cause(recorded: Trace, expected: Step, found: Step) -> str:
    """What most likely made the runs differ, from what differs and what both recorded."""
    now_seed = hash_seed_description()
    if recorded.hash_seed != now_seed:
        return (
            f"hash order: PYTHONHASHSEED was {recorded.hash_seed} when recorded and is "
            f"{now_seed} now, and the program may iterate a set or dict of strings; pin it "
            "(e.g. PYTHONHASHSEED=0) when recording and replaying"
        )
    then = recorded.recorded_with.get("python")
    now = environment().get("python")
    if then and now and then != now:
        return f"another Python (recorded with {then}, replayed with {now})"
    if threading.active_count() > 1:
        return (
            f"a thread: {threading.active_count() - 1} other threads are running, and what they "
            "do is not under simloop's control"
        )
    also = (
        "; or hash order (PYTHONHASHSEED is random: pin it, e.g. PYTHONHASHSEED=0)"
        if now_seed == "random"
        else ""
    )
    same_task = expected.label == found.label and expected.resumed_at == found.resumed_at
    if same_task and expected.time_ns != found.time_ns:
        return (
            "a real clock the guards do not reach (a C extension's own clock, a clock kept "
            "real on purpose with simloop.lowlevel.real_time_functions(), a CPU-time clock): a "
            "delay computed from it differs between runs"
        )
    if same_task:
        return (
            "the step took another path through the code: state kept between runs (a module "
            "global, a cache, a class attribute), unseeded randomness from a generator made "
            f"before the run, or input that changed{also}"
        )
    return (
        "another task or callback ran here: state kept between runs, unseeded randomness "
        "made before the run, a real clock the guards do not reach, or "
        f"a thread{also}"
    )


class DeterminismCheck:
    """A :class:`~simloop.lowlevel.Program` that runs each schedule twice and fails with
    :class:`~simloop.NondeterminismError` when the two runs differ (the pytest plugin's
    ``--simloop-check-determinism``)."""

    def __init__(self, program: Any) -> None:
        self.program = program

    def run(self, scheduler: Any, seed: int | None, *, record_events: bool | int) -> Any:
        from simloop._explore import make_failure, replay_program

        first = self.program.run(scheduler, seed, record_events=record_events)
        second = replay_program(self.program, _schedule(first.trace), record_events=False)
        if _same(first, second):
            return first
        # Name the step: replay with events, then again comparing step by step.
        third = replay_program(self.program, _schedule(first.trace), record_events=True)
        fourth = replay_program(self.program, third.trace, record_events=False)
        exc = None if fourth.failure is None else fourth.failure.exception
        if not isinstance(exc, NondeterminismError):
            what = _difference(first, second)
            exc = NondeterminismError(
                f"the same schedule, run twice, gave two different runs ({what}); later runs "
                "agree with each other, so the first run differed. Likely cause: state kept "
                "between runs (a cache or module global filled by the first run)",
                step=0,
                expected=first.trace.fingerprint(),
                found=second.trace.fingerprint(),
                cause="state kept between runs",
            )
        failure = make_failure(exc, first.trace.steps, first.trace.end_time_ns)
        return type(first)(value=None, failure=failure, trace=first.trace)


def _schedule(trace: Trace) -> Trace:
    import attrs

    return attrs.evolve(trace, events=None)


def _same(a: Any, b: Any) -> bool:
    if a.trace.fingerprint() != b.trace.fingerprint():
        return False
    if (a.failure is None) != (b.failure is None):
        return False
    return a.failure is None or a.failure.signature == b.failure.signature


def _difference(a: Any, b: Any) -> str:
    def outcome(run: Any) -> str:
        return "passed" if run.failure is None else f"failed with {run.failure.summary()}"

    if a.trace.fingerprint() != b.trace.fingerprint():
        return (
            f"fingerprints {a.trace.fingerprint()} and {b.trace.fingerprint()}, "
            f"{a.trace.steps} and {b.trace.steps} steps"
        )
    return f"the first {outcome(a)}, the second {outcome(b)}"
