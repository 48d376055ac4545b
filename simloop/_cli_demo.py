"""``python -m simloop demo``: simloop's main job, on a bundled buggy program.

It runs the program in asyncio's own order (it passes), explores other interleavings until
one fails, shrinks the failing schedule to the fewest deviations from asyncio's order, shows
the interleaving, saves the trace, and prints the command that replays exactly that run.
"""

from __future__ import annotations

import inspect
import os
import shlex
import sys
from pathlib import Path

import attrs

from simloop._explore import explore, replay
from simloop._report import format_failure, interleaving_table
from simloop._runner import run
from simloop.demo import bank

_PROGRAM = bank.test_concurrent_withdraw_and_deposit


def _show_source() -> None:
    path = inspect.getsourcefile(bank)
    print(f"The program ({_display(path)}):\n")
    lines, _ = inspect.getsourcelines(bank.Bank)
    test_lines, _ = inspect.getsourcelines(_PROGRAM)
    for line in [*lines, "\n", *test_lines]:
        print("    " + line.rstrip())
    print()


def _display(path: str | None) -> str:
    if path is None:
        return "simloop/demo/bank.py"
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def run_demo(*, runs: int, seed: int, replay: str | None, artifacts: Path) -> int:
    if replay is not None:
        return _replay(replay)
    print("simloop demo: a lost update across an await\n")
    _show_source()

    print("1. In asyncio's own order (the Fifo scheduler), the test passes:")
    run(_PROGRAM())
    print("   simloop.run(test())  ->  ok\n")

    print(f"2. Exploring other interleavings: up to {runs} schedules of the default search...")
    result = explore(_PROGRAM, runs=runs, seed=seed)
    if not result.found:
        print(f"   no failure in {result.runs} schedules; try more with --runs")
        return 1
    assert result.recording is not None
    assert result.trace is not None
    trace_path = artifacts / f"demo-{result.recording.fingerprint()}.json"
    trace = attrs.evolve(
        result.trace,
        outcome={"kind": result.failure.kind, "summary": result.failure.summary()}
        if result.failure
        else None,
    )
    trace.save(trace_path)
    command = _replay_command(result.recording.token)
    print(
        f"   schedule {result.failing_run} failed after {result.seconds * 1000:.0f} ms "
        f"({result.runs} runs, {result.total_steps} steps)\n"
    )
    print("3. The report (the same one the pytest plugin shows):\n")
    report = format_failure(
        result, planned_runs=runs, replay_command=command, trace_path=str(trace_path)
    )
    print("\n".join("   " + line for line in report.splitlines()))
    print()
    if result.shrink is not None:
        print(f"   {result.shrink}.")
    print(
        "   The one deviation: deposit's audit write finished first, so withdraw wrote back\n"
        "   the balance it read before the deposit, and the deposit was lost.\n"
    )
    print("4. Replay that exact run (any process, any machine):")
    print(f"   {command}")
    print("   Step through it:")
    print(f"   python -m simloop trace {shlex.quote(str(trace_path))}")
    print("   Or from Python:")
    print(f"   simloop.replay(test, {result.recording.token!r})")
    return 0


def _replay_command(token: str) -> str:
    program = "python -m simloop" if sys.argv[0].endswith("__main__.py") else "simloop"
    return f"{program} demo --replay {token}"


def _replay(token: str) -> int:
    result = replay(_PROGRAM, token)
    if result.failure is None:
        print("the schedule passed: this token does not make the demo fail")
        return 1
    print(f"replayed {token}:")
    print(f"  {result.failure.summary()}")
    assert result.trace.events is not None
    print()
    for line in interleaving_table(result.trace.events, result.failure.step):
        print("  " + line)
    return 0
