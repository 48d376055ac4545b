"""Command-line options, ini keys and the marker: what each does, which wins, bad values."""

from __future__ import annotations

import re

import pytest
from plugin_support import (
    ini,
    race_module,
    replay_token,
    schedules_run,
    source,
)

#: Each run of a test appends a line: the test's name, its seed, and its scheduler.
RECORDING = """
import asyncio

import pytest


async def worker(log, name):
    for _ in range(2):
        log.append(name)
        await asyncio.sleep(0)


def record(request, simloop):
    with open("runs.txt", "a") as runs:
        runs.write(f"{request.node.name}|{simloop.seed}|{simloop!r}\\n")


@pytest.mark.simloop(MARKER)
async def test_marked(request, simloop):
    record(request, simloop)
    log = []
    await asyncio.gather(worker(log, "a"), worker(log, "b"))


def test_fixture(request, simloop):
    record(request, simloop)
    simloop.run(asyncio.sleep(1))
"""


def recording_module(marker: str = "") -> str:
    return RECORDING.replace("MARKER", marker)


def recorded(pytester: pytest.Pytester, test: str = "test_marked") -> list[tuple[int | None, str]]:
    """(seed, scheduler) of each run of ``test`` since the last call."""
    path = pytester.path / "runs.txt"
    runs = []
    for line in path.read_text().splitlines():
        name, seed, harness = line.split("|")
        if name == test:
            scheduler = re.fullmatch(r"<simloop harness seed=.* scheduler=(.*)>", harness)
            assert scheduler is not None, harness
            runs.append((None if seed == "None" else int(seed), scheduler[1]))
    path.unlink()
    return runs


# --- runs -------------------------------------------------------------------------------------


def test_runs_marker_beats_option_beats_ini(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_runs=source(
            """
            import asyncio
            import pytest

            @pytest.mark.simloop
            async def test_default():
                await asyncio.sleep(0)

            @pytest.mark.simloop(runs=3)
            async def test_three():
                await asyncio.sleep(0)

            def test_fixture(simloop):
                simloop.run(asyncio.sleep(0))
            """
        )
    )
    names = ("test_runs.py::test_default", "test_runs.py::test_three", "test_runs.py::test_fixture")

    def counts(*args: str) -> tuple[int, ...]:
        result = tester.runpytest("-v", *args)
        result.assert_outcomes(passed=3)
        explored = schedules_run(result)
        return tuple(explored[name] for name in names)

    # Marked tests explore 100 schedules by default; a test that only uses the fixture, one.
    assert counts() == (100, 3, 1)
    assert counts("--simloop-runs=7") == (7, 3, 7)
    tester.makeini(ini(simloop_runs=5))
    # The ini key is for marked tests only.
    assert counts() == (5, 3, 1)
    assert counts("--simloop-runs=2") == (2, 3, 2)


# --- seed -------------------------------------------------------------------------------------


def test_seed_marker_beats_option_beats_ini(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_seeds=recording_module("runs=3, search='random'"))
    result = tester.runpytest("--simloop-seed=1000")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["simloop: mode=strict, seed=1000, artifacts=*"])
    assert recorded(tester) == [(seed, f"RandomWalk(seed={seed})") for seed in (1000, 1001, 1002)]

    tester.makeini(ini(simloop_seed=2000))
    tester.runpytest().assert_outcomes(passed=2)
    assert [seed for seed, _ in recorded(tester)] == [2000, 2001, 2002]
    tester.runpytest("--simloop-seed=-4").assert_outcomes(passed=2)
    assert [seed for seed, _ in recorded(tester)] == [-4, -3, -2]

    tester.makepyfile(test_seeds=recording_module("runs=3, search='random', seed=5"))
    tester.runpytest("--simloop-seed=1000").assert_outcomes(passed=2)
    assert [seed for seed, _ in recorded(tester)] == [5, 6, 7]


def test_default_seed_comes_from_the_test_id(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_a=recording_module("runs=2, search='random'"),
        test_b=recording_module("runs=2, search='random'"),
    )
    result = tester.runpytest()
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["simloop: mode=strict, seed=per test (from its id), artifacts=*"])
    first = recorded(tester)
    tester.runpytest().assert_outcomes(passed=4)
    assert recorded(tester) == first  # reproducible
    a, a_next, b, b_next = (seed for seed, _ in first)
    assert isinstance(a, int)
    assert isinstance(b, int)
    assert (a_next, b_next) == (a + 1, b + 1)
    assert a != b  # varied between tests


def test_seed_random_draws_one_seed_per_session(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_a=recording_module("runs=2, search='random'"),
        test_b=recording_module("runs=2, search='random'"),
    )
    sessions = []
    for _ in range(2):
        result = tester.runpytest("--simloop-seed=random")
        result.assert_outcomes(passed=4)
        (header,) = [line for line in result.outlines if line.startswith("simloop: mode=")]
        match = re.fullmatch(r"simloop: mode=strict, seed=(\d+), artifacts=.*", header)
        assert match is not None, header
        seed = int(match[1])
        # Every test of the session starts from the session's seed.
        assert [s for s, _ in recorded(tester)] == [seed, seed + 1, seed, seed + 1]
        sessions.append(seed)
    assert sessions[0] != sessions[1]

    tester.makeini(ini(simloop_seed="random"))
    result = tester.runpytest()
    result.stdout.fnmatch_lines(["simloop: mode=strict, seed=*, artifacts=*"])
    result.stdout.no_fnmatch_line("*seed=per test*")


# --- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (None, r"RandomWalk\(seed=\d+\)|PCT\(depth=[123], seed=\d+\)"),
        ("portfolio", r"RandomWalk\(seed=\d+\)|PCT\(depth=[123], seed=\d+\)"),
        ("random", r"RandomWalk\(seed=\d+\)"),
        ("pct", r"PCT\(depth=3, seed=\d+\)"),
        ("PCT:2", r"PCT\(depth=2, seed=\d+\)"),
        ("fifo", r"Fifo\(\)"),
    ],
)
def test_search_option(tester: pytest.Pytester, option: str | None, expected: str) -> None:
    tester.makepyfile(test_sched=recording_module("runs=6"))
    args = [] if option is None else [f"--simloop-search={option}"]
    tester.runpytest(*args).assert_outcomes(passed=2)
    runs = recorded(tester)
    # asyncio's own order runs once: running it again would only repeat it.
    assert len(runs) == (1 if option == "fifo" else 6)
    assert all(re.fullmatch(expected, scheduler) for _, scheduler in runs), runs
    if option in (None, "portfolio"):
        # Random walks and PCT of each depth, in turn.
        kinds = {scheduler.split(", seed")[0].split("(seed")[0] for _, scheduler in runs}
        assert kinds == {"RandomWalk", "PCT(depth=1", "PCT(depth=2", "PCT(depth=3"}


def test_one_run_is_asyncios_order(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_sched=recording_module("runs=1"))
    tester.runpytest().assert_outcomes(passed=2)
    assert recorded(tester) == [(None, "Fifo()")]


def test_search_marker_beats_option_beats_ini(tester: pytest.Pytester) -> None:
    tester.makeini(ini(simloop_search="pct:2"))
    tester.makepyfile(test_sched=recording_module("runs=2"))
    tester.runpytest().assert_outcomes(passed=2)
    assert {scheduler.split(", ")[0] for _, scheduler in recorded(tester)} == {"PCT(depth=2"}
    tester.runpytest("--simloop-search=fifo").assert_outcomes(passed=2)
    assert {scheduler for _, scheduler in recorded(tester)} == {"Fifo()"}
    tester.makepyfile(test_sched=recording_module("runs=2, search='random'"))
    tester.runpytest("--simloop-search=fifo").assert_outcomes(passed=2)
    assert {scheduler.split("(")[0] for _, scheduler in recorded(tester)} == {"RandomWalk"}


def test_the_old_scheduler_names_still_work_with_a_warning(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_sched=recording_module("runs=3, scheduler='pct:2'"))
    result = tester.runpytest("-W", "default")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*PytestDeprecationWarning: @pytest.mark.simloop(scheduler=...)*"])
    assert {scheduler.split(", ")[0] for _, scheduler in recorded(tester)} == {"PCT(depth=2"}
    tester.makepyfile(test_sched=recording_module("runs=3"))
    result = tester.runpytest("-W", "default", "--simloop-scheduler=fifo")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*--simloop-scheduler is now --simloop-search*"])
    assert recorded(tester) == [(None, "Fifo()")]


def test_exhaustive_search_proves_a_bound(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_sched=recording_module("runs=1000"),
        test_object=source(
            """
            import asyncio
            import pytest
            import simloop

            async def worker(log, name):
                for _ in range(2):
                    log.append(name)
                    await asyncio.sleep(0)

            @pytest.mark.simloop(search=simloop.Exhaustive(1))
            async def test_search_object():
                await asyncio.gather(worker([], "a"), worker([], "b"))
            """
        ),
    )
    result = tester.runpytest("-v", "--simloop-search=exhaustive")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "test_object.py::test_search_object: Exhaustive(max_deviations=1): * schedules, "
            "* steps, 0s virtual in *s - "
            "all * schedules with at most 1 deviation from asyncio's order pass",
            "test_sched.py::test_marked: *: * schedules, * steps, 0s virtual in *s - "
            "all * schedules with at most 2 deviations from asyncio's order pass",
        ]
    )
    bound_1 = schedules_run(result)["test_object.py::test_search_object"]
    bound_2 = schedules_run(result)["test_sched.py::test_marked"]
    assert 1 < bound_1 < bound_2 < 1000
    assert len(recorded(tester)) == bound_2  # the test ran once per schedule

    result = tester.runpytest("-v", "--simloop-search=exhaustive:0")
    assert schedules_run(result)["test_sched.py::test_marked"] == 1
    result.stdout.fnmatch_lines(
        ["test_sched.py::test_marked: *: 1 schedule, * with at most 0 deviations from asyncio's *"]
    )
    tester.makeini(ini(simloop_search="exhaustive:1"))
    result = tester.runpytest("-v")
    assert schedules_run(result)["test_sched.py::test_marked"] == bound_1


# --- shards -----------------------------------------------------------------------------------


SHARDED = """
import asyncio

import pytest


@pytest.mark.simloop(MARKER)
async def test_explored(simloop):
    with open("seeds.txt", "a") as seeds:
        seeds.write(f"{simloop.seed}\\n")
    await asyncio.sleep(0)


def test_fixture_only(simloop):
    pass


def test_plain():
    pass
"""


def collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest("--collect-only", "-q", *args)
    assert result.ret == pytest.ExitCode.OK, result.outlines
    return [line for line in result.outlines if "::" in line]


def test_shards_split_explored_tests_into_items(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_shards=SHARDED.replace("MARKER", "runs=10, search='random'"))
    assert collected(tester) == [
        "test_shards.py::test_explored",
        "test_shards.py::test_fixture_only",
        "test_shards.py::test_plain",
    ]
    items = collected(tester, "--simloop-shards=3")
    assert [item for item in items if "test_fixture_only" not in item] == [
        "test_shards.py::test_explored[simloop-shard-1/3]",
        "test_shards.py::test_explored[simloop-shard-2/3]",
        "test_shards.py::test_explored[simloop-shard-3/3]",
        # A test simloop does not run is left alone.
        "test_shards.py::test_plain",
    ]
    tester.makeini(ini(simloop_shards=2))
    assert collected(tester)[:2] == [
        "test_shards.py::test_explored[simloop-shard-1/2]",
        "test_shards.py::test_explored[simloop-shard-2/2]",
    ]
    tester.makepyfile(test_shards=SHARDED.replace("MARKER", "runs=10, shards=4"))
    assert collected(tester, "--simloop-shards=3")[:4] == [
        f"test_shards.py::test_explored[simloop-shard-{i}/4]" for i in range(1, 5)
    ]


def test_shards_do_not_repeat_a_single_schedule(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_shards=SHARDED.replace("MARKER", "runs=10"))
    result = tester.runpytest("-v", "--simloop-shards=3", "-k", "test_fixture_only")
    assert sum(schedules_run(result).values()) == 1


def test_shards_take_disjoint_slices_of_the_seeds(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_shards=SHARDED.replace("MARKER", "runs=10, shards=4, search='random', seed=50")
    )
    result = tester.runpytest("-v", "-k", "test_explored")
    result.assert_outcomes(passed=4)
    assert schedules_run(result) == {
        "test_shards.py::test_explored[simloop-shard-1/4]": 3,
        "test_shards.py::test_explored[simloop-shard-2/4]": 3,
        "test_shards.py::test_explored[simloop-shard-3/4]": 3,
        "test_shards.py::test_explored[simloop-shard-4/4]": 1,
    }
    seeds = [int(line) for line in (tester.path / "seeds.txt").read_text().split()]
    assert seeds == list(range(50, 60))


def test_exhaustive_shards_are_disjoint(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_sched=recording_module("search='exhaustive:2'"))
    whole = schedules_run(tester.runpytest("-v", "-k", "test_marked"))
    shards = schedules_run(tester.runpytest("-v", "-k", "test_marked", "--simloop-shards=3"))
    assert len(shards) == 3
    assert sum(shards.values()) == whole["test_sched.py::test_marked"]


def test_failing_shard_replays_with_its_own_id(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module("runs=40, shards=2"))
    result = tester.runpytest()
    assert result.parseoutcomes()["failed"] >= 1
    command = next(line for line in result.outlines if line.startswith("  replay: "))
    match = re.fullmatch(
        r"  replay: pytest '(test_race\.py::test_race\[simloop-shard-[12]/2\])' "
        r"--simloop-replay=(sl2-[A-Za-z0-9_-]+)",
        command,
    )
    assert match is not None, command
    nodeid, token = match.groups()
    replayed = tester.runpytest(nodeid, f"--simloop-replay={token}")
    replayed.assert_outcomes(failed=1)
    replayed.stdout.fnmatch_lines(
        ["simloop: failed on schedule 1 (the replayed schedule), with 1 deviation from *"]
    )
    assert replay_token(replayed) == token


# --- bad values -------------------------------------------------------------------------------


MARKED = source(
    """
    import asyncio
    import pytest

    @pytest.mark.simloop(runs=3)
    async def test_marked():
        await asyncio.sleep(0)

    def test_fixture(simloop):
        pass
    """
)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--simloop-seed=abc"],
            "ERROR: --simloop-seed / simloop_seed must be an int or 'random', not 'abc'",
        ),
        (
            ["-o", "simloop_seed=1.5"],
            "ERROR: --simloop-seed / simloop_seed must be an int or 'random', not '1.5'",
        ),
        (
            ["--simloop-search=bogus"],
            "ERROR: --simloop-search: unknown search 'bogus'; use one of "
            "portfolio, random, pct[[]:DEPTH[]], exhaustive[[]:DEVIATIONS[]], fifo",
        ),
        (
            ["-o", "simloop_search=fifo:2"],
            "ERROR: simloop_search: unknown search 'fifo:2'; *",
        ),
        (
            ["--simloop-search=pct:0"],
            "ERROR: --simloop-search: pct needs a positive int after ':', not '0'",
        ),
        (
            ["--simloop-search=exhaustive:x"],
            "ERROR: --simloop-search: exhaustive needs a non-negative int after ':', not 'x'",
        ),
        (
            ["-o", "simloop_mode=sometimes"],
            "ERROR: simloop_mode must be 'strict' or 'auto', not 'sometimes'",
        ),
        (
            ["--simloop-runs=0"],
            "ERROR: --simloop-runs must be at least 1, not 0",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else " ".join(value),
)
def test_bad_option_is_a_usage_error(
    tester: pytest.Pytester, args: list[str], message: str
) -> None:
    tester.makepyfile(test_bad=MARKED)
    result = tester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_runs_ini_value(tester: pytest.Pytester) -> None:
    tester.makeini(ini(simloop_runs="many"))
    tester.makepyfile(
        test_bad=source(
            """
            import pytest

            @pytest.mark.simloop
            async def test_marked():
                pass
            """
        )
    )
    result = tester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: simloop_runs must be an int, not 'many'"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "runz=3",
            "ERROR: test_bad.py::test_marked: unknown @pytest.mark.simloop argument(s) runz; "
            "it takes runs, seed, search, shrink, shards, start_time, max_steps, max_time, "
            "timer_jitter, sleep_jitter, shuffle, patch_time, patch_random, forbid_escapes, "
            "fail_on_unhandled, warn, track_locks, epoch",
        ),
        (
            "3",
            "ERROR: test_bad.py::test_marked: @pytest.mark.simloop takes keyword arguments "
            "only, not (3,)",
        ),
        (
            "runs=True",
            "ERROR: test_bad.py::test_marked: simloop runs must be an int, not bool True",
        ),
        ("runs=0", "ERROR: test_bad.py::test_marked: simloop runs must be at least 1, not 0"),
        ("seed='7'", "ERROR: test_bad.py::test_marked: simloop seed must be an int, not str '7'"),
        (
            "search=42",
            "ERROR: test_bad.py::test_marked: simloop search must be a name (portfolio, "
            "random, pct, exhaustive, fifo) or a search such as simloop.Exhaustive(2), not 42",
        ),
        (
            "search='pct:deep'",
            "ERROR: test_bad.py::test_marked: pct needs a positive int after ':', not 'deep'",
        ),
        (
            "search=0",
            "ERROR: test_bad.py::test_marked: simloop search must be a name (portfolio, *not 0",
        ),
        (
            "search=''",
            "ERROR: test_bad.py::test_marked: unknown search ''; use one of portfolio, *",
        ),
        (
            "search=__import__('simloop').PCT",
            "ERROR: test_bad.py::test_marked: simloop search must be a search object, not the "
            "class PCT: pass simloop.PCT(...)",
        ),
        (
            "shrink='no'",
            "ERROR: test_bad.py::test_marked: simloop shrink must be True or False, not 'no'",
        ),
        (
            "shuffle='x'",
            "ERROR: test_bad.py::test_marked: @pytest.mark.simloop: `shuffle` must be True or "
            "False, not str 'x'",
        ),
        (
            "timer_jitter=-1",
            "ERROR: test_bad.py::test_marked: @pytest.mark.simloop: `timer_jitter` must be a "
            "non-negative number of seconds, not -1",
        ),
    ],
)
def test_bad_marker_is_a_usage_error(tester: pytest.Pytester, marker: str, message: str) -> None:
    tester.makepyfile(
        test_bad=source(
            f"""
            import pytest

            @pytest.mark.simloop({marker})
            async def test_marked():
                pass
            """
        )
    )
    result = tester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_marker_on_a_test_with_nothing_to_simulate(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_bad=source(
            """
            import pytest

            @pytest.mark.simloop(runs=3)
            def test_sync():
                pass
            """
        )
    )
    result = tester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: test_bad.py::test_sync is marked simloop, but it is neither an async def "
            "test nor a test that uses the simloop fixture, so there is nothing to simulate"
        ]
    )


def test_bad_loop_option_is_a_usage_error_naming_the_test(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_bad=source(
            """
            import pytest

            @pytest.mark.simloop(runs=3, max_steps=0)
            async def test_marked():
                pass
            """
        )
    )
    result = tester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: test_bad.py::test_marked: @pytest.mark.simloop: "
            "`max_steps` must be a positive int or None, not 0"
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--simloop-shards=0"], "ERROR: --simloop-shards must be at least 1, not 0"),
        (["-o", "simloop_shards=x"], "ERROR: *simloop_shards must be an int, not 'x'"),
    ],
    ids=["option", "ini"],
)
def test_bad_shards_is_a_usage_error(
    tester: pytest.Pytester, args: list[str], message: str
) -> None:
    tester.makepyfile(test_bad=MARKED)
    result = tester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_unrelated_collection_error_is_reported_as_it_is(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_params=source(
            """
            import pytest

            @pytest.mark.parametrize("x", [1], ids=["a", "b"])
            def test_x(x):
                pass
            """
        )
    )
    result = tester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.no_fnmatch_line("*PluggyTeardownRaisedWarning*")
    result.stdout.fnmatch_lines(["ERROR test_params.py - Failed: In test_params.py::test_x: *"])


# --- loop options from the command line and the ini file -------------------------------------

LOOP_OPTIONS_SEEN = source(
    """
    import asyncio
    import pytest

    @pytest.mark.simloop(runs=2)
    async def test_marked():
        options = asyncio.get_running_loop().options
        print("seen", options.timer_jitter, options.shuffle, options.max_steps)
    """
)


def test_every_loop_option_is_a_command_line_option_and_an_ini_key(
    tester: pytest.Pytester,
) -> None:
    tester.makepyfile(test_opts=LOOP_OPTIONS_SEEN)
    result = tester.runpytest("-s", "--simloop-timer-jitter=0.25", "--simloop-shuffle=yes")
    result.assert_outcomes(passed=1)
    assert result.stdout.str().count("seen 0.25 True 500000") == 2
    tester.makeini(ini(simloop_timer_jitter="0.5", simloop_max_steps="1000"))
    result = tester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*seen 0.5 False 1000"])
    # The command line beats the ini file.
    result = tester.runpytest("-s", "--simloop-timer-jitter=0.1")
    result.stdout.fnmatch_lines(["*seen 0.1 False 1000"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--simloop-timer-jitter=-1"],
            "ERROR: --simloop-timer-jitter: `timer_jitter` must be a non-negative number of "
            "seconds, not -1.0",
        ),
        (
            ["--simloop-shuffle=perhaps"],
            "ERROR: --simloop-shuffle must be true or false, not 'perhaps'",
        ),
        (
            ["-o", "simloop_max_steps=lots"],
            "ERROR: simloop_max_steps must be an int or none, not 'lots'",
        ),
    ],
)
def test_bad_loop_option_values_are_usage_errors(
    tester: pytest.Pytester, args: list[str], message: str
) -> None:
    tester.makepyfile(test_opts=LOOP_OPTIONS_SEEN)
    result = tester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


# --- timing: --simloop-timer-jitter, --simloop-sleep-jitter and their ini keys ----------------

#: A query under a timeout that only a late loop or a longer query can break (1 ms apart).
TIMEOUT_RACE = """
import asyncio

import pytest


@pytest.mark.simloop(runs=200)
async def test_timeout():
    loop = asyncio.get_running_loop()

    async def query():
        await asyncio.sleep(1)
        return "rows"

    task = asyncio.ensure_future(query())
    handle = loop.call_later(1.001, task.cancel)
    try:
        assert await task == "rows"
    finally:
        handle.cancel()
"""


@pytest.mark.parametrize(
    ("args", "ini_keys"),
    [
        (["--simloop-timer-jitter=0.5"], {}),
        (["--simloop-sleep-jitter=0.5"], {}),
        ([], {"simloop_timer_jitter": 0.5}),
        ([], {"simloop_sleep_jitter": 0.5}),
    ],
    ids=["timer option", "sleep option", "timer ini", "sleep ini"],
)
def test_timing_options_reach_every_test_and_its_replay(
    tester: pytest.Pytester, args: list[str], ini_keys: dict[str, float]
) -> None:
    tester.makepyfile(test_timeout=TIMEOUT_RACE)
    # On time, every schedule passes, and -v says how to explore timing.
    passing = tester.runpytest("-v")
    passing.assert_outcomes(passed=1)
    passing.stdout.fnmatch_lines(
        [
            "test_timeout.py::test_timeout: Portfolio(seed=*): 200 schedules, *",
            "    every timer fired on time: explore timing too with "
            "--simloop-timer-jitter=SECONDS (a late loop) or --simloop-sleep-jitter=SECONDS "
            "(longer operations)",
        ]
    )
    if ini_keys:
        tester.makeini(ini(**ini_keys))
    failing = tester.runpytest(*args)
    failing.assert_outcomes(failed=1)
    token = replay_token(failing)
    # The token records the jitter: replaying it needs no option, and fails the same way.
    tester.makeini(ini())
    replayed = tester.runpytest(f"--simloop-replay={token}")
    replayed.assert_outcomes(failed=1)
    assert replay_token(replayed) == token
    # An option that contradicts the recording is refused, naming both values.
    name = "timer_jitter" if "timer" in (args + list(ini_keys))[0] else "sleep_jitter"
    clash = tester.runpytest(
        f"--simloop-replay={token}", f"--simloop-{name.replace('_', '-')}=0.25"
    )
    assert clash.ret == pytest.ExitCode.USAGE_ERROR
    clash.stderr.fnmatch_lines(
        [f"*--simloop-replay: `{name}`=0.25 (recorded: 0.5) contradicts the recording*"]
    )
