"""The plugin's ``--simloop-debug`` (the debugger on a test's replayed schedule),
``--simloop-check-determinism``, and ``simloop replay``/``debug`` of a test's trace file."""

from __future__ import annotations

import sys

import pytest
from plugin_support import RACE_ASSERT_LINE, race_module, replay_token

NOT_REPEATABLE = """
import asyncio
import pytest

RUNS = [0]


@pytest.mark.simloop(runs=3)
async def test_remembers():
    RUNS[0] += 1
    first = RUNS[0] % 2 == 1

    async def worker():
        await asyncio.sleep(0)
        if first:
            await asyncio.sleep(0)

    await worker()
"""


def python(tester: pytest.Pytester, *args: str, stdin: bytes = b"") -> pytest.RunResult:
    """``python ARGS`` in the test project, as a user types it."""
    return tester.run(sys.executable, *args, stdin=stdin)


def test_simloop_debug_stops_the_replay_of_a_failing_test(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    token = replay_token(tester.runpytest())
    result = python(
        tester,
        "-m",
        "pytest",
        "test_race.py",
        f"--simloop-replay={token}",
        "--simloop-debug",
        "-p",
        "no:cacheprovider",
        stdin=b"print(state)\nstate['balance'] + 1\nwhere\nquit\n",
    )
    result.stdout.fnmatch_lines(
        [
            "simloop debug: * steps*; fails at step *: AssertionError: lost update: 1 "
            f"(test_race.py:{RACE_ASSERT_LINE} in test_race)*",
            "step * raised AssertionError*",
            "(simloop) print(state)",
            "{'balance': 1}",
            "(simloop) state['balance'] + 1",
            "2",
        ]
    )
    result.stdout.fnmatch_lines(["*1 skipped*"])
    assert "Traceback" not in result.stdout.str()


def test_check_determinism_fails_a_test_whose_runs_differ(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_remembers=NOT_REPEATABLE)
    tester.runpytest().assert_outcomes(passed=1)
    result = tester.runpytest("--simloop-check-determinism")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*NondeterminismError: the replay diverged from the recorded run at step *",
        ]
    )
    result.stdout.fnmatch_lines(["*Likely cause: the step took another path through the code*"])


def test_check_determinism_passes_a_deterministic_test(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module().replace("assert state", "assert True or state"))
    tester.runpytest("--simloop-check-determinism").assert_outcomes(passed=1)


def test_simloop_replay_runs_a_tests_trace_under_pytest(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    tester.runpytest().assert_outcomes(failed=1)
    traces = tester.path / ".simloop" / "traces"
    (trace,) = (p for p in traces.iterdir() if p.suffixes == [".json"])
    result = python(tester, "-m", "simloop", "replay", str(trace))
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["$ pytest test_race.py::test_race --simloop-replay=sl2-*"])
    result.stdout.fnmatch_lines(["*1 failed*"])
