"""Failure reports, replay tokens, the failure database, traces and the trust check."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from plugin_support import (
    RACE_ASSERT_LINE,
    ini,
    race_module,
    replay_token,
    replay_tokens,
    section_lines,
    source,
    table_rows,
)

import simloop


def test_failure_report_pins_the_race(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    token = replay_token(result)
    result.stdout.fnmatch_lines(
        [
            # The test's own traceback, with the replay command as a note.
            f"test_race.py:{RACE_ASSERT_LINE}: AssertionError",
            # pytest's report section, then simloop's.
            "*- simloop -*",
            "simloop: failed on schedule * of 50 (*); needs 1 deviation from asyncio's order "
            "(*asyncio's own order passes)",
            f"  AssertionError: lost update: 1 (test_race.py:{RACE_ASSERT_LINE} in test_race)",
            "  after * steps at virtual time 0s",
            "",
            "    step vtime task * resumed at * code * then",
            "  [*] * 0s * test_race * test_race.py:* test_race await asyncio.sleep(0) * "
            "<- ran ahead of Task-* (deposit)",
            "  [*] departs from asyncio's order (1 deviation, all shown)",
            "",
            f"  replay: pytest 'test_race.py::test_race' --simloop-replay={token}",
            "  trace:  .simloop/traces/test_race-*.json",
            "*= simloop =*",
            "1 test explored: * schedules, * steps, 1 failing*",
            "FAILED test_race.py::test_race - AssertionError: lost update: 1",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: lost update: 1",
            "E * simloop: replay this exact run with: "
            f"pytest 'test_race.py::test_race' --simloop-replay={token}*",
        ]
    )
    rows = table_rows(section_lines(result))
    deviating = [row for row in rows if row.startswith("  *") and "ran ahead of" in row]
    assert len(deviating) == 1, rows
    # The schedule before the deviation is asyncio's: the deposit task started first.
    assert any("Task-" in row and "deposit" in row for row in rows[1 : rows.index(deviating[0])])


def test_report_table_shows_no_plugin_internals(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    rows = table_rows(section_lines(result))
    assert not [row for row in rows if "_programs.py" in row or "pytest_simloop" in row], rows
    # The test's first step starts it, like any task's.
    assert rows[1].split()[:4] == ["0", "0s", "test_race", "start"], rows


def test_plain_bug_is_not_called_a_race(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_plain=source(
            """
            import asyncio
            import pytest

            @pytest.mark.simloop(runs=20)
            async def test_plain():
                await asyncio.sleep(3)
                assert 1 + 1 == 3, "arithmetic"
            """
        )
    )
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "simloop: failed on schedule 1 of 20 (*), and it fails in asyncio's own order too: "
            "no interleaving is needed, so this is a plain bug, not a race",
            "  AssertionError: arithmetic (test_plain.py:7 in test_plain)",
            "  after * steps at virtual time 3s",
        ]
    )
    result.stdout.no_fnmatch_line("*departs from asyncio's order*")
    result.stdout.no_fnmatch_line("*ran ahead of*")
    result.stdout.no_fnmatch_line("*needs * deviation*")


NOISY_RACE = """
import asyncio
import pytest

state = {"balance": 0}

async def deposit(amount):
    balance = state["balance"]
    await asyncio.sleep(0)
    state["balance"] = balance + amount

async def noise():
    for _ in range(5):
        await asyncio.sleep(0)

async def scenario():
    state["balance"] = 0
    noisy = [asyncio.create_task(noise()) for _ in range(3)]
    task = asyncio.create_task(deposit(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    state["balance"] += 2
    await task
    await asyncio.gather(*noisy)
    assert state["balance"] == 3, "lost update"

@pytest.mark.simloop(runs=50, search="random", seed=400)
async def test_shrunk():
    await scenario()

@pytest.mark.simloop(runs=50, search="random", seed=400, shrink=False)
async def test_not_shrunk():
    await scenario()
"""


def test_shrinking_and_shrink_false(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_noisy=NOISY_RACE)
    result = tester.runpytest()
    result.assert_outcomes(failed=2)
    headlines = [line for line in result.outlines if line.startswith("simloop: failed on")]
    assert len(headlines) == 2, headlines
    shrunk = re.fullmatch(
        r"simloop: failed on schedule (\d+) of 50 \(RandomWalk\(seed=(\d+)\), from "
        r"RandomSearch\(seed=400\)\); needs 1 "
        r"deviation from asyncio's order \(shrunk from (\d+) in \d+ replays; asyncio's own "
        r"order passes\)",
        headlines[0],
    )
    assert shrunk is not None, headlines[0]
    run, seed, before = (int(group) for group in shrunk.groups())
    assert before > 1
    assert seed == 400 + run - 1
    # The same first failing schedule, kept as it was.
    assert headlines[1] == (
        f"simloop: failed on schedule {run} of 50 (RandomWalk(seed={seed}), from "
        f"RandomSearch(seed=400)), with {before} deviations from asyncio's order (not shrunk)"
    )
    tokens = [line.rsplit("=", 1)[1] for line in result.outlines if line.startswith("  replay: ")]
    assert [simloop.Trace.from_token(token).deviations for token in tokens] == [1, before]


def test_replay_command_fails_the_same_way(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    first = tester.runpytest()
    first.assert_outcomes(failed=1)
    token = replay_token(first)
    command = next(line for line in first.outlines if line.startswith("  replay: "))
    words = shlex.split(command.removeprefix("  replay: "))
    assert words[:2] == ["pytest", "test_race.py::test_race"]
    assert words[2:] == [f"--simloop-replay={token}"]
    # The replay needs neither the failure database (a fresh artifacts directory) nor a
    # search that could find the race again (fifo never deviates).
    second = tester.runpytest(*words[1:], "--simloop-artifacts=elsewhere", "--simloop-search=fifo")
    second.assert_outcomes(failed=1)
    second.stdout.fnmatch_lines(
        [
            "simloop: failed on schedule 1 (the replayed schedule), "
            "with 1 deviation from asyncio's order",
            f"  AssertionError: lost update: 1 (test_race.py:{RACE_ASSERT_LINE} in test_race)",
            "  after * steps at virtual time 0s",
            f"  replay: pytest 'test_race.py::test_race' --simloop-replay={token}",
            "  trace:  elsewhere/traces/test_race-*.json",
            "1 test explored: 1 schedule, * steps, 1 failing*",
        ]
    )
    # Step for step the same run: the same interleaving table.
    assert table_rows(section_lines(second)) == table_rows(section_lines(first))
    assert replay_tokens(second) == {token}


def test_replay_in_another_process_with_another_hash_seed(
    tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    tester.makepyfile(test_race=race_module())
    first = tester.runpytest()
    token = replay_token(first)
    monkeypatch.setenv("PYTHONHASHSEED", "12345")
    second = tester.runpytest_subprocess("test_race.py::test_race", f"--simloop-replay={token}")
    second.assert_outcomes(failed=1)
    assert table_rows(section_lines(second)) == table_rows(section_lines(first))
    second.stdout.fnmatch_lines(
        ["simloop: failed on schedule 1 (the replayed schedule), with * deviation*"]
    )


def test_replay_token_from_the_ini_file(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    token = replay_token(tester.runpytest())
    tester.makeini(ini(simloop_replay=token))
    result = tester.runpytest("--simloop-artifacts=elsewhere", "--simloop-search=fifo")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["simloop: failed on schedule 1 (the replayed schedule), with * deviation*"]
    )


def test_replay_of_a_fixed_test_passes(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    token = replay_token(tester.runpytest())
    (tester.path / "fixed").touch()
    result = tester.runpytest("-v", f"--simloop-replay={token}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["test_race.py::test_race: *: 1 schedule, * steps, 0s virtual in *s*"]
    )


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (
            "hello",
            "*--simloop-replay: not a simloop replay token: 'hello' (tokens start with 'sl2-'; "
            "copy the whole token from the failure report)*",
        ),
        (
            "sl1-eNpj3HT7y",
            "*--simloop-replay: corrupt replay token (damaged or cut short in copying?): "
            "copy the whole token from the failure report*",
        ),
    ],
    ids=["not-a-token", "cut-short"],
)
def test_corrupt_token_is_a_usage_error(tester: pytest.Pytester, token: str, message: str) -> None:
    tester.makepyfile(test_race=race_module())
    result = tester.runpytest(f"--simloop-replay={token}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    result.stdout.no_fnmatch_line("*passed*")
    result.stdout.no_fnmatch_line("*plugin.py*")
    assert not (tester.path / ".simloop").exists()


def test_token_of_another_test_is_not_reported_as_a_bug(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    token = replay_token(tester.runpytest())
    tester.makepyfile(
        test_other=source(
            """
            import asyncio
            import pytest

            @pytest.mark.simloop(runs=5)
            async def test_other():
                await asyncio.gather(*(asyncio.sleep(0) for _ in range(3)))
            """
        )
    )
    result = tester.runpytest("test_other.py", f"--simloop-replay={token}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ReplayDivergenceError: replay diverged at choice *"])
    result.stdout.fnmatch_lines(["simloop: the schedule to replay does not fit this test *"])
    result.stdout.no_fnmatch_line("*plain bug, not a race*")
    # No replay command for a schedule that does not fit: at most the given token is echoed.
    assert replay_tokens(result) <= {token}


# --- the failure database -------------------------------------------------------------------


def test_failure_database_reruns_the_saved_schedule_first(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    # fifo alone never finds the race.
    tester.runpytest("--simloop-search=fifo").assert_outcomes(passed=1)
    assert not (tester.path / ".simloop").exists()

    first = tester.runpytest()
    first.assert_outcomes(failed=1)
    token = replay_token(first)
    (saved,) = (tester.path / ".simloop" / "failures").iterdir()
    assert saved.name.startswith("test_race-")
    assert saved.suffix == ".json"
    data = json.loads(saved.read_text())
    assert data == {
        "format": "simloop-failures",
        "version": 1,
        "test": "test_race.py::test_race",
        "tokens": [token],
    }

    # Next time, the saved schedule runs first, whatever the search.
    second = tester.runpytest("--simloop-search=fifo")
    second.assert_outcomes(failed=1)
    second.stdout.fnmatch_lines(
        [
            "simloop: failed on schedule 1 of 50 (a schedule saved by an earlier failure); "
            "needs 1 deviation from asyncio's order (asyncio's own order passes)",
            f"  replay: pytest 'test_race.py::test_race' --simloop-replay={token}",
        ]
    )
    assert json.loads(saved.read_text())["tokens"] == [token]

    # A fixed test passes its saved schedule, which is then forgotten.
    (tester.path / "fixed").touch()
    third = tester.runpytest("-v")
    third.assert_outcomes(passed=1)
    third.stdout.fnmatch_lines(["test_race.py::test_race: *: 50 schedules, * steps, *"])
    assert not saved.exists()
    assert list((tester.path / ".simloop" / "traces").iterdir())  # traces are kept

    (tester.path / "fixed").unlink()
    tester.runpytest("--simloop-search=fifo").assert_outcomes(passed=1)


def test_failure_database_is_per_test(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    tester.runpytest().assert_outcomes(failed=1)
    tester.makepyfile(
        test_other=source(
            """
            import asyncio
            import pytest

            @pytest.mark.simloop(runs=5, search="fifo")
            async def test_other():
                await asyncio.gather(*(asyncio.sleep(0) for _ in range(3)))
            """
        )
    )
    result = tester.runpytest("-v", "test_other.py")
    result.assert_outcomes(passed=1)
    # asyncio's order, once (running it again would only repeat it), and not test_race's
    # saved schedule first.
    result.stdout.fnmatch_lines(["test_other.py::test_other: *: 1 schedule, *"])


@pytest.mark.parametrize(
    ("content", "warning"),
    [
        ("{not json", "*/failures/test_race-*.json is not JSON (JSONDecodeError: *); ignored it"),
        (
            "[1, 2]",
            "*/failures/test_race-*.json is not a simloop failure database file; ignored it",
        ),
        (
            '{"format": "simloop-failures", "tokens": 5}',
            "*/failures/test_race-*.json: `tokens` must be a list of replay tokens, not int; "
            "ignored it",
        ),
        (
            '{"format": "simloop-failures", "tokens": [5]}',
            "*/failures/test_race-*.json: entry 0 is not a replay token (int 5); skipped it",
        ),
        (
            '{"format": "simloop-failures", "tokens": ["sl2-garbage"]}',
            "*/failures/test_race-*.json: entry 0: corrupt replay token *; skipped it",
        ),
        (
            b"\xff\xfe",
            "cannot read the failure database file */test_race-*.json (UnicodeDecodeError: *)",
        ),
    ],
    ids=["not JSON", "not an object", "tokens not a list", "not a token", "bad token", "not UTF-8"],
)
def test_a_malformed_database_file_is_skipped_with_a_warning(
    tester: pytest.Pytester, content: str | bytes, warning: str
) -> None:
    tester.makepyfile(test_race=race_module())
    tester.runpytest().assert_outcomes(failed=1)
    (saved,) = (tester.path / ".simloop" / "failures").iterdir()
    if isinstance(content, bytes):
        saved.write_bytes(content)
    else:
        saved.write_text(content)
    result = tester.runpytest("--simloop-search=fifo")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*= simloop =*", f"warning: test_race.py::test_race: {warning}"])


def test_good_entries_beside_a_bad_one_still_run_first(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    token = replay_token(tester.runpytest())
    (saved,) = (tester.path / ".simloop" / "failures").iterdir()
    data = json.loads(saved.read_text())
    data["tokens"] = [None, "sl2-", token]
    saved.write_text(json.dumps(data))
    result = tester.runpytest("--simloop-search=fifo")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "simloop: failed on schedule 1 of 50 (a schedule saved by an earlier failure); *",
            "  warning: */failures/test_race-*.json: entry 0 is not a replay token "
            "(NoneType None); skipped it",
            "  warning: */failures/test_race-*.json: entry 1: *; skipped it",
        ]
    )


@pytest.mark.parametrize("search", ["portfolio", "fifo"], ids=["failing", "passing"])
def test_unwritable_artifacts_never_hide_the_outcome(tester: pytest.Pytester, search: str) -> None:
    """Artifacts that cannot be written (here the directory is a file) are warned about; the
    test's own outcome, assertion, interleaving and replay command are all still there."""
    tester.makepyfile(test_race=race_module())
    (tester.path / "not-a-dir").write_text("a file")
    result = tester.runpytest("--simloop-artifacts=not-a-dir", f"--simloop-search={search}")
    if search == "fifo":
        result.assert_outcomes(passed=1)
        assert result.ret == pytest.ExitCode.OK
        return
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    token = replay_token(result)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: lost update: 1",
            "*- simloop -*",
            "simloop: failed on schedule *",
            "    step vtime*",
            f"  replay: pytest 'test_race.py::test_race' --simloop-replay={token}",
            "  warning: cannot save the failing schedule to */not-a-dir/failures/test_race-*.json "
            "(NotADirectoryError: *)",
            "  warning: cannot save the failure's trace to */not-a-dir/traces/test_race-*.json "
            "(NotADirectoryError: *)",
        ]
    )
    result.stdout.no_fnmatch_line("  trace:  *")
    result.stdout.fnmatch_lines(
        ["*= simloop =*", "warning: test_race.py::test_race: cannot save the failing schedule *"]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


# --- artifacts and traces -------------------------------------------------------------------


def test_artifacts_option_and_trace_file(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_race=race_module())
    result = tester.runpytest("--simloop-artifacts=out/sim")
    result.assert_outcomes(failed=1)
    token = replay_token(result)
    result.stdout.fnmatch_lines([f"simloop: mode=strict, seed=*, artifacts={tester.path}/out/sim"])
    assert not (tester.path / ".simloop").exists()
    (failures,) = (tester.path / "out" / "sim" / "failures").iterdir()
    assert json.loads(failures.read_text())["tokens"] == [token]
    traces = tester.path / "out" / "sim" / "traces"
    (trace_file,) = (p for p in traces.iterdir() if p.suffixes == [".json"])
    stem = trace_file.name[: -len(".json")]
    # Beside the trace: the HTML report and the Perfetto JSON, all named in the report.
    assert sorted(p.name for p in traces.iterdir()) == sorted(
        [trace_file.name, f"{stem}.html", f"{stem}.perfetto.json"]
    )
    result.stdout.fnmatch_lines(
        [
            f"  trace:  out/sim/traces/{trace_file.name}",
            f"  debug:  pytest 'test_race.py::test_race' --simloop-replay={token} --simloop-debug",
            f"  html:   out/sim/traces/{stem}.html",
            f"  perfetto: out/sim/traces/{stem}.perfetto.json",
        ]
    )
    assert "<!DOCTYPE html>" in (traces / f"{stem}.html").read_text()
    assert json.loads((traces / f"{stem}.perfetto.json").read_text())["traceEvents"]

    trace = simloop.Trace.load(trace_file)
    assert trace_file.name == f"{failures.stem}-{trace.fingerprint()}.json"
    recording = simloop.Trace.from_token(token)
    assert (trace.choices, trace.options, trace.seed) == (
        recording.choices,
        recording.options,
        recording.seed,
    )
    assert trace.deviations == 1
    assert trace.events is not None
    assert len(trace.events) == trace.steps
    shown = [re.match(r"  \*\s+(\d+) ", row) for row in table_rows(section_lines(result))]
    assert [step.index for step in trace.events if step.deviates] == [
        int(match[1]) for match in shown if match
    ]
    assert trace.outcome == {
        "kind": "exception",
        "summary": f"AssertionError: lost update: 1 (test_race.py:{RACE_ASSERT_LINE} in test_race)",
    }
    assert trace.program == {
        "kind": "pytest",
        "target": "test_race.py::test_race",
        "rootdir": str(tester.path),
    }


def test_artifacts_ini_key_and_absolute_path(
    tester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("artifacts")
    tester.makepyfile(test_race=race_module())
    tester.makeini(ini(simloop_artifacts="from-ini"))
    tester.runpytest().assert_outcomes(failed=1)
    assert list((tester.path / "from-ini" / "failures").iterdir())
    # The command line wins over the ini file; an absolute path is shown as it is.
    result = tester.runpytest(f"--simloop-artifacts={elsewhere}", "--simloop-search=fifo")
    result.assert_outcomes(passed=1)
    assert not elsewhere.joinpath("failures").exists()
    result = tester.runpytest(f"--simloop-artifacts={elsewhere}")
    result.assert_outcomes(failed=1)
    (trace_file,) = (p for p in (elsewhere / "traces").iterdir() if p.suffixes == [".json"])
    result.stdout.fnmatch_lines([f"  trace:  {trace_file}"])


# --- the trust check --------------------------------------------------------------------------


NONDETERMINISTIC = """
import asyncio
import pytest

CALLS = [0]
OTHER_CALLS = [0]


@pytest.mark.simloop(runs=10)
async def test_flaky():
    CALLS[0] += 1
    await asyncio.sleep(0)
    assert CALLS[0] != 3, "the third run fails"


@pytest.mark.simloop(runs=10)
async def test_flaky_steps():
    OTHER_CALLS[0] += 1
    tasks = 3 if OTHER_CALLS[0] == 5 else 1
    await asyncio.gather(*(asyncio.sleep(0) for _ in range(tasks)))
    assert OTHER_CALLS[0] != 5, "fails once"
"""


def test_nondeterministic_failure_gets_no_replay_command(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_nd=NONDETERMINISTIC)
    result = tester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "simloop: failed on schedule 3 of 10 (*), but its replay did not fail the same way: "
            "nondeterministic",
            "  AssertionError: the third run fails (test_nd.py:12 in test_flaky)",
            "  after *",
            "  WARNING: replaying the failing schedule did not fail the same way: the original "
            "run failed with AssertionError: the third run fails (test_nd.py:12 in test_flaky), "
            "the replay passed. The program is nondeterministic: something it depends on is "
            "not under simloop's control. Two further replays agree with each other, so the run "
            "that failed differed: state kept between runs (a cache or module global filled by "
            "an earlier run) is the likely cause.",
            "  no replay command: the schedule does not reproduce the failure (see above); "
            "make the program deterministic first",
            "  trace:  .simloop/traces/test_flaky-*.json",
        ]
    )
    # Where the runs diverged: the replay ended before the recording did.
    result.stdout.fnmatch_lines(
        [
            "  WARNING: replaying the failing schedule did not fail the same way: * the replay "
            "failed differently (ReplayDivergenceError: replay diverged at choice 0: the "
            "recording has 4 choices, but this run ended after 0 choices *). * The failing run "
            "took * steps, the replay *.",
        ]
    )
    assert replay_tokens(result) == set()
    result.stdout.no_fnmatch_line("*replay this exact run*")


SHARED_FIXTURE = """
import asyncio
import pytest


class Counter:
    def __init__(self):
        self.value = 0
        self.lock = asyncio.Lock()

    async def increment(self):
        async with self.lock:
            value = self.value
            await asyncio.sleep(0)
            self.value = value + 1


@pytest.fixture
def counter():
    return Counter()


@pytest.mark.simloop(runs=50)
async def test_increments(counter, tmp_path):
    await asyncio.gather(counter.increment(), counter.increment())
    assert counter.value == 2
"""


def test_a_sync_fixture_changed_by_the_test_is_named_not_reported_as_a_plain_bug(
    tester: pytest.Pytester,
) -> None:
    """A new user's first marked test: a sync fixture holding a count and an asyncio.Lock.
    pytest makes it once for all the schedules, so the second schedule starts from the first's
    count, with the lock bound to the first's loop, and fails in any order. The report says
    so, names the fixture (not pytest's own tmp_path), and gives no replay command: in a fresh
    process the schedule passes."""
    tester.makepyfile(test_shared=SHARED_FIXTURE)
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "simloop: failed on schedule 2 of 50 (*), but schedule 1, which passed, fails when "
            "run again: state outlives a run",
            # The second schedule starts with the count at 2, and the lock bound to the
            # first schedule's loop: it fails on one or the other, whichever comes first.
            "  *Error: * (test_shared.py:* in *)",
            "  after * steps at virtual time 0s",
            "  WARNING: schedule 1 passed, and run again after schedule 2 failed, it fails too, "
            "with *: the program does not start from the same state in every run.*",
            "  no replay command: a replay would start from a different state (see above); make "
            "every run start from the same state first",
            "  trace:  .simloop/traces/test_increments-*.json",
            "  warning: this test's sync fixtures, which pytest makes once and all its schedules "
            "share: counter",
        ]
    )
    result.stdout.no_fnmatch_line("*plain bug*")
    assert replay_tokens(result) == set()


def test_the_progress_line_is_rewritten_in_place_and_cleared() -> None:
    from pytest_simloop.plugin import _ProgressLine

    class Writer:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    writer = Writer()
    line = _ProgressLine(writer, 10_000)
    line(1200, 0.5)
    line(2400, 1.0)
    assert writer.text.split("\r")[1:] == [
        "  simloop: 1,200 of 10,000 schedules, no failure yet, 2,400 schedules/s",
        "  simloop: 2,400 of 10,000 schedules, no failure yet, 2,400 schedules/s",
    ]
    line.clear()
    assert writer.text.endswith("\r" + " " * 71 + "\r")


# --- a broken scheduler or search is not the test's failure -------------------------------------


def test_a_broken_search_is_reported_as_such(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_broken=source(
            """
            import asyncio
            import pytest
            import simloop

            class Stubborn:
                def choose(self, point):
                    raise LookupError("cannot decide")

                def __repr__(self):
                    return "Stubborn()"

            class Hands(simloop.Search):
                def schedulers(self):
                    yield simloop.Fifo()
                    yield Stubborn()

                def __repr__(self):
                    return "Hands()"

            @pytest.mark.simloop(runs=5, search=Hands())
            async def test_two_steps():
                await asyncio.gather(asyncio.sleep(0), asyncio.sleep(0))
            """
        )
    )
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*raise LookupError("cannot decide")',
            "E       LookupError: cannot decide",
            "*The above exception was the direct cause of the following exception:*",
            "E   simloop.ExtensionError: scheduler Stubborn() raised LookupError: cannot "
            "decide answering a 'ready' choice among 2 options; that is a bug in the scheduler, "
            "not a failure of the program",
            "    simloop: the scheduler came from the search Hands()",
        ]
    )
    result.stdout.no_fnmatch_line("*_kernel.py*")
    result.stdout.no_fnmatch_line("*replay this exact run*")
    result.stdout.no_fnmatch_line("*- simloop -*")
    assert not (tester.path / ".simloop").exists()
