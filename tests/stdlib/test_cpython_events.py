"""CPython's ``test.test_asyncio.test_events``, the part about handles, on SimLoop.

The rest of that module is the test suite of the stock selector loops (sockets, pipes,
subprocesses, signals) or does not run a loop at all; see ``NOT_WIRED``.
See conftest.py for how the loops are made, docs/conformance.md for the exclusions.
"""

from __future__ import annotations

from cpython_support import check_wiring
from test.test_asyncio import test_events as cpython
from test.test_asyncio.test_events import HandleTests

__all__ = ["HandleTests"]

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {}

_IO = "the stock selector loop's suite: real sockets, pipes, subprocesses and signals"

#: CPython's test classes not run here at all, with the reason.
NOT_WIRED: dict[str, str] = {
    "EPollEventLoopTests": _IO,
    "PollEventLoopTests": _IO,
    "SelectEventLoopTests": _IO,
    "TestServer": "servers on real sockets",
    "TestAbstractServer": "the abstract Server class; no event loop runs",
    "TimerTests": "TimerHandle with a mock loop; no event loop runs",
    "AbstractEventLoopTests": "the abstract loop's NotImplementedError stubs; no loop runs",
    "PolicyTests": (
        "the event loop policy machinery itself, which this suite replaces with a SimLoop policy"
    ),
    "TestPyGetEventLoop": (
        "get_event_loop() with a child watcher attached to the loop (a SIGCHLD handler) and "
        "child processes"
    ),
    "TestCGetEventLoop": (
        "get_event_loop() with a child watcher attached to the loop (a SIGCHLD handler) and "
        "child processes"
    ),
}


def test_wiring() -> None:
    check_wiring(cpython, globals())
