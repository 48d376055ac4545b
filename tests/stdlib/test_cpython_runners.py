"""CPython's ``test.test_asyncio.test_runners`` on SimLoop: ``asyncio.run`` and ``Runner``.

CPython's ``BaseTest`` installs a policy whose loops are bare ``asyncio.BaseEventLoop``
objects with a mocked selector; the classes here are CPython's, with a ``new_loop`` that makes
a SimLoop instead (recording, as CPython's does, that ``shutdown_asyncgens`` ran).
See conftest.py for how the loops are made, docs/conformance.md for the exclusions.
"""

from __future__ import annotations

import sys
from typing import Any

from cpython_support import LOOP_OPTIONS, check_wiring
from test.test_asyncio import test_runners as cpython

import simloop


class _OnSimLoop:
    def new_loop(self) -> simloop.SimLoop:
        loop: Any = simloop.SimLoop(**LOOP_OPTIONS)
        loop.shutdown_ag_run = False

        async def shutdown_asyncgens() -> None:
            loop.shutdown_ag_run = True

        loop.shutdown_asyncgens = shutdown_asyncgens
        return loop  # type: ignore[no-any-return]


class RunTests(_OnSimLoop, cpython.RunTests):
    pass


class RunnerTests(_OnSimLoop, cpython.RunnerTests):
    pass


#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {
    "RunnerTests::test_interrupt_call_soon": (
        "a task spins on `await asyncio.sleep(0)` until a timer 0.1 s ahead interrupts it; in "
        "virtual time no time passes while callbacks are ready, so the timer never comes due "
        "(the run ends with StepLimitError)"
    ),
}
if sys.version_info >= (3, 13):
    EXCLUDED["RunTests::test_loop_factory_default_event_loop"] = (
        "asks for the stock loop by name (loop_factory=asyncio.EventLoop)"
    )


def test_wiring() -> None:
    check_wiring(cpython, globals())
