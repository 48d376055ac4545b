"""``python -m simloop demo``: simloop's main job, on a bundled buggy program.

It runs the program in asyncio's own order (it passes), explores other interleavings until
one fails, shrinks the failing schedule to the fewest deviations from asyncio's order, shows
the interleaving, saves the trace, and prints the command that replays exactly that run.
"""

from __future__ import annotations

import inspect
import io
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import attrs

from simloop._debug import debug
from simloop._errors import InvalidArgumentError
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


#: The demo program's entry point, as a trace records it (``simloop replay`` runs it).
ENTRY = {"kind": "function", "target": f"{bank.__name__}:{_PROGRAM.__name__}"}


def run_demo(*, runs: int, seed: int, replay: str | None, artifacts: Path) -> int:
    if replay is not None:
        return _replay(replay)
    _check_writable(artifacts)
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
        program=ENTRY,
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
    quoted = shlex.quote(str(trace_path))
    print("4. Replay that exact run (any process, any machine):")
    print(f"   {command}")
    print(f"   {_program()} replay {quoted}")
    print("   Or from Python:")
    print(f"   simloop.replay(test, {result.recording.token!r})\n")
    print("5. Debug it: re-execute the run and stop at any step, with the loop alive. Here,")
    print("   where the balance changed, then the tasks just before the lost write:\n")
    schedule = result.recording
    events = simloop_replay_events(schedule)
    lost = _lost_write_step(events)
    commands = ["watch bank.balances['alice']", f"goto {lost - 1}", "tasks", "quit"]
    out = io.StringIO()
    debug(_PROGRAM, schedule, commands=commands, out=out)
    for line in out.getvalue().splitlines()[1:]:
        if "(library)" in line or "taskgroups.py" in line:
            continue  # asyncio's own frames: noise in a demo
        print("   " + line)
    print()
    print("   withdraw still holds balance=100, read before the deposit: its next step writes")
    print("   100 - 30 over the 150 the deposit left. Try it yourself (`help` lists commands):")
    print(f"   {_program()} debug {quoted}")
    print(f"   {_program()} show {quoted}")
    return 0


def _program() -> str:
    return "python -m simloop" if sys.argv[0].endswith("__main__.py") else "simloop"


def simloop_replay_events(schedule: Any) -> list[Any]:
    return list(replay(_PROGRAM, schedule).trace.events or ())


def _lost_write_step(events: list[Any]) -> int:
    """The step where withdraw writes back its stale balance (it finishes there)."""
    for step in events:
        if step.label == "withdraw" and step.suspended_at == "finished":
            return int(step.index)
    return 1


def _check_writable(artifacts: Path) -> None:
    """Refuse an artifacts directory that cannot be written, before any work."""
    probe = artifacts / ".simloop-write-test"
    try:
        artifacts.mkdir(parents=True, exist_ok=True)
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as error:
        msg = f"--artifacts {artifacts}: cannot write there ({error.strerror or error})"
        raise InvalidArgumentError(msg) from None


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
