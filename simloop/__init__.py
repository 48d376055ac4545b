"""simloop: deterministic simulation testing for asyncio.

A virtual-time event loop where every scheduling decision is a recorded choice, so that one
seed or one recorded schedule replays one exact run.
"""

from simloop._diagnosis import TaskReport
from simloop._errors import (
    BlockingCallWarning,
    DeadlockError,
    EscapedSimulationError,
    InvalidArgumentError,
    ReplayDivergenceError,
    SimulationError,
    StepLimitError,
    TimeLimitError,
    TraceFormatError,
    UnhandledExceptionsError,
)
from simloop._explore import ExplorationResult, Failure, RunResult, ShrinkReport, explore, replay
from simloop._install import loop_factory, simulated
from simloop._instrument import Instrument
from simloop._loop import SimLoop
from simloop._runner import run
from simloop._scheduling import ChoiceKind, Fifo, RandomWalk, Replay, Scheduler
from simloop._trace import Step, Trace

__version__ = "0.1.0.dev0"

__all__ = [
    "BlockingCallWarning",
    "ChoiceKind",
    "DeadlockError",
    "EscapedSimulationError",
    "ExplorationResult",
    "Failure",
    "Fifo",
    "Instrument",
    "InvalidArgumentError",
    "RandomWalk",
    "Replay",
    "ReplayDivergenceError",
    "RunResult",
    "Scheduler",
    "ShrinkReport",
    "SimLoop",
    "SimulationError",
    "Step",
    "StepLimitError",
    "TaskReport",
    "TimeLimitError",
    "Trace",
    "TraceFormatError",
    "UnhandledExceptionsError",
    "__version__",
    "explore",
    "loop_factory",
    "replay",
    "run",
    "simulated",
]
