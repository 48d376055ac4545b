"""``python -m simloop``: the demo of the README's quick start, its replay, ``trace`` and ``run``.

Each runs in a subprocess, as a user types it, in a fresh directory (the demo writes its trace
under ``.simloop/`` there).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import simloop


def simloop_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": "0", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "simloop", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    directory = tmp_path_factory.mktemp("demo")
    done = simloop_cli("demo", cwd=directory)
    assert done.returncode == 0, done.stdout + done.stderr
    return directory, done.stdout


def test_the_demo_finds_the_race_shrinks_it_and_says_how_to_replay_it(
    demo: tuple[Path, str],
) -> None:
    _, out = demo
    assert "1. In asyncio's own order (the Fifo scheduler), the test passes" in out
    assert "AssertionError: lost update: alice has 70, expected 120" in out
    assert re.search(r"shrunk from \d+ to 1 deviation from asyncio's order in \d+ replays", out)
    assert "<- ran ahead of withdraw" in out
    assert re.search(r"replay: python -m simloop demo --replay sl2-\S+", out)
    assert re.search(r"python -m simloop show \.simloop/demo-\w+\.json", out)
    # It shows how to debug: a session that watches the balance and finds the stale read.
    assert "5. Debug it:" in out
    assert re.search(r"python -m simloop debug \.simloop/demo-\w+\.json", out)
    assert "(simloop) watch bank.balances['alice']" in out
    assert "step 3: 100 -> 150" in out
    assert "step 4: 150 -> 70" in out
    assert "locals: self=<simloop.demo.bank.Bank>, account='alice', amount=30, balance=100" in out


def test_the_demos_replay_command_replays_the_failure(demo: tuple[Path, str]) -> None:
    directory, out = demo
    match = re.search(r"python -m simloop demo --replay (sl2-\S+)", out)
    assert match is not None
    replayed = simloop_cli("demo", "--replay", match.group(1), cwd=directory)
    assert replayed.returncode == 0, replayed.stderr
    assert "AssertionError: lost update: alice has 70, expected 120" in replayed.stdout
    assert "<- ran ahead of withdraw" in replayed.stdout


def test_the_demos_trace_file_prints_step_by_step(demo: tuple[Path, str]) -> None:
    directory, out = demo
    match = re.search(r"python -m simloop show (\.simloop/demo-\w+\.json)", out)
    assert match is not None
    printed = simloop_cli("show", match.group(1), cwd=directory)
    # `trace` is the old name of `show`.
    assert simloop_cli("trace", match.group(1), cwd=directory).stdout == printed.stdout
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert re.fullmatch(
        r"\.simloop/demo-\w+\.json: Replay\(\d+ choices\), seed \d+, \d+ steps, "
        r"1 deviation from asyncio's order, fingerprint \w+",
        lines[0],
    ), lines[0]
    assert lines[1] == (
        "outcome: exception: AssertionError: lost update: alice has 70, expected 120 "
        "(bank.py:38 in test_concurrent_withdraw_and_deposit)"
    )
    deviating = [line for line in lines if line.startswith("*")]
    assert len(deviating) == 1
    assert "deposit" in deviating[0]


def test_run_runs_an_unmodified_script_in_virtual_time(tmp_path: Path) -> None:
    script = tmp_path / "hour.py"
    script.write_text(
        "import asyncio, datetime, time\n"
        "\n"
        "async def main():\n"
        "    await asyncio.sleep(3600)\n"
        "    now = datetime.datetime.now(datetime.UTC).isoformat()\n"
        "    print(asyncio.get_running_loop().time(), time.time(), now)\n"
        "\n"
        "asyncio.run(main())\n",
        encoding="utf-8",
    )
    done = simloop_cli("run", str(script), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "3600.0 946688400.0 2000-01-01T01:00:00+00:00\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("trace", "missing.json"), "simloop: missing.json: no such trace file\n"),
        (("demo", "--replay", "garbage"), "simloop: 'garbage' is neither a replay token nor"),
        ((), "the following arguments are required: COMMAND"),
    ],
)
def test_bad_input_is_a_usage_error_with_a_message(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = simloop_cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def _demo_trace(demo: tuple[Path, str]) -> tuple[Path, str]:
    directory, out = demo
    match = re.search(r"python -m simloop show (\.simloop/demo-\w+\.json)", out)
    assert match is not None
    return directory, match.group(1)


def test_show_filters_by_task_and_steps_and_counts_what_it_leaves_out(
    demo: tuple[Path, str],
) -> None:
    directory, trace = _demo_trace(demo)
    shown = simloop_cli("show", trace, "--task", "withdraw", cwd=directory)
    assert shown.returncode == 0, shown.stderr
    rows = [line for line in shown.stdout.splitlines() if re.match(r"[ *][ >]\s+\d+ ", line)]
    assert rows
    assert all("withdraw resumed" in row for row in rows)
    assert re.search(r"\.\.\. \d+ steps of other tasks left out", shown.stdout)
    window = simloop_cli("show", trace, "--steps", "2:3", cwd=directory)
    numbers = [int(m) for m in re.findall(r"^[ *][ >]\s+(\d+) ", window.stdout, re.MULTILINE)]
    assert numbers == [2, 3]
    assert "  ... 2 earlier steps" in window.stdout
    assert "program: simloop.demo.bank:test_concurrent_withdraw_and_deposit" in window.stdout


def test_replay_reruns_the_traces_program_and_says_it_fails_the_same_way(
    demo: tuple[Path, str],
) -> None:
    directory, trace = _demo_trace(demo)
    done = simloop_cli("replay", trace, cwd=directory)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        f"{trace}: fails the same way: AssertionError: lost update: alice has 70, expected 120"
    )
    assert "raised AssertionError" in done.stdout


def test_debug_reads_commands_from_stdin_with_the_loop_alive(demo: tuple[Path, str]) -> None:
    directory, trace = _demo_trace(demo)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "simloop", "debug", trace],
        cwd=directory,
        env=env,
        input="goto 3\nprint bank.balances\nwatch bank.balances['alice']\nquit\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "step 3 · t=0s · deposit resumed at bank.py:18 in record → finished" in done.stdout
    assert "{'alice': 150}" in done.stdout
    assert "step 4: 150 -> 70" in done.stdout


def test_diff_names_the_first_differing_step(demo: tuple[Path, str], tmp_path: Path) -> None:
    directory, trace = _demo_trace(demo)
    same = simloop_cli("diff", trace, trace, cwd=directory)
    assert same.returncode == 0
    assert same.stdout.startswith("the same run: fingerprint ")
    script = tmp_path / "fifo.py"
    script.write_text(
        "import simloop\n"
        "from simloop.demo import bank\n"
        "t = simloop.replay(bank.test_concurrent_withdraw_and_deposit, "
        "simloop.Trace.from_token(simloop.Trace(choices=[], options=[], steps=0, "
        "start_time_ns=0, end_time_ns=0, seed=None, scheduler='Fifo()').token)).trace\n"
        "t.save('fifo.json')\n",
        encoding="utf-8",
    )
    made = subprocess.run(
        [sys.executable, str(script)], cwd=directory, capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr
    differ = simloop_cli("diff", trace, "fifo.json", cwd=directory)
    assert differ.returncode == 1
    assert "the schedules differ at choice" in differ.stdout
    assert "the runs first differ at step 3:" in differ.stdout
    assert f"  {trace}: deposit resumed at bank.py:18 in record" in differ.stdout
    assert "  fifo.json: withdraw resumed at bank.py:18 in record" in differ.stdout


def test_export_writes_html_and_perfetto_json(demo: tuple[Path, str]) -> None:
    directory, trace = _demo_trace(demo)
    html = simloop_cli("export", trace, "--format", "html", "-o", "out/run.html", cwd=directory)
    assert html.returncode == 0, html.stderr
    page = (directory / "out/run.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page
    assert "https://" not in page
    perfetto = simloop_cli("export", trace, "--format", "perfetto", "-o", "run.json", cwd=directory)
    assert perfetto.returncode == 0, perfetto.stderr
    data = json.loads((directory / "run.json").read_text(encoding="utf-8"))
    names = {e["args"]["name"] for e in data["traceEvents"] if e.get("name") == "thread_name"}
    assert {"withdraw", "deposit"} <= names
    slices = [e for e in data["traceEvents"] if e["ph"] == "X"]
    assert [e["args"]["step"] for e in slices] == list(range(len(slices)))
    assert sum(1 for e in slices if e.get("cat") == "deviation") == 1


@pytest.mark.parametrize(
    "command",
    [("show",), ("trace",), ("replay",), ("debug",), ("export", "--format", "html", "-o", "x")],
)
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such trace file"),
        ("{not json", "corrupt or truncated trace file"),
        ('{"format": "other"}', 'not a simloop trace (no "format": "simloop-trace" field)'),
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        ('{"format": "simloop-trace", "version": 1' + "0" * 5000 + "}", "corrupt trace file"),
    ],
)
def test_every_command_answers_a_bad_trace_with_one_line_and_status_2(
    tmp_path: Path, command: tuple[str, ...], content: str | None, message: str
) -> None:
    path = tmp_path / "t.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    name, *rest = command
    done = simloop_cli(name, str(path), *rest, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    done = simloop_cli("show", str(fifo), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"simloop: {fifo}: not a simloop trace (not a regular file)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "missing.py"), "simloop: missing.py: no such script\n"),
        (("run", "."), "simloop: .: not a script (a directory or a special file)\n"),
        (("demo", "--artifacts", "blocker/sub"), "simloop: --artifacts blocker/sub: cannot write"),
    ],
)
def test_cli_inputs_that_ended_in_tracebacks(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be", encoding="utf-8")
    done = simloop_cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(message)
    assert "Traceback" not in done.stderr


def test_a_trace_without_its_program_asks_for_one(tmp_path: Path) -> None:
    trace = simloop.Trace(
        choices=[], options=[], steps=0, start_time_ns=0, end_time_ns=0, seed=None,
        scheduler="Fifo()",
    )  # fmt: skip
    trace.save(tmp_path / "t.json")
    done = simloop_cli("replay", "t.json", cwd=tmp_path)
    assert done.returncode == 2
    assert "give it with --program MODULE:FUNCTION" in done.stderr
    bad = simloop_cli("replay", "t.json", "--program", "no_such_module:main", cwd=tmp_path)
    assert bad.returncode == 2
    assert "cannot import 'no_such_module'" in bad.stderr


def test_a_trace_saved_from_explore_replays_from_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "racy.py").write_text(
        "import asyncio\n"
        "\n"
        "async def main():\n"
        "    state = {'n': 0}\n"
        "    async def bump():\n"
        "        n = state['n']\n"
        "        await asyncio.sleep(0)\n"
        "        state['n'] = n + 1\n"
        "    await asyncio.gather(bump(), bump())\n"
        "    assert state['n'] == 2, 'lost update'\n",
        encoding="utf-8",
    )
    (tmp_path / "find.py").write_text(
        "import simloop, racy\n"
        "result = simloop.explore(racy.main, runs=5)\n"
        "print(result.trace.program)\n"
        "result.trace.save('race.json')\n",
        encoding="utf-8",
    )
    found = subprocess.run(
        [sys.executable, "find.py"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert found.stdout == "{'kind': 'function', 'target': 'racy:main'}\n", found.stderr
    done = simloop_cli("replay", "race.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("race.json: fails the same way: AssertionError: lost update")


def test_replay_saves_a_trace_with_every_steps_await_chain(demo: tuple[Path, str]) -> None:
    directory, trace = _demo_trace(demo)
    done = simloop_cli("replay", trace, "--save", "chains.json", "--chains", cwd=directory)
    assert done.returncode == 0, done.stderr
    saved = simloop.Trace.load(directory / "chains.json")
    assert saved.events is not None
    withdraw_start = saved.events[1]
    assert withdraw_start.label == "withdraw"
    assert withdraw_start.chain is not None
    assert withdraw_start.chain[:2] == ("bank.py:23 in withdraw", "bank.py:18 in record")
    assert withdraw_start.chain[-1] == "ready to run"
    shown = simloop_cli("show", "chains.json", "--steps", "1:1", cwd=directory)
    assert "chain: bank.py:23 in withdraw > bank.py:18 in record > " in shown.stdout
    refused = simloop_cli("replay", trace, "--chains", cwd=directory)
    assert refused.returncode == 2
    assert "give --save" in refused.stderr
