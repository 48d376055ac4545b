"""The pytest plugin the conformance runner loads into a library's own test suite (``-p``).

It runs inside the library's virtualenv, in the library's source tree, and never touches the
library's files. It is configured through environment variables set by ``run.py``:

``SIMLOOP_CONFORMANCE_MODE``
    ``stock`` (the suite as its authors run it) or ``simloop``.
``SIMLOOP_CONFORMANCE_OUT``
    Where to write the per-test outcomes (JSON).
``SIMLOOP_CONFORMANCE_EXCLUDE``
    A JSON file ``{node id or prefix: reason}``: in ``simloop`` mode, these tests are skipped
    and reported as excluded.
``SIMLOOP_CONFORMANCE_ANYIO``
    ``1``: give anyio's asyncio tests a SimLoop (see :func:`pytest_fixture_setup`).
``SIMLOOP_CONFORMANCE_STAND_IN``
    The name of a SimLoop subclass in :data:`STAND_INS` that plays the part of a suite's own
    test loop (given to pytest-asyncio ahead of the suite's own factory).

pytest-asyncio suites get their SimLoops from simloop's own plugin
(``-o simloop_asyncio_loop_factory=true``, passed by the runner), not from here, and so do the
loops tests make themselves (``-o simloop_simulate=true``).

In both modes it records, for every test, which event loop classes ran (``run_forever``) while
the test ran, so a test that passes in ``simloop`` mode on a stock loop is seen as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Generator
from typing import Any

import pytest

MODE = os.environ.get("SIMLOOP_CONFORMANCE_MODE", "stock")
OUT = os.environ.get("SIMLOOP_CONFORMANCE_OUT")
EXCLUDE_FILE = os.environ.get("SIMLOOP_CONFORMANCE_EXCLUDE")
ANYIO = MODE == "simloop" and os.environ.get("SIMLOOP_CONFORMANCE_ANYIO") == "1"
STAND_IN = os.environ.get("SIMLOOP_CONFORMANCE_STAND_IN", "") if MODE == "simloop" else ""

#: node id -> outcome record, in the order tests ran.
_results: dict[str, dict[str, Any]] = {}
#: The loop classes that ran during the current test (setup, call and teardown).
_loops_now: set[str] = set()
_excluded: dict[str, str] = {}
_exclusions_used: set[str] = set()
_session_stack = contextlib.ExitStack()


# --- which loops run ----------------------------------------------------------------------------

_real_run_forever = asyncio.BaseEventLoop.run_forever


def _recording_run_forever(self: asyncio.BaseEventLoop) -> None:
    # SimLoops (subclasses too) are marked "simloop:", so a stand-in counts as one.
    simloop = sys.modules.get("simloop")
    is_simloop = simloop is not None and isinstance(self, simloop.SimLoop)
    _loops_now.add(("simloop:" if is_simloop else "") + type(self).__name__)
    _real_run_forever(self)


asyncio.BaseEventLoop.run_forever = _recording_run_forever  # type: ignore[method-assign]


# --- configuration ------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    if EXCLUDE_FILE and MODE == "simloop":
        with open(EXCLUDE_FILE, encoding="utf-8") as file:
            _excluded.update(json.load(file))
    if STAND_IN:
        config.pluginmanager.register(_StandInFactory(), "simloop-conformance-stand-in")


def pytest_unconfigure(config: pytest.Config) -> None:
    _session_stack.close()


def _exclusion_for(nodeid: str) -> str | None:
    """The reason ``nodeid`` is excluded: a key that is the node id, or its directory, file,
    class or test without parameters."""
    for key, reason in _excluded.items():
        if nodeid == key or nodeid.startswith((key + "/", key + "::", key + "[")):
            _exclusions_used.add(key)
            return reason
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        reason = _exclusion_for(item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"[excluded] {reason}"))


# --- SimLoop for anyio's tests --------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """Turn the asyncio value of ``anyio_backend`` into ``pytest_simloop.anyio_backend()``.

    This stands in for the one-line change a user makes in their own conftest (return
    ``pytest_simloop.anyio_backend()`` from the ``anyio_backend`` fixture), wherever the suite
    defines that fixture: in its conftest, in a test module, or anyio's default.
    """
    result = yield
    if not ANYIO or fixturedef.argname != "anyio_backend":
        return result
    if isinstance(result, str):
        name, options = result, {}
    elif isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
        name, options = result
    else:
        return result
    if name != "asyncio" or "loop_factory" in options:
        return result
    import pytest_simloop

    simulated = pytest_simloop.anyio_backend()
    value = ("asyncio", {**options, **simulated[1]})
    cached = fixturedef.cached_result
    if cached is not None:
        fixturedef.cached_result = (value, cached[1], cached[2])
    return value


# --- stand-ins for a suite's own test loop ---------------------------------------------------------


def _aiostream_loop() -> asyncio.AbstractEventLoop:
    """A SimLoop that plays the part of aiostream's ``TimeTrackingTestLoop``.

    aiostream's tests run on its own fake-clock loop, and read from it the list of clock
    jumps (``loop.steps``) and how many resources are open. The stand-in is that class with
    SimLoop's run loop, clock and timers in front (SimLoop comes first in the MRO), and records
    each jump of virtual time as a step, which is what ``TimeTrackingTestLoop`` records: the
    clock moves to the next timer when nothing is ready. (``TimeTrackingTestLoop`` also moves
    it when callbacks stay ready for 100 iterations, "stuck"; SimLoop never does.)
    """
    from aiostream.test_utils import TimeTrackingTestLoop

    import simloop

    class StepRecorder(simloop.Instrument):
        def clock_advanced(self, loop: Any, old_ns: int, new_ns: int) -> None:
            loop.steps.append((new_ns - old_ns) / 1e9)

    class SimTimeTrackingLoop(simloop.SimLoop, TimeTrackingTestLoop):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(instruments=[StepRecorder()])
            # What TimeTrackingTestLoop.__init__ (which SimLoop's does not call) starts with:
            # its list of clock jumps in self.steps, a name a SimLoop subclass may take over.
            self.clear()

    return SimTimeTrackingLoop()


STAND_INS = {"aiostream": _aiostream_loop}


class _StandInFactory:
    """Registered only with a stand-in: pytest-asyncio calls every implementation of its hook
    (first answer wins), and refuses an answer of None."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_asyncio_loop_factories(self, config: pytest.Config, item: pytest.Item) -> Any:
        return {"simloop": STAND_INS[STAND_IN]}


# --- outcomes -------------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    _loops_now.clear()
    try:
        return (yield)
    finally:
        record = _results.get(item.nodeid)
        if record is not None:
            record["loops"] = sorted(_loops_now)


def _message(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return f"{crash.message}"
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (file, line, reason)
        return str(longrepr[2])
    return str(longrepr)[-2000:]


def _where(report: pytest.TestReport) -> str | None:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is None:
        return None
    return f"{crash.path}:{crash.lineno}"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    record = _results.setdefault(
        report.nodeid, {"outcome": "passed", "phase": None, "message": None, "duration": 0.0}
    )
    record["duration"] += report.duration
    if record["outcome"] not in ("passed",):
        # The first failure or skip decides; a teardown error after a failure adds nothing.
        return
    if report.skipped:
        if hasattr(report, "wasxfail"):
            record["outcome"] = "xfailed"
        else:
            message = _message(report)
            excluded = message.startswith(("Skipped: [excluded] ", "[excluded] "))
            record["outcome"] = "excluded" if excluded else "skipped"
            record["message"] = message.split("[excluded] ", 1)[-1] if excluded else message
        record["phase"] = report.when
    elif report.failed:
        record["outcome"] = "failed" if report.when == "call" else "error"
        record["phase"] = report.when
        record["message"] = _message(report)
        record["where"] = _where(report)
        record["longrepr"] = str(report.longrepr)[-6000:]
        sections = [text for title, text in report.sections if "simloop" in title]
        if sections:
            record["simloop_section"] = sections[-1][-4000:]
    elif report.when == "call" and hasattr(report, "wasxfail"):
        record["outcome"] = "xpassed"


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _results[report.nodeid or "<collection>"] = {
            "outcome": "error",
            "phase": "collect",
            "message": _message(report),
            "longrepr": str(report.longrepr)[-6000:],
            "duration": 0.0,
            "loops": [],
        }


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not OUT:
        return
    stale = sorted(set(_excluded) - _exclusions_used)
    with open(OUT, "w", encoding="utf-8") as file:
        json.dump({"mode": MODE, "tests": _results, "stale_exclusions": stale}, file, indent=1)
