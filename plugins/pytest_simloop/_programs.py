"""A test item as a program simloop can run under any schedule.

Exploration runs a test many times, each time on a fresh loop. For an ``async def`` test, each
run sets up the test's async fixtures inside the simulation, awaits the test, then tears the
fixtures down, all on that run's loop: their setup and teardown are part of the schedule, and
nothing leaks from one schedule to the next. Sync fixtures are made once per test item, by
pytest, as usual (as with Hypothesis). For a plain ``def`` test using the ``simloop`` fixture,
each run calls the test function again with a fresh harness loop.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from pytest_simloop._harness import SimloopHarness
from simloop import RunResult, Scheduler, Trace, lowlevel

#: pytest outcomes that end the test rather than fail a schedule.
_PASS_THROUGH = (pytest.skip.Exception, pytest.xfail.Exception, pytest.exit.Exception)


class DeferredAsyncFixture:
    """The value pytest caches for an async fixture of a simloop test.

    The fixture function runs later, inside each schedule's simulation, with ``kwargs`` (the
    fixture's own arguments, some of which may be deferred fixtures too).
    """

    def __init__(self, name: str, func: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        self.name = name
        self.func = func
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return (
            f"<async fixture {self.name!r}: simloop sets it up inside each schedule; a sync "
            "fixture or a sync test cannot use its value>"
        )


def is_async_fixture(func: Any) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)


class _FixtureStack:
    """Async fixtures of one run: created on first use, torn down in reverse order."""

    def __init__(self) -> None:
        self.values: dict[int, Any] = {}
        self.generators: list[tuple[str, Any]] = []

    async def resolve(self, value: Any) -> Any:
        if not isinstance(value, DeferredAsyncFixture):
            return value
        key = id(value)
        if key not in self.values:
            kwargs = {name: await self.resolve(arg) for name, arg in value.kwargs.items()}
            if inspect.isasyncgenfunction(value.func):
                generator = value.func(**kwargs)
                self.values[key] = await generator.__anext__()
                self.generators.append((value.name, generator))
            else:
                self.values[key] = await value.func(**kwargs)
        return self.values[key]

    async def close(self) -> None:
        errors: list[BaseException] = []
        for name, generator in reversed(self.generators):
            try:
                await generator.__anext__()
            except StopAsyncIteration:
                continue
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
                errors.append(exc)
                continue
            errors.append(RuntimeError(f"async fixture {name!r} yielded more than once"))
        if errors:
            raise errors[0]


class TestProgram:
    """One pytest test item, runnable under a given schedule (see the module docstring)."""

    def __init__(
        self,
        item: pytest.Function,
        harness: SimloopHarness,
        loop_options: lowlevel.LoopOptions,
    ) -> None:
        self.item = item
        self.harness = harness
        self.loop_options = loop_options
        self.function = item.obj
        self.is_async = inspect.iscoroutinefunction(self.function)
        self.funcargs = {
            name: item.funcargs[name]
            for name in item._fixtureinfo.argnames
            if name in item.funcargs
        }

    def run(
        self, scheduler: Scheduler, seed: int | None, *, record_events: bool | int
    ) -> RunResult:
        harness = self.harness
        harness._begin(scheduler, seed, self.loop_options, record_events=record_events)
        if self.is_async:
            result = lowlevel.run_coroutine(harness._make_loop(), self._main(), name=self.item.name)
        else:
            result = self._run_sync()
        if result.failure is not None and isinstance(result.failure.exception, _PASS_THROUGH):
            raise result.failure.exception
        return result

    async def _main(self) -> None:
        fixtures = _FixtureStack()
        try:
            kwargs = {name: await fixtures.resolve(value) for name, value in self.funcargs.items()}
            await self.function(**kwargs)
        finally:
            await fixtures.close()

    def _run_sync(self) -> RunResult:
        harness = self.harness
        failure = None
        try:
            self.function(**self.funcargs)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - a failing run is a result here
            loop = harness._loop
            step, time_ns = (0, 0) if loop is None else (loop.steps, lowlevel.now_ns(loop=loop))
            failure = lowlevel.make_failure(exc, step, time_ns)
        trace = None
        try:
            trace = harness._finish()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - cleanup of the loop failed
            if failure is None:
                failure = lowlevel.make_failure(exc, 0, 0)
        if trace is None:
            trace = _empty_trace(harness)
        return RunResult(value=None, failure=failure, trace=trace)


def _empty_trace(harness: SimloopHarness) -> Trace:
    """The trace of a test that never used its loop."""
    loop = harness._make_loop()
    loop.close()
    return loop.trace
