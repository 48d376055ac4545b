"""simloop: deterministic simulation testing for asyncio.

A virtual-time event loop where every scheduling decision is a recorded choice, so that one
seed or one recorded schedule replays one exact run. :mod:`simloop.lowlevel` is the surface
for extending it.
"""

from simloop import lowlevel
from simloop._diagnosis import TaskReport
from simloop._errors import (
    BlockingCallWarning,
    DeadlockError,
    EscapedSimulationError,
    ExtensionError,
    InvalidArgumentError,
    InvariantError,
    LivenessError,
    NondeterminismError,
    RealClockWarning,
    ReplayDivergenceError,
    SimulationError,
    StepLimitError,
    TimeLimitError,
    TraceFormatError,
    UnhandledExceptionsError,
)
from simloop._explore import (
    Coverage,
    ExplorationResult,
    Failure,
    RunResult,
    explore,
    replay,
)
from simloop._install import loop_factory, simulated
from simloop._instrument import Instrument
from simloop._loop import SimLoop
from simloop._runner import run
from simloop._scheduling import Fifo, RandomWalk, Replay, Scheduler
from simloop._searches import PCT, Exhaustive, Portfolio, RandomSearch, Search
from simloop._shrinking import ShrinkReport
from simloop._trace import Step, Trace
from simloop._watching import watch

# The checks are built on the names above, as any extension would be: imported last.
# isort: off
from simloop._checks import cancel_somewhere, eventually, invariant, sometimes
from simloop._debug import debug
# isort: on

__version__ = "0.1.0.dev0"

__all__ = [
    "PCT",
    "BlockingCallWarning",
    "Coverage",
    "DeadlockError",
    "EscapedSimulationError",
    "Exhaustive",
    "ExplorationResult",
    "ExtensionError",
    "Failure",
    "Fifo",
    "Instrument",
    "InvalidArgumentError",
    "InvariantError",
    "LivenessError",
    "NondeterminismError",
    "Portfolio",
    "RandomSearch",
    "RandomWalk",
    "RealClockWarning",
    "Replay",
    "ReplayDivergenceError",
    "RunResult",
    "Scheduler",
    "Search",
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
    "cancel_somewhere",
    "debug",
    "eventually",
    "explore",
    "invariant",
    "loop_factory",
    "lowlevel",
    "replay",
    "run",
    "simulated",
    "sometimes",
    "watch",
]

# Public classes say "simloop.X" in reprs and tracebacks, not the private module they live in.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("simloop._"):
        _obj.__module__ = "simloop"
del _name, _obj


def __getattr__(name: str) -> object:
    # ``simloop.net`` is imported on first use, so that importing simloop (and running a loop)
    # never imports the network.
    if name == "net":
        import importlib

        return importlib.import_module("simloop.net")
    msg = f"module 'simloop' has no attribute {name!r}"
    raise AttributeError(msg)
