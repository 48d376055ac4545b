"""simloop's pytest plugin: the ``simloop`` fixture and marker, exploration, replay, reports.

Loaded through the ``pytest11`` entry point (named ``simloop``) when simloop is installed;
with plugin autoloading off, load it with ``-p simloop``. Which tests it runs:

* ``async def`` tests marked ``@pytest.mark.simloop(...)``: explored under many schedules
  (also when pytest-asyncio's or anyio's marker is there too: simloop runs them);
* ``async def`` and ``def`` tests that use the ``simloop`` fixture: run once, in asyncio's
  order, or explored if marked;
* with ``simloop_mode = auto``, every other plain ``async def`` test: run once, on a SimLoop
  (virtual time), unless ``--simloop-runs`` asks for more.

Beyond its own tests, ``simloop_asyncio_loop_factory = true`` gives pytest-asyncio's tests
SimLoops, ``simloop_simulate = true`` the loops tests make themselves (``asyncio.run()``...),
and the terminal summary lists the tests that still ran a stock event loop.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Generator, Iterator
from typing import Any

import attrs
import pytest
from _pytest.mark.structures import Mark
from _pytest.nodes import Node

from pytest_simloop import _settings
from pytest_simloop._database import FailureDatabase
from pytest_simloop._harness import SimloopHarness
from pytest_simloop._programs import DeferredAsyncFixture, TestProgram, is_async_fixture
from simloop import (
    ExplorationResult,
    ExtensionError,
    InvalidArgumentError,
    SimulationError,
    Trace,
    TraceFormatError,
    lowlevel,
)

_OTHER_ASYNC_MARKERS = ("asyncio", "anyio", "trio")

# This plugin's frames are plumbing, not the user's code, in reports and traces.
lowlevel.add_library_dir(os.path.dirname(__file__))
_SHARD_PARAM = "_simloop_shard"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@attrs.define
class _TestState:
    """What the plugin keeps on a managed test item."""

    settings: _settings.Settings
    harness: SimloopHarness = attrs.field(factory=SimloopHarness)
    result: ExplorationResult | None = None
    report: str | None = None
    #: Function-scoped fixtures of a @given test, other than simloop's (see below).
    unsafe_fixtures: list[str] = attrs.field(factory=list)
    #: Artifacts that could not be read or written (see _database): shown, never raised.
    warnings: list[str] = attrs.field(factory=list)


_STATE = pytest.StashKey[_TestState]()


# --- configuration ------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    _settings.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "simloop(runs=100, seed=None, search='portfolio', shrink=True, shards=1, "
        + ", ".join(
            f"{name}={lowlevel.LOOP_OPTION_DEFAULTS[name]!r}" for name in lowlevel.PLUGIN_OPTIONS
        )
        + "): run this test on simloop's simulated event loop, under many schedules",
    )
    _settings.check_session_options(config)
    mode = _settings.mode(config)
    if mode == "auto" and _pytest_asyncio_mode(config) == "auto":
        msg = (
            "simloop_mode = auto and asyncio_mode = auto both claim every async test; "
            "choose one (or mark tests with @pytest.mark.simloop / @pytest.mark.asyncio)"
        )
        raise pytest.UsageError(msg)
    loop_factory = config.getini("simloop_asyncio_loop_factory")
    if loop_factory:
        if not config.pluginmanager.hasplugin("asyncio"):
            msg = "simloop_asyncio_loop_factory = true needs pytest-asyncio (>= 1.2) installed"
            raise pytest.UsageError(msg)
        from pytest_simloop import _asyncio_loops

        config.pluginmanager.register(_asyncio_loops, "simloop-asyncio-loops")
    if loop_factory or config.getini("simloop_simulate"):
        from pytest_simloop._drivers import Drivers

        drivers = Drivers(config)
        drivers.start()
        config.add_cleanup(drivers.stop)
        config.pluginmanager.register(drivers, "simloop-drivers")


def _pytest_asyncio_mode(config: pytest.Config) -> str | None:
    if not config.pluginmanager.hasplugin("asyncio"):
        return None
    try:
        value = config.getoption("asyncio_mode") or config.getini("asyncio_mode")
    except ValueError:
        return None
    return str(value)


def pytest_report_header(config: pytest.Config) -> str:
    seed = _settings.session_seed(config)
    seed_text = "per test (from its id)" if seed is None else str(seed)
    return (
        f"simloop: mode={_settings.mode(config)}, seed={seed_text}, "
        f"artifacts={_settings.artifacts_dir(config)}"
    )


# --- which tests are ours -----------------------------------------------------------------------


def _is_async_test(item: pytest.Function) -> bool:
    """An ``async def`` test, also under Hypothesis's ``@given`` (which wraps it in a def)."""
    handle = getattr(item.obj, "hypothesis", None)
    function = getattr(handle, "inner_test", item.obj)
    return inspect.iscoroutinefunction(function)


def _is_managed(item: pytest.Item) -> bool:
    if not isinstance(item, pytest.Function):
        return False
    if item.get_closest_marker("simloop") is not None:
        return True
    # A test that asks for the harness runs on it, whatever the mode and other markers say.
    if "simloop" in item.fixturenames:
        return True
    if _is_async_test(item) and _settings.mode(item.config) == "auto":
        return not any(item.get_closest_marker(name) for name in _OTHER_ASYNC_MARKERS)
    return False


class SimloopFunction(pytest.Function):
    """A test simloop runs, taken back from pytest-asyncio (which turns every async test it
    claims into an item of its own). While it runs, its ``asyncio`` marker is hidden, or
    pytest-asyncio would warn that a test so marked "is not an async function"; selection
    (``-m asyncio``) still sees it."""

    _simloop_running = False

    def iter_markers_with_node(self, name: str | None = None) -> Iterator[tuple[Node, Mark]]:
        for node, mark in super().iter_markers_with_node(name):
            if not (self._simloop_running and mark.name == "asyncio"):
                yield node, mark


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Collector, name: str, obj: object
) -> Generator[None, Any, Any]:
    """Take the tests simloop runs (marked, or asking for the ``simloop`` fixture) back from
    pytest-asyncio, which converts every async test it claims into an item of its own that runs
    on its own loop."""
    result = yield  # a collection error propagates as it is
    if not result:
        return result
    items = result if isinstance(result, list) else [result]
    converted = []
    for item in items:
        if (
            isinstance(item, pytest.Function)
            and type(item) is not pytest.Function
            and type(item).__module__.startswith("pytest_asyncio")
            and (item.get_closest_marker("simloop") is not None or "simloop" in item.fixturenames)
        ):
            item = SimloopFunction.from_parent(
                item.parent,
                name=item.name,
                callspec=getattr(item, "callspec", None),
                callobj=item.obj,
                fixtureinfo=item._fixtureinfo,
                keywords=item.keywords,
                originalname=item.originalname,
            )
        converted.append(item)
    return converted if isinstance(result, list) else converted[0]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Split an explored test into shards: test items with disjoint sets of schedules."""
    definition = metafunc.definition
    if not _is_managed(definition):
        return
    shards = _settings.shards_of(definition)
    if shards == 1:
        return
    metafunc.fixturenames.append(_SHARD_PARAM)
    metafunc.parametrize(
        _SHARD_PARAM,
        [(index, shards) for index in range(shards)],
        ids=[f"simloop-shard-{index + 1}/{shards}" for index in range(shards)],
    )


@pytest.fixture
def _simloop_shard(request: pytest.FixtureRequest) -> tuple[int, int]:
    param: tuple[int, int] = request.param
    return param


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not _is_managed(item):
            continue
        assert isinstance(item, pytest.Function)
        if not _is_async_test(item) and "simloop" not in item.fixturenames:
            msg = (
                f"{item.nodeid} is marked simloop, but it is neither an async def test nor a "
                "test that uses the simloop fixture, so there is nothing to simulate"
            )
            raise pytest.UsageError(msg)
        _check_async_fixture_scopes(item)
        _check_other_backend(item)
        state = item.stash[_STATE] = _TestState(settings=_settings.resolve(item))
        _allow_harness_in_given(item, state)


def _check_async_fixture_scopes(item: pytest.Function) -> None:
    """simloop runs a test's async fixtures inside each schedule, on that schedule's loop: an
    async fixture shared with other tests (a wider scope) cannot be. Checked here, where the
    order the tests run in cannot matter."""
    for name in item.fixturenames:
        definitions = item._fixtureinfo.name2fixturedefs.get(name)
        if not definitions:
            continue
        definition = definitions[-1]
        if is_async_fixture(definition.func) and definition.scope != "function":
            msg = (
                f"async fixture {name!r} has scope {definition.scope!r}, but simloop runs the "
                f"async fixtures of {item.nodeid} inside each schedule, on that schedule's "
                "loop; make it function-scoped (or a sync fixture)"
            )
            raise pytest.UsageError(msg)


def _check_other_backend(item: pytest.Function) -> None:
    """A test anyio would run on trio (its ``anyio_backend``) cannot run on simloop's loop."""
    callspec = getattr(item, "callspec", None)
    backend = callspec.params.get("anyio_backend") if callspec is not None else None
    name = backend[0] if isinstance(backend, tuple) and backend else backend
    if isinstance(name, str) and name != "asyncio":
        msg = (
            f"{item.nodeid} runs on simloop, but anyio_backend gives it {name!r}: simloop "
            "simulates asyncio; give this test the asyncio backend"
        )
        raise pytest.UsageError(msg)


@pytest.fixture
def simloop(request: pytest.FixtureRequest) -> Iterator[SimloopHarness]:
    """The simulation harness of this test: its loop, seed, virtual time, trace; ``run()``."""
    state = request.node.stash.get(_STATE, None)
    if state is not None:
        yield state.harness
        return
    # Not run by the plugin (a test collected by another plugin): a harness of its own, one
    # schedule in asyncio's order.
    harness = SimloopHarness()
    harness._begin(None, None, lowlevel.LoopOptions(), record_events=False)
    yield harness
    harness._finish()


# --- async fixtures run inside each schedule ------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """For a simloop test, an async fixture's value is a placeholder: the fixture itself runs
    inside each schedule (see ``_programs``). Outermost, so other async plugins see a plain
    function and leave it alone."""
    item = getattr(request, "_pyfuncitem", None)
    if item is None or _STATE not in item.stash or not is_async_fixture(fixturedef.func):
        return (yield)
    # (Async fixtures of a wider scope were refused at collection.)
    original = fixturedef.func
    name = fixturedef.argname

    def defer(**kwargs: Any) -> DeferredAsyncFixture:
        return DeferredAsyncFixture(name, original, kwargs)

    # FixtureDef.func is what pytest's own pytest_fixture_setup calls; swap it for the call.
    fixturedef.func = defer  # type: ignore[misc]
    try:
        return (yield)
    finally:
        fixturedef.func = original  # type: ignore[misc]


# --- running a test -------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """While simloop runs one of its tests, pytest-asyncio must not see its ``asyncio`` marker
    and anyio's plugin must not see its ``anyio_backend``: each would run the test itself."""
    __tracebackhide__ = True  # failures show the test's frames, not the plugin's
    if _STATE not in item.stash:
        return (yield)
    assert isinstance(item, pytest.Function)
    hidden = item.funcargs.pop("anyio_backend", _NOTHING)
    if hidden is not _NOTHING:
        # simloop's pytest_pyfunc_call puts it back (a test may ask for it by name): anyio's,
        # if it runs first, has seen no backend; if ours runs first, anyio's does not run.
        item.stash[_HIDDEN_BACKEND] = hidden
    if isinstance(item, SimloopFunction):
        item._simloop_running = True
    try:
        return (yield)
    finally:
        if isinstance(item, SimloopFunction):
            item._simloop_running = False
        if hidden is not _NOTHING:
            item.funcargs["anyio_backend"] = hidden
            del item.stash[_HIDDEN_BACKEND]


_NOTHING = object()
_HIDDEN_BACKEND = pytest.StashKey[Any]()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    __tracebackhide__ = True  # failures show the test's frames, not the plugin's
    state = pyfuncitem.stash.get(_STATE, None)
    if state is None:
        return None
    if _HIDDEN_BACKEND in pyfuncitem.stash:
        pyfuncitem.funcargs["anyio_backend"] = pyfuncitem.stash[_HIDDEN_BACKEND]
    settings = state.settings
    if getattr(pyfuncitem.obj, "hypothesis", None) is not None:
        _run_hypothesis_test(pyfuncitem, state)
        return True
    loop_options = settings.loop_options
    # With -v, measure what the exploration covered (it costs an instrument per run).
    pairs = lowlevel.PairsSeen() if pyfuncitem.config.getoption("verbose") > 0 else None
    if pairs is not None:
        loop_options = lowlevel.LoopOptions.build(loop_options, instruments=(pairs,))
    database = FailureDatabase(settings.artifacts)
    nodeid = pyfuncitem.nodeid
    if settings.replay is not None:
        stop_at = pyfuncitem.config.getoption("simloop_debug")
        if stop_at is not None:
            _debug(pyfuncitem, state, settings.replay, stop_at)
        result = _replay(pyfuncitem, state, settings.replay)
    else:
        program: lowlevel.Program = TestProgram(pyfuncitem, state.harness, loop_options)
        if pyfuncitem.config.getoption("simloop_check_determinism"):
            program = lowlevel.DeterminismCheck(program)
        search, runs = _settings.make_search(settings, _shard_of(pyfuncitem))
        saved = tuple(database.load(nodeid))
        progress = _ProgressLine.for_item(pyfuncitem, runs)
        try:
            result = lowlevel.explore_program(
                program,
                runs=runs,
                search=search,
                shrink=settings.shrink,
                shrink_budget=200,
                first_runs=saved,
                pairs=pairs,
                progress=progress,
            )
        except ExtensionError as error:
            # A bug in a scheduler, search or instrument: no schedule of the test failed, so
            # nothing is shrunk, saved or replayed. Its cause shows where the bug is; the
            # frames inside simloop that met it are noise.
            raise error.with_traceback(None) from error.__cause__
        finally:
            if progress is not None:
                progress.clear()
        for schedule in result.passing_first_runs:
            database.forget(nodeid, schedule)
        if result.found and not result.nondeterminism:
            assert result.recording is not None
            database.save(nodeid, result.recording)
    state.result = result
    _note_problems(state, database)
    if not result.found:
        return True
    _fail(pyfuncitem, state, result, database)
    return True  # not reached: _fail raises


class _ProgressLine:
    """A line that shows a long exploration's progress on an interactive terminal (schedules
    done, none failing yet, schedules/s), rewritten in place and cleared at the end."""

    def __init__(self, writer: Any, runs: int) -> None:
        self.writer = writer
        self.runs = runs
        self.shown = 0

    @classmethod
    def for_item(cls, item: pytest.Item, runs: int) -> _ProgressLine | None:
        reporter = item.config.pluginmanager.get_plugin("terminalreporter")
        writer = getattr(reporter, "_tw", None)
        if runs < 2 or writer is None or not getattr(reporter, "isatty", False):
            return None
        return cls(writer, runs)

    def __call__(self, done: int, seconds: float) -> None:
        if seconds <= 0:
            return
        text = (
            f"  simloop: {done:,} of {self.runs:,} schedules, no failure yet, "
            f"{done / seconds:,.0f} schedules/s"
        )
        self.writer.write("\r" + text.ljust(self.shown))
        self.writer.flush()
        self.shown = len(text)

    def clear(self) -> None:
        if self.shown:
            self.writer.write("\r" + " " * self.shown + "\r")
            self.writer.flush()
            self.shown = 0


def _note_problems(state: _TestState, database: FailureDatabase) -> None:
    """Keep what the artifacts could not do, once each, to show as warnings (not Python
    warnings: ``-W error`` would turn them into a failure the test does not have)."""
    for problem in database.problems:
        if problem not in state.warnings:
            state.warnings.append(problem)
    database.problems.clear()


def _run_hypothesis_test(item: pytest.Function, state: _TestState) -> None:
    """A ``@given`` test: Hypothesis runs the examples; each gets a fresh SimLoop.

    An example's loop takes its scheduler from the example's arguments (a draw of
    ``hypothesis_simloop.schedules()``), else runs in asyncio's order. Exploration is
    Hypothesis's job here, so the plugin does not add schedules of its own.
    """
    __tracebackhide__ = True
    handle = item.obj.hypothesis
    original = handle.inner_test
    harness = state.harness
    options = state.settings.loop_options
    is_async = inspect.iscoroutinefunction(original)

    # Hypothesis names the inner test in its failure reports: keep the test's own name.
    @functools.wraps(original)
    def run_example(*args: Any, **kwargs: Any) -> None:
        scheduler = next((v for v in kwargs.values() if callable(getattr(v, "choose", None))), None)
        harness._begin(scheduler, None, options, record_events=False)
        if is_async:
            result = lowlevel.run_coroutine(
                harness._make_loop(), original(*args, **kwargs), name=item.name
            )
            if result.failure is not None:
                raise result.failure.exception
            return
        try:
            original(*args, **kwargs)
        finally:
            harness._finish()

    funcargs = TestProgram(item, harness, options).funcargs
    deferred = [name for name, value in funcargs.items() if isinstance(value, DeferredAsyncFixture)]
    if deferred:
        msg = (
            f"{item.nodeid}: async fixtures ({', '.join(deferred)}) are not supported in @given "
            "tests on simloop; make them sync fixtures, or set the state up inside the test"
        )
        raise pytest.UsageError(msg)
    if state.unsafe_fixtures:
        from hypothesis.errors import FailedHealthCheck

        # The check the plugin turned off for the simloop fixture, for the others only.
        unsafe = state.unsafe_fixtures
        names = ", ".join(repr(name) for name in unsafe)
        fixtures = "fixture" if len(unsafe) == 1 else "fixtures"
        msg = (
            f"{item.nodeid!r} uses the function-scoped {fixtures} {names}. Function-scoped "
            "fixtures are not reset between inputs generated by @given(...) (the simloop "
            "fixture is: each example gets a fresh loop). Suppress the health check with "
            "@settings(suppress_health_check=[HealthCheck.function_scoped_fixture]) if that is "
            "fine for them."
        )
        raise FailedHealthCheck(msg)
    handle.inner_test = run_example
    try:
        item.obj(**funcargs)
    finally:
        handle.inner_test = original


def _allow_harness_in_given(item: pytest.Function, state: _TestState) -> None:
    """The simloop fixture is safe across Hypothesis examples (each example gets a fresh
    loop), so a ``@given`` test using it needs no ``function_scoped_fixture`` health check
    suppression. Hypothesis's check would name the first function-scoped fixture it finds,
    maybe this one, so the plugin turns it off and checks the other fixtures itself."""
    if getattr(item.obj, "hypothesis", None) is None or "simloop" not in item._fixtureinfo.argnames:
        return
    from hypothesis import HealthCheck, settings

    current = getattr(item.obj, "_hypothesis_internal_use_settings", None) or settings()
    if HealthCheck.function_scoped_fixture in current.suppress_health_check:
        return
    state.unsafe_fixtures = [
        name
        for name in item._fixtureinfo.argnames
        if name != "simloop"
        and item._fixtureinfo.name2fixturedefs.get(name)
        and item._fixtureinfo.name2fixturedefs[name][-1].scope == "function"
    ]
    item.obj._hypothesis_internal_use_settings = settings(
        current,
        suppress_health_check=[*current.suppress_health_check, HealthCheck.function_scoped_fixture],
    )


def _shard_of(item: pytest.Function) -> tuple[int, int]:
    """(index, count) of this item's shard of its test ((0, 1) if it is not sharded)."""
    callspec = getattr(item, "callspec", None)
    shard = callspec.params.get(_SHARD_PARAM) if callspec is not None else None
    return (0, 1) if shard is None else shard


def _replay(item: pytest.Function, state: _TestState, token: str) -> ExplorationResult:
    """Run the schedule of a replay token, with the loop options it records; options of the
    marker, command line or ini file that contradict them are a usage error."""
    program, schedule = _replayed(item, state, token)
    result = lowlevel.replay_program(program, schedule, record_events=True)
    return ExplorationResult(
        found=result.failure is not None,
        runs=1,
        failure=result.failure,
        recording=attrs.evolve(result.trace, events=None),
        trace=result.trace,
        failing_run=1 if result.failure is not None else None,
        failing_scheduler="the replayed schedule" if result.failure is not None else None,
        shrink=None,
        nondeterminism=None,
        seconds=0.0,
        total_steps=result.trace.steps,
        total_virtual_ns=result.trace.end_time_ns - result.trace.start_time_ns,
        search="replay of the given token",
    )


def _debug(item: pytest.Function, state: _TestState, token: str, stop_at: str) -> None:
    """Run the debugger on the replay of a token, with the terminal (output capture is
    suspended meanwhile); the test is then reported as skipped: it was debugged, not run."""
    program, schedule = _replayed(item, state, token)
    capture = item.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
    try:
        print()  # off the line of pytest's progress dots
        lowlevel.debug_program(
            program, schedule, stop_at=int(stop_at) if stop_at.isdigit() else stop_at
        )
    finally:
        if capture is not None:
            capture.resume_global_capture()
    pytest.skip("simloop: debugged this test's replayed schedule (--simloop-debug)")


def _replayed(item: pytest.Function, state: _TestState, token: str) -> tuple[TestProgram, Trace]:
    """The test as a program, and the schedule of a replay token, checked against the
    options the marker, command line or ini file give."""
    try:
        schedule = Trace.from_token(token)
    except TraceFormatError as error:
        raise pytest.UsageError(f"--simloop-replay: {error}") from None
    recorded = schedule.recorded_options()
    given = state.settings.given_loop_options
    try:
        lowlevel.check_recorded(recorded, given, f"{item.nodeid}: --simloop-replay")
        options = lowlevel.LoopOptions.build(
            state.settings.loop_options, **{k: v for k, v in recorded.items() if k != "seed"}
        )
    except InvalidArgumentError as error:
        raise pytest.UsageError(str(error)) from None
    return TestProgram(item, state.harness, options), schedule


def _fail(
    item: pytest.Function, state: _TestState, result: ExplorationResult, database: FailureDatabase
) -> None:
    failure = result.failure
    assert failure is not None
    assert result.recording is not None
    assert result.trace is not None
    trace = attrs.evolve(
        result.trace,
        outcome={"kind": failure.kind, "summary": failure.summary()},
        program={"kind": "pytest", "target": item.nodeid, "rootdir": str(item.config.rootpath)},
    )
    trace_path = database.save_trace(item.nodeid, trace)
    pictures = [] if trace_path is None else _write_pictures(trace, trace_path, database)
    _note_problems(state, database)
    command = replay_command(item, result.recording.token)
    report = lowlevel.format_failure(
        result,
        planned_runs=state.settings.runs if state.settings.replay is None else None,
        replay_command=command,
        trace_path=None if trace_path is None else _display_path(item.config, trace_path),
        replayed=state.settings.replay is not None,
    )
    if not result.nondeterminism and failure.kind not in ("divergence", "nondeterminism"):
        report += f"\n  debug:  {command} --simloop-debug"
    for label, path in pictures:
        report += f"\n  {label}{_display_path(item.config, path)}"
    shared = _shared_fixtures(item) if result.stale_run is not None else []
    if shared:
        report += (
            f"\n  warning: this test's sync fixtures, which pytest makes once and all its "
            f"schedules share: {', '.join(shared)}"
        )
    report += "".join(f"\n  warning: {problem}" for problem in state.warnings)
    __tracebackhide__ = True
    state.report = report
    exception = failure.exception
    notes = getattr(exception, "__notes__", None)
    if notes is not None:
        # The loop's own replay note speaks of simloop.run(..., replay=...); in pytest, the
        # command is the way to replay.
        notes[:] = [note for note in notes if not note.startswith("simloop: failed")]
    if not result.nondeterminism and failure.kind not in ("divergence", "nondeterminism"):
        note = f"simloop: replay this exact run with: {command}"
        if trace.hash_seed == "random":
            note += (
                " (PYTHONHASHSEED is random here: if the replay differs, the test may depend "
                "on the order of a set of strings; pin it, e.g. PYTHONHASHSEED=0)"
            )
        exception.add_note(note)
    if isinstance(exception, SimulationError):
        # simloop's own errors say everything in their message; the frames inside simloop
        # that raised them are noise in a test report.
        exception = exception.with_traceback(None)
    raise exception


def _shared_fixtures(item: pytest.Function) -> list[str]:
    """The function-scoped fixtures of ``item`` whose one value all its schedules use: the
    sync ones, but pytest's own (``tmp_path``, ``monkeypatch``...) and simloop's harness,
    which is made fresh for each schedule. (Wider fixtures are shared by design.)"""
    shared = []
    for name in item.fixturenames:
        definitions = item._fixtureinfo.name2fixturedefs.get(name)
        if name == "simloop" or not definitions:
            continue
        func = definitions[-1].func
        if (
            definitions[-1].scope == "function"
            and not is_async_fixture(func)
            and not getattr(func, "__module__", "").startswith("_pytest.")
        ):
            shared.append(name)
    return shared


def _write_pictures(
    trace: Trace, trace_path: Any, database: FailureDatabase
) -> list[tuple[str, Any]]:
    """The HTML report and the Perfetto JSON of a failing run, beside its trace. Writing them
    must never hide the test's failure: a directory that refuses them is noted in the
    database's ``problems``, shown as a warning."""
    if not trace.events:
        return []
    written = []
    base = str(trace_path)[: -len(".json")] if str(trace_path).endswith(".json") else trace_path
    title = f"simloop: {trace.program.get('target', '')}" if trace.program else "simloop"
    pictures = (
        ("html:   ", ".html", trace.to_html(title=title)),
        ("perfetto: ", ".perfetto.json", json.dumps(trace.to_perfetto())),
    )
    for label, suffix, text in pictures:
        path = type(trace_path)(f"{base}{suffix}")
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            database.problems.append(f"could not write {path} ({error})")
            continue
        written.append((label, path))
    return written


def replay_command(item: pytest.Item, token: str) -> str:
    return f"pytest '{item.nodeid}' --simloop-replay={token}"


def _display_path(config: pytest.Config, path: Any) -> str:
    try:
        return str(path.relative_to(config.invocation_params.dir))
    except ValueError:
        return str(path)


# --- reporting ------------------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    if call.when != "call":
        return
    state = item.stash.get(_STATE, None)
    if state is None or state.result is None:
        return
    result = state.result
    report = outcome.get_result()
    if state.report is not None:
        report.sections.append(("simloop", state.report))
    # user_properties travel from xdist workers to the controller with the report.
    report.user_properties.append(
        (
            "simloop",
            {
                "runs": result.runs,
                "steps": result.total_steps,
                "virtual_seconds": result.total_virtual_ns / 1e9,
                "seconds": result.seconds,
                "found": result.found,
                "proof": result.proof,
                "search": result.search,
                # The test waited on timers, and every one fired on time in every schedule.
                "timing_fixed": result.total_virtual_ns > 0
                and not state.settings.loop_options.timer_jitter
                and not state.settings.loop_options.sleep_jitter,
                "coverage": None if result.coverage is None else str(result.coverage),
                "warnings": list(state.warnings),
            },
        )
    )


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    explored = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", ()):
                if key == "simloop" and getattr(report, "when", None) == "call":
                    explored.append((report.nodeid, value))
    if not explored:
        return
    runs = sum(stats["runs"] for _, stats in explored)
    steps = sum(stats["steps"] for _, stats in explored)
    found = sum(1 for _, stats in explored if stats["found"])
    terminalreporter.section("simloop")
    for nodeid, stats in sorted(explored):
        for problem in stats.get("warnings", ()):
            terminalreporter.write_line(f"warning: {nodeid}: {problem}", yellow=True)
    if config.getoption("verbose") > 0:
        for nodeid, stats in sorted(explored):
            search = f"{stats['search']}: " if stats.get("search") else ""
            terminalreporter.write_line(
                f"{nodeid}: {search}{plural(stats['runs'], 'schedule')}, "
                f"{plural(stats['steps'], 'step')}, "
                f"{stats['virtual_seconds']:g}s virtual in {stats['seconds']:.2f}s"
                + _rate(stats)
                + (" - FAILED" if stats["found"] else "")
                + (f" - {stats['proof']}" if stats.get("proof") else "")
                + (f"\n    covered {stats['coverage']}" if stats.get("coverage") else "")
                + (_TIMING_HINT if stats.get("timing_fixed") and not stats["found"] else "")
            )
    seconds = sum(stats["seconds"] for _, stats in explored)
    rate = f", {runs / seconds:,.0f} schedules/s" if seconds > 0 and runs > 1 else ""
    terminalreporter.write_line(
        f"{plural(len(explored), 'test')} explored: {plural(runs, 'schedule')}, "
        f"{plural(steps, 'step')}" + (f", {found} failing" if found else "") + rate
    )


_TIMING_HINT = (
    "\n    every timer fired on time: explore timing too with --simloop-timer-jitter=SECONDS "
    "(a late loop) or --simloop-sleep-jitter=SECONDS (longer operations)"
)


def _rate(stats: dict[str, Any]) -> str:
    """``", 1,234 schedules/s"``, when there is a rate worth showing."""
    if stats["runs"] < 2 or stats["seconds"] <= 0:
        return ""
    return f", {stats['runs'] / stats['seconds']:,.0f} schedules/s"
