"""CPython's ``test.test_asyncio.test_base_events`` on SimLoop: the loop's own API.

``call_soon``/``call_later``/``call_at``, ``run_until_complete``/``run_forever``/``stop``,
exception handlers, debug mode checks, executors, async generator shutdown. CPython's
``BaseEventLoopTests`` builds a bare ``asyncio.BaseEventLoop`` with a mocked selector; the class
here is CPython's, with a ``setUp`` that makes a SimLoop instead.
See conftest.py for how the loops are made, docs/conformance.md for the exclusions.
"""

from __future__ import annotations

import sys

from cpython_support import REAL_THREADS, check_wiring
from test.test_asyncio import test_base_events as cpython
from test.test_asyncio import utils as test_utils
from test.test_asyncio.test_base_events import RunningLoopTests

__all__ = ["BaseEventLoopTests", "RunningLoopTests"]


class BaseEventLoopTests(cpython.BaseEventLoopTests):
    def setUp(self) -> None:
        test_utils.TestCase.setUp(self)  # not CPython's setUp, which builds a stock loop
        self.loop = self.new_test_loop()


_RUN_ONCE = (
    "drives the loop through the private BaseEventLoop._run_once(), expecting exactly one "
    "iteration of the stock loop (and reads its selector's timeout); SimLoop._run_once() "
    "runs batches until stop()"
)
_INTERNALS = "inspects the stock loop's private state ({})"

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {
    "BaseEventLoopTests::test__run_once": _RUN_ONCE,
    "BaseEventLoopTests::test__run_once_schedule_handle": _RUN_ONCE,
    "BaseEventLoopTests::test__run_once_cancelled_event_cleanup": _RUN_ONCE,
    "BaseEventLoopTests::test__add_callback_handle": _INTERNALS.format(
        "_add_callback() puts the handle itself in _ready; SimLoop wraps it"
    ),
    "BaseEventLoopTests::test_call_later": _INTERNALS.format(
        "the _scheduled heap; SimLoop keeps timers in a heap of its own"
    ),
    "BaseEventLoopTests::test_run_forever_pre_stopped": _INTERNALS.format(
        "the selector's select() calls; SimLoop has no selector"
    ),
    "BaseEventLoopTests::test_single_selecter_event_callback_after_stopping": (
        _INTERNALS.format("I/O events from a mocked selector; SimLoop has no selector")
    ),
    "BaseEventLoopTests::test_not_implemented": (
        "checks that the abstract BaseEventLoop raises NotImplementedError for its I/O hooks, "
        "which SimLoop implements"
    ),
    "BaseEventLoopTests::test_set_default_executor": _INTERNALS.format(
        "_default_executor; SimLoop accepts an executor but never uses it"
    ),
    "BaseEventLoopTests::test_check_thread": REAL_THREADS,
    "BaseEventLoopTests::test_asyncgen_finalization_by_gc_in_other_thread": (
        "expects an async generator that the garbage collector frees during a run (here in an "
        "executor job) to be closed at once; simloop closes such a generator at the end of the "
        "run, since when the collector runs is not up to the schedule"
    ),
    "BaseEventLoopTests::test_asyncgen_finalization_by_gc": (
        "expects an async generator that the garbage collector frees between two calls of a "
        "loop driven by hand to be closed by the next call; simloop closes it with the others "
        "in shutdown_asyncgens(), since the collector may as well run in the middle of a call "
        "(asyncio.Runner's cleanup differed from run to run)"
    ),
}
if sys.version_info >= (3, 13):
    EXCLUDED["BaseEventLoopTests::test_custom_run_forever_integration"] = _RUN_ONCE
    EXCLUDED["BaseEventLoopTests::test_shutdown_default_executor_timeout"] = (
        "expects the default executor's shutdown to be joined (and time out); SimLoop runs "
        "executor jobs in the loop's thread and never uses the executor"
    )

#: CPython's test classes not run here at all, with the reason.
NOT_WIRED: dict[str, str] = {
    "BaseEventTests": "helpers for socket addresses; no event loop runs",
    "BaseEventLoopWithSelectorTests": "the stock selector loop with real sockets",
    "BaseLoopSockSendfileTests": "sendfile over real sockets",
    "TestSelectorUtils": "socket options on real sockets",
}


def test_wiring() -> None:
    check_wiring(cpython, globals())
