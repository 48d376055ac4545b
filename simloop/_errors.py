"""The exceptions simloop raises.

Every exception derives from :class:`SimulationError`. Misuse of the API also derives from the
built-in exception a Python programmer would expect (``TypeError``/``ValueError``), so existing
``except ValueError`` code keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simloop._diagnosis import TaskReport


class SimulationError(Exception):
    """The root of every exception raised by simloop."""


class InvalidArgumentError(SimulationError, TypeError, ValueError):
    """An argument to a simloop API has the wrong type or value."""


class ExtensionError(InvalidArgumentError):
    """A scheduler, a search or an instrument broke its contract: it raised, or answered
    something other than an option. That is a bug in that object, not in the program it was
    running, so the run is not reported as the program's failure: exploration stops and
    raises this error, which names the object (the original exception is its ``__cause__``).
    """


class _RunStoppedError(SimulationError):
    """A run that cannot continue; carries a report on every unfinished task."""

    def __init__(self, message: str, tasks: Sequence[TaskReport] = ()) -> None:
        super().__init__(message)
        #: One :class:`~simloop.TaskReport` per unfinished task, in creation order.
        self.tasks: tuple[TaskReport, ...] = tuple(tasks)


class DeadlockError(_RunStoppedError):
    """Nothing is ready to run and no timer is pending, but the run is not finished."""

    def __init__(
        self,
        message: str,
        tasks: Sequence[TaskReport] = (),
        cycle: Sequence[str] = (),
    ) -> None:
        super().__init__(message, tasks)
        #: Names of the tasks that wait for each other in a cycle, if one was found.
        self.cycle: tuple[str, ...] = tuple(cycle)


class StepLimitError(_RunStoppedError):
    """The run took more steps than ``max_steps`` allows (a livelock, or a very long run)."""


class TimeLimitError(_RunStoppedError):
    """The run went past ``max_time`` virtual seconds."""


class InvariantError(SimulationError, AssertionError):
    """A :func:`simloop.invariant` check failed after a step: the message names the step."""

    def __init__(self, message: str, *, name: str, step: int) -> None:
        super().__init__(message)
        #: The invariant's name (its ``name=``, or the check function's qualified name).
        self.name = name
        #: The index of the step after which the invariant no longer held.
        self.step = step


class LivenessError(SimulationError, AssertionError):
    """A :func:`simloop.eventually` condition did not become true in time."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        #: The condition's name (its ``name=``, or the check function's qualified name).
        self.name = name


class EscapedSimulationError(SimulationError):
    """Code inside the simulation touched a real OS resource (a socket, a thread, a process...).

    Such a call would make the run depend on the real world, so it could not be replayed.
    """


class ReplayDivergenceError(SimulationError):
    """A replayed run did not follow the recorded one.

    The program or its inputs changed since the recording, or the program reads a source of
    nondeterminism that simloop does not control.
    """

    def __init__(self, message: str, *, step: int, expected: str, found: str) -> None:
        super().__init__(message)
        #: The step (or choice) index at which the runs first differ.
        self.step = step
        #: What the recording says happened there.
        self.expected = expected
        #: What happened in this run.
        self.found = found


class NondeterminismError(ReplayDivergenceError):
    """A replay ran a step other than the recorded one: the program is nondeterministic.

    Raised at the first step that differs from the recording (replays compare every step
    when the recording has events), naming the step, what the recording ran there and what
    ran instead, and the likely cause.
    """

    def __init__(self, message: str, *, step: int, expected: str, found: str, cause: str) -> None:
        super().__init__(message, step=step, expected=expected, found=found)
        #: The likely cause, in words ("hash order: PYTHONHASHSEED was 0 when recorded...").
        self.cause = cause


class TraceFormatError(SimulationError, ValueError):
    """A trace file or replay token is corrupt, truncated, or from an unknown format version."""


class UnhandledExceptionsError(SimulationError, ExceptionGroup[Exception]):
    """Exceptions that nobody retrieved: crashed background tasks, failing callbacks.

    Stock asyncio only logs these; simloop fails the run, because a crash that nobody sees is a
    bug that a test should report. It is an :class:`ExceptionGroup`, so ``except*`` works on the
    exceptions inside.
    """

    def __new__(cls, message: str, exceptions: Sequence[Exception]) -> UnhandledExceptionsError:
        return super().__new__(cls, message, exceptions)

    def derive(  # type: ignore[override]
        self, excs: Sequence[Exception]
    ) -> UnhandledExceptionsError:
        return UnhandledExceptionsError(self.message, excs)


class BlockingCallWarning(RuntimeWarning):
    """A call that would block a real event loop ran inside the simulation (``time.sleep``)."""


class RealClockWarning(RuntimeWarning):
    """Code inside the simulation read something that is still real: a CPU-time clock, or a
    blocking wait on another thread. Reported once per call site."""
