"""Registered when simloop runs other plugins' tests, or the tests' own loops, on SimLoop
(``simloop_asyncio_loop_factory = true``, ``simloop_simulate = true``).

``simloop_simulate`` runs the whole session inside :func:`simloop.simulated`, so that the loops
tests make themselves (``asyncio.run()``, ``asyncio.new_event_loop()``...) are SimLoops too:
``simloop_asyncio_loop_factory`` reaches only the tests pytest-asyncio runs.

Either way, a test that still runs a stock event loop is named in the terminal summary: a test
that passes "on simloop" without ever running on it is worth knowing about. The loops are
watched through ``asyncio.BaseEventLoop.run_forever``, which every loop runs through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Generator
from typing import Any

import pytest

import simloop
from pytest_simloop import _settings


class Drivers:
    """What the session does to put SimLoop under tests that simloop does not run itself."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.simulate = bool(config.getini("simloop_simulate"))
        self._stack = contextlib.ExitStack()
        self._current: set[str] = set()
        #: node id -> the stock loop classes the test ran.
        self.stock_loops: dict[str, list[str]] = {}

    def start(self) -> None:
        if self.simulate:
            # Entered before any test, and before pytest-asyncio reads the event loop policy.
            # Every thread: a test's own loop may run in a thread the test starts.
            self._stack.enter_context(
                simloop.simulated(every_thread=True, **_settings.session_loop_options(self.config))
            )
        stock_run_forever: Callable[[asyncio.BaseEventLoop], None] = (
            asyncio.BaseEventLoop.run_forever
        )
        seen = self._current

        def run_forever(loop: asyncio.BaseEventLoop) -> None:
            if not isinstance(loop, simloop.SimLoop):
                seen.add(f"{type(loop).__module__}.{type(loop).__qualname__}")
            stock_run_forever(loop)

        setattr(asyncio.BaseEventLoop, "run_forever", run_forever)  # noqa: B010 - a method
        self._stack.callback(setattr, asyncio.BaseEventLoop, "run_forever", stock_run_forever)

    def stop(self) -> None:
        self._stack.close()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, Any, Any]:
        self._current.clear()
        try:
            return (yield)
        finally:
            if self._current:
                self.stock_loops[item.nodeid] = sorted(self._current)
            self._current.clear()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.stock_loops:
            return
        count = len(self.stock_loops)
        terminalreporter.section("simloop: stock event loops")
        terminalreporter.write_line(
            f"{count} test{'s' if count != 1 else ''} ran a stock event loop, not a SimLoop, "
            "though simloop is configured to run this session's tests on it:"
        )
        for nodeid, loops in sorted(self.stock_loops.items()):
            terminalreporter.write_line(f"  {nodeid}: {', '.join(loops)}")
        if not self.simulate:
            terminalreporter.write_line(
                "Loops a test makes itself (asyncio.run(), new_event_loop()) become SimLoops "
                "with simloop_simulate = true."
            )
