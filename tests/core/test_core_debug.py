"""The time-travel debugger, driven through its command interface on programs whose answers
are known: where a lost update happens, who holds which lock in a deadlock, which step runs
at which virtual time."""

from __future__ import annotations

import asyncio
import io
import os
import re
from typing import Any

import pytest
from core_support import line_of

import simloop

# --- programs with known answers -----------------------------------------------------------


class Account:
    def __init__(self) -> None:
        self.balance = 100

    def __repr__(self) -> str:
        return f"Account({self.balance})"


async def transfer(account: Account, amount: int) -> None:
    balance = account.balance
    await asyncio.sleep(0)  # the await that lets another transfer in
    account.balance = balance + amount


async def lost_update() -> None:
    account = Account()
    await asyncio.gather(transfer(account, 10), transfer(account, 20))
    assert account.balance == 130, f"lost update: {account.balance}"


async def deadlock() -> None:
    a, b = asyncio.Lock(), asyncio.Lock()

    async def take(first: asyncio.Lock, second: asyncio.Lock) -> None:
        async with first:
            await asyncio.sleep(0.5)
            async with second:
                pass

    async with asyncio.TaskGroup() as group:
        group.create_task(take(a, b), name="ab")
        group.create_task(take(b, a), name="ba")


async def ticking() -> None:
    async def tick(name: str, period: float) -> None:
        for _ in range(3):
            await asyncio.sleep(period)

    await asyncio.gather(
        asyncio.create_task(tick("fast", 1), name="fast"),
        asyncio.create_task(tick("slow", 2.5), name="slow"),
    )


async def counting() -> None:
    counter = {"n": 0}
    simloop.watch("n", lambda: counter["n"])

    async def bump() -> None:
        for _ in range(3):
            counter["n"] += 1
            await asyncio.sleep(1)

    await asyncio.gather(bump(), bump())


def failing_schedule(main: Any) -> simloop.Trace:
    result = simloop.explore(main, runs=200)
    assert result.found, "the program must fail under some schedule"
    assert result.recording is not None
    return result.recording


def session(main: Any, recording: Any, commands: list[str], **kwargs: Any) -> str:
    out = io.StringIO()
    simloop.debug(main, recording, commands=commands, out=out, **kwargs)
    return out.getvalue()


def fifo_recording(main: Any) -> simloop.Trace:
    return simloop.replay(main, simloop.Trace.from_token(simloop.Trace(
        choices=[], options=[], steps=0, start_time_ns=0, end_time_ns=0, seed=None,
        scheduler="Fifo()").token)).trace  # fmt: skip


# --- stopping and moving ----------------------------------------------------------------------


def test_stops_at_the_failure_and_names_it() -> None:
    output = session(lost_update, failing_schedule(lost_update), ["quit"])
    first, header = output.splitlines()[:2]
    assert first.startswith("simloop debug: ")
    assert "fails at step" in first
    assert "AssertionError: lost update: " in first
    assert header.startswith("step ")
    assert "raised AssertionError" in header
    assert "failure: AssertionError: lost update:" in header


def test_watch_finds_the_step_of_the_lost_update() -> None:
    recording = failing_schedule(lost_update)
    output = session(lost_update, recording, ["watch account.balance", "quit"])
    changes = re.findall(r"step (\d+): (\d+) -> (\d+)", output)
    # Both transfers read 100; the one that writes last overwrites the other's write.
    assert [(old, new) for _, old, new in changes] in (
        [("100", "110"), ("110", "120")],
        [("100", "120"), ("120", "110")],
    )
    lost_at = int(changes[1][0])
    # At that step, the transfer that wrote last resumed at the write after its await.
    timeline = session(lost_update, recording, [f"goto {lost_at}", "quit"])
    assert f"step {lost_at} · t=0s · " in timeline
    assert f"resumed at test_core_debug.py:{line_of(transfer, 'await asyncio.sleep(0)')}" in (
        timeline
    )


def test_back_goto_step_and_next_land_on_the_steps_they_say() -> None:
    recording = failing_schedule(lost_update)
    output = session(
        lost_update, recording, ["goto 1", "step", "step 2", "back 2", "back", "next", "quit"]
    )
    headers = [int(m) for m in re.findall(r"^step (\d+) · ", output, re.MULTILINE)]
    # failure, goto 1, step, step 2, back 2, back, then next (the same task's next step).
    assert headers[1:6] == [1, 2, 4, 2, 1]
    events = simloop.replay(lost_update, recording).trace.events
    assert events is not None
    task_of_1 = events[1].task_id
    expected_next = next(s.index for s in events[2:] if s.task_id == task_of_1)
    assert headers[6] == expected_next


def test_going_back_re_executes_the_run_each_time() -> None:
    out = io.StringIO()
    recording = failing_schedule(lost_update)
    names_at_stops: list[list[str]] = []
    commands = iter(["back", "back", "quit"])

    def next_command() -> str | None:
        # Called at the stop, inside the run: the loop is alive and its tasks are real.
        loop = asyncio.get_running_loop()
        assert isinstance(loop, simloop.SimLoop)
        names_at_stops.append(sorted(t.get_name() for t in asyncio.all_tasks()))
        return next(commands, None)

    simloop.debug(lost_update, recording, commands=next_command, out=out)
    assert len(names_at_stops) == 3
    assert all(names for names in names_at_stops[1:]), "earlier steps have live tasks"


def test_goto_virtual_time_and_until_task() -> None:
    recording = fifo_recording(ticking)
    output = session(ticking, recording, ["goto t=2.5", "until task=fast", "quit"], stop_at=0)
    headers = re.findall(r"^step (\d+) · t=(\S+) · (.*)$", output, re.MULTILINE)
    assert headers[0][:2] == ("0", "0s")
    # The first step at t >= 2.5 s is the slow ticker's wake-up timer (or its task step).
    assert headers[1][1] == "2.5s"
    assert headers[2][1] == "3s"
    assert "fast resumed" in headers[2][2]


def test_tasks_at_a_deadlock_shows_both_lock_holders() -> None:
    recording = fifo_recording(deadlock)
    output = session(deadlock, recording, ["tasks", "quit"])
    assert "DeadlockError" in output.splitlines()[0]
    # Both locks are `second` to the task waiting on it: numbered, they are told apart.
    made = f"(created at tests/core/test_core_debug.py:{line_of(deadlock, 'asyncio.Lock()')} in "
    assert f"ab  waiting: waits on Lock #2 `second` {made}deadlock), held by 'ba'" in output
    assert f"ba  waiting: waits on Lock #1 `second` {made}deadlock), held by 'ab'" in output
    take_line = line_of(deadlock, "async with second:")
    assert f"test_core_debug.py:{take_line} in take" in output
    # Locals of each frame of the chain, and asyncio's frames marked as such.
    assert "locals: first=<asyncio.locks.Lock [locked" in output
    assert "(library)" in output


def test_line_breakpoint_with_a_condition_stops_inside_the_step() -> None:
    recording = failing_schedule(lost_update)
    line = line_of(transfer, "account.balance = balance + amount")
    output = session(
        lost_update,
        recording,
        [
            "goto 0",
            f"break test_core_debug.py:{line} if amount == 20",
            "continue",
            "print amount, balance",
            "locals",
            "where",
            "step",
            "quit",
        ],
    )
    assert f"stopped at test_core_debug.py:{line} in transfer · breakpoint 1" in output
    assert "(20, 100)" in output
    assert "  account = Account(100)" in output or "  account = Account(110)" in output
    assert f"{line} ->     account.balance = balance + amount" in output


def test_pdb_in_the_current_frame_with_the_loop_alive() -> None:
    recording = failing_schedule(lost_update)
    line = line_of(transfer, "account.balance = balance + amount")
    output = session(
        lost_update,
        recording,
        [
            "goto 0",
            f"break test_core_debug.py:{line}",
            "continue",
            "pdb",
            "p balance + amount",
            "p type(__import__('asyncio').get_running_loop()).__name__",
            "c",
            "quit",
        ],
    )
    assert "(Pdb) p balance + amount" in output
    assert re.search(r"^1[12]0$", output, re.MULTILINE)
    assert "'SimLoop'" in output


def test_until_an_expression_holds_and_until_it_changes() -> None:
    recording = fifo_recording(counting)
    output = session(counting, recording, ["until counter['n'] >= 4", "print counter['n']",
                                           "until change counter['n']", "print counter['n']",
                                           "quit"], stop_at=0)  # fmt: skip
    values = re.findall(r"^(\d+)$", output, re.MULTILINE)
    assert values == ["4", "5"]


def test_simloop_watch_values_are_recorded_per_step() -> None:
    trace = simloop.replay(counting, fifo_recording(counting)).trace
    assert trace.events is not None
    changes = [(s.index, s.watched) for s in trace.events if s.watched]
    assert [w["n"] for _, w in changes if w] == ["0", "1", "2", "3", "4", "5", "6"]
    output = session(counting, trace, ["watch", "quit"], stop_at=0)
    assert "  step 0: n = 0" in output


def test_bad_commands_say_so_and_the_session_goes_on() -> None:
    recording = failing_schedule(lost_update)
    output = session(
        lost_update,
        recording,
        ["frobnicate", "frob nicate", "print no_such_name", "goto t=x", "break x", "quit"],
    )
    assert "*** unknown command or name 'frobnicate': type `help` for the commands" in output
    assert "*** unknown command 'frob': type `help` for the commands" in output
    assert "*** NameError: name 'no_such_name' is not defined" in output
    assert "*** not a virtual time: 'x' (seconds, e.g. t=2.5)" in output
    assert "*** a breakpoint is FILE:LINE [if CONDITION], not 'x'" in output


def test_debug_checks_its_arguments() -> None:
    with pytest.raises(simloop.InvalidArgumentError, match="pass `main`, not `main\\(\\)`"):
        simloop.debug(lost_update(), "sl2-x")  # type: ignore[arg-type]
    with pytest.raises(simloop.InvalidArgumentError, match="`recording` must be"):
        simloop.debug(lost_update, 42)  # type: ignore[arg-type]
    with pytest.raises(simloop.InvalidArgumentError, match="`stop_at` must be"):
        session(lost_update, failing_schedule(lost_update), ["quit"], stop_at=1.5)


def test_end_of_commands_quits_and_leaves_nothing_behind() -> None:
    before = set(os.environ)
    output = session(lost_update, failing_schedule(lost_update), [])
    assert output.count("\nstep ") == 1
    assert set(os.environ) == before


def test_stop_at_a_line_an_expression_a_change_or_a_predicate() -> None:
    recording = failing_schedule(lost_update)
    line = line_of(transfer, "account.balance = balance + amount")
    at_line = session(
        lost_update,
        recording,
        ["print amount", "quit"],
        stop_at=f"line test_core_debug.py:{line} if amount == 20",
    )
    assert f"stopped at test_core_debug.py:{line} in transfer · breakpoint 1" in at_line
    assert "(simloop) print amount\n20\n" in at_line

    counting_trace = fifo_recording(counting)
    holds = session(
        counting, counting_trace, ["print counter['n']", "quit"], stop_at="counter['n'] == 3"
    )
    assert "counter['n'] == 3 holds" in holds
    assert "(simloop) print counter['n']\n3\n" in holds

    changed = session(counting, counting_trace, ["quit"], stop_at="change counter['n']")
    assert "counter['n'] changed: 0 -> 1" in changed

    calls: list[int] = []

    def predicate() -> bool:
        calls.append(1)
        return len(asyncio.all_tasks()) == 3  # the main task and both bumps

    predicate_stop = session(counting, counting_trace, ["quit"], stop_at=predicate)
    assert "the predicate holds" in predicate_stop
    assert calls


def test_until_change_of_a_recorded_watch_label_uses_the_recording() -> None:
    output = session(counting, fifo_recording(counting), ["until change n", "quit"], stop_at=0)
    assert re.search(r"^step \d+ · .* · n changed to 1$", output, re.MULTILINE)


def test_until_line_stops_inside_the_step_that_reaches_it() -> None:
    recording = failing_schedule(lost_update)
    line = line_of(transfer, "account.balance = balance + amount")
    output = session(
        lost_update, recording, ["goto 0", f"until line test_core_debug.py:{line}", "quit"]
    )
    assert f"stopped at test_core_debug.py:{line} in transfer · breakpoint 1" in output
    assert "(simloop) break" not in output  # a one-shot stop, not a breakpoint left set
