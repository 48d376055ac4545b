"""pytest-xdist: ``-n 2`` with shards, reports from workers, replaying a worker's failure; and
the terminal summary of explored tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from plugin_support import race_module, replay_token, schedules_run, section_lines, source

SHARDED = """
import asyncio
import os

import pytest

OUT = {out!r}


@pytest.mark.simloop(runs=14, shards=4, search="random")
async def test_sharded(request, simloop):
    shard = request.node.callspec.id.replace("/", "-of-")
    with open(os.path.join(OUT, shard), "a") as seeds:
        seeds.write(f"{{simloop.seed}}\\n")
    await asyncio.sleep(0)


def test_plain():
    assert "PYTEST_XDIST_WORKER" in os.environ
"""


def run_sharded(
    pytester: pytest.Pytester, name: str
) -> tuple[pytest.RunResult, dict[str, list[int]]]:
    out = pytester.path / name
    out.mkdir()
    pytester.makepyfile(test_sharded=SHARDED.format(out=str(out)))
    result = pytester.runpytest_subprocess("-n", "2", "-v", "-p", "no:cacheprovider")
    seeds = {path.name: [int(seed) for seed in path.read_text().split()] for path in out.iterdir()}
    return result, seeds


def test_xdist_runs_disjoint_deterministic_shards(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    first, seeds = run_sharded(tester, "first")
    first.assert_outcomes(passed=5, failed=1)
    first.stdout.fnmatch_lines(["created: 2/2 workers"])
    assert sorted(seeds) == [f"simloop-shard-{i}-of-4" for i in range(1, 5)]
    assert [len(seeds[f"simloop-shard-{i}-of-4"]) for i in range(1, 5)] == [4, 4, 4, 2]
    every = [seed for shard in sorted(seeds) for seed in seeds[shard]]
    assert len(set(every)) == 14  # disjoint
    assert every == list(range(every[0], every[0] + 14))  # and together, the whole test's
    # The workers' statistics reach the controller's summary: the race, as many schedules as
    # it took to fail (its report says which one failed).
    (failed_on,) = re.findall(r"simloop: failed on schedule (\d+) of 50 ", first.stdout.str())
    assert schedules_run(first) == {
        "test_race.py::test_race": int(failed_on),
        "test_sharded.py::test_sharded[simloop-shard-1/4]": 4,
        "test_sharded.py::test_sharded[simloop-shard-2/4]": 4,
        "test_sharded.py::test_sharded[simloop-shard-3/4]": 4,
        "test_sharded.py::test_sharded[simloop-shard-4/4]": 2,
    }
    first.stdout.fnmatch_lines(["5 tests explored: * schedules, * steps, 1 failing*"])

    # A worker's failure is reported in full, and its replay command works in one process.
    first.stdout.fnmatch_lines(
        [
            "*- simloop -*",
            "simloop: failed on schedule * of 50 (*); needs 1 deviation from asyncio's order "
            "(*asyncio's own order passes)",
            "  replay: pytest 'test_race.py::test_race' --simloop-replay=sl2-*",
        ]
    )
    token = replay_token(first)
    replayed = tester.runpytest("test_race.py::test_race", f"--simloop-replay={token}")
    replayed.assert_outcomes(failed=1)
    assert [line for line in section_lines(replayed) if "<- ran ahead of" in line] == [
        line for line in section_lines(first) if "<- ran ahead of" in line
    ]

    second, seeds_again = run_sharded(tester, "second")
    second.assert_outcomes(passed=5, failed=1)
    assert seeds_again == seeds  # deterministic across invocations
    assert replay_token(second) == token


def test_verbose_summary_lists_explored_tests(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    tester.makepyfile(
        test_summary=source(
            """
            import asyncio
            import pytest

            @pytest.mark.simloop(runs=20)
            async def test_sleeps():
                await asyncio.sleep(1)

            @pytest.mark.simloop(search="exhaustive:1")
            async def test_proved():
                await asyncio.gather(asyncio.sleep(0), asyncio.sleep(0))

            def test_fixture(simloop):
                simloop.run(asyncio.sleep(2.5))

            def test_not_explored():
                pass
            """
        )
    )
    result = tester.runpytest("-v")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= simloop =*",
            "test_race.py::test_race: *: * schedules, * steps, 0s virtual in *.??s* - FAILED",
            "test_summary.py::test_fixture: *: 1 schedule, * steps, 2.5s virtual in *.??s*",
            "test_summary.py::test_proved: *: * schedules, * steps, 0s virtual in *.??s* - all * "
            "schedules with at most 1 deviation from asyncio's order pass",
            "test_summary.py::test_sleeps: *: 20 schedules, 80 steps, 20s virtual in *.??s*",
            "4 tests explored: * schedules, * steps, 1 failing*",
        ]
    )
    result.stdout.no_fnmatch_line("*test_not_explored:*")

    quiet = tester.runpytest()
    quiet.stdout.fnmatch_lines(
        ["*= simloop =*", "4 tests explored: * schedules, * steps, 1 failing*"]
    )
    quiet.stdout.no_fnmatch_line("test_summary.py::*")

    # No simloop test, no simloop summary.
    nothing = tester.runpytest("-v", "-k", "test_not_explored")
    nothing.assert_outcomes(passed=1)
    nothing.stdout.no_fnmatch_line("*= simloop =*")


def test_no_artifacts_for_passing_tests(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_ok=source(
            """
            import asyncio
            import pytest

            @pytest.mark.simloop(runs=10)
            async def test_ok():
                await asyncio.gather(asyncio.sleep(0), asyncio.sleep(1))
            """
        )
    )
    tester.runpytest().assert_outcomes(passed=1)
    assert not Path(tester.path, ".simloop").exists()
