"""``python -m simloop``: the demo of the README's quick start, its replay, ``trace`` and ``run``.

Each runs in a subprocess, as a user types it, in a fresh directory (the demo writes its trace
under ``.simloop/`` there).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


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
    assert re.search(r"python -m simloop trace \.simloop/demo-\w+\.json", out)


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
    match = re.search(r"python -m simloop trace (\.simloop/demo-\w+\.json)", out)
    assert match is not None
    printed = simloop_cli("trace", match.group(1), cwd=directory)
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
