"""Programs and helpers shared by the tests in tests/exploration (a plain module, not a conftest).

* hand-written programs with known races (``bank_race`` needs exactly one deviation);
* mains for :func:`simloop.explore` built from generated program descriptions (simprog.py),
  with checks on their observable log that some schedules break;
* a brute-force enumeration of every schedule of a program (a depth-first search over choice
  sequences with :class:`simloop.Replay`, and no reduction), to hold the searches against;
* schedulers that watch what another scheduler decides.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import attrs
from hypothesis import assume
from hypothesis import strategies as st
from simprog import Description, ProgramRun, run_sim
from simprog_strategies import programs, seeds, variations

import simloop

Main = Callable[[], Coroutine[Any, Any, Any]]
Log = list[list[Any]]

# --- hand-written programs -----------------------------------------------------------------


async def bank_race() -> None:
    """A lost update that needs exactly one deviation from asyncio's order.

    In asyncio's order the withdrawal reads and writes the balance before the deposit's
    second step; the failure needs the deposit's second step to run ahead of the withdrawal's.
    """
    account = {"balance": 100}

    async def withdraw(amount: int) -> None:
        balance = account["balance"]
        await asyncio.sleep(0)  # write to the ledger first
        account["balance"] = balance - amount

    async def deposit(amount: int) -> None:
        await asyncio.sleep(0)
        account["balance"] += amount

    await asyncio.gather(withdraw(10), deposit(5))
    assert account["balance"] == 95, f"lost update: balance {account['balance']}"


async def bank_fixed() -> None:
    """``bank_race`` with the read-modify-write under a lock: no schedule fails."""
    account = {"balance": 100}
    lock = asyncio.Lock()

    async def withdraw(amount: int) -> None:
        async with lock:
            balance = account["balance"]
            await asyncio.sleep(0)
            account["balance"] = balance - amount

    async def deposit(amount: int) -> None:
        await asyncio.sleep(0)
        async with lock:
            account["balance"] += amount

    await asyncio.gather(withdraw(10), deposit(5))
    assert account["balance"] == 95, f"lost update: balance {account['balance']}"


def line_of(func: Callable[..., Any], text: str) -> int:
    """The line number of the only line of ``func``'s source that contains ``text``."""
    lines, first = inspect.getsourcelines(func)
    found = [first + i for i, line in enumerate(lines) if text in line]
    assert len(found) == 1, f"{text!r} is on lines {found} of {func.__qualname__}"
    return found[0]


def location(func: Callable[..., Any], text: str) -> str:
    """How a failure's ``location`` names the line of ``func`` that contains ``text``."""
    name = os.path.basename(func.__code__.co_filename)
    return f"{name}:{line_of(func, text)} in {func.__code__.co_name}"


# --- schedules ------------------------------------------------------------------------------


def schedule(choices: Sequence[int]) -> simloop.Trace:
    """A recording of just these choices (no seed, default loop settings)."""
    return simloop.Trace(
        choices=list(choices),
        options=[0] * len(choices),
        steps=0,
        start_time_ns=0,
        end_time_ns=0,
        seed=None,
        scheduler="",
    )


def trimmed(choices: Sequence[int]) -> tuple[int, ...]:
    """A schedule without its trailing zeros (past its end, every answer is 0 anyway)."""
    schedule = list(choices)
    while schedule and schedule[-1] == 0:
        schedule.pop()
    return tuple(schedule)


def deviations(choices: Sequence[int]) -> int:
    return sum(1 for c in choices if c)


class ChoiceLog(simloop.Instrument):
    """Notes every choice a loop makes: ``(kind, options, choice)``."""

    def __init__(self) -> None:
        self.choices: list[tuple[str, int, int]] = []

    def choice_made(
        self, loop: simloop.SimLoop, point: simloop.lowlevel.ChoicePoint, choice: int
    ) -> None:
        self.choices.append((point.kind, point.n, choice))


def task_of(handle: asyncio.Handle) -> asyncio.Task[Any] | None:
    return simloop.lowlevel.task_of(handle)


class Watching:
    """A scheduler that lets ``inner`` decide, noting at each READY choice the task (or
    ``None``, for a callback of no task) behind each option, and the option taken."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.ready: list[tuple[list[asyncio.Task[Any] | None], int]] = []
        self._loop: simloop.SimLoop | None = None

    @property
    def seed(self) -> int | None:
        return getattr(self.inner, "seed", None)

    def bind(self, loop: simloop.SimLoop) -> None:
        self._loop = loop
        bind = getattr(self.inner, "bind", None)
        if bind is not None:
            bind(loop)

    def choose(self, point: simloop.lowlevel.ChoicePoint) -> int:
        owners = None
        if point.kind == "ready":
            owners = [task_of(handle) for handle in point.option_handles()]
            assert len(owners) == point.n
        choice: int = self.inner.choose(point)
        if owners is not None:
            self.ready.append((owners, choice))
        return choice

    def __repr__(self) -> str:
        return repr(self.inner)


# --- brute force ----------------------------------------------------------------------------

#: ``run(scheduler)`` runs the program once under ``scheduler`` and returns its trace and
#: whatever the test compares between runs (an outcome).
Runner = Callable[[simloop.Scheduler], tuple[simloop.Trace, Any]]


def enumerate_schedules(
    run: Runner, *, max_deviations: int | None = None, cap: int = 10_000
) -> list[tuple[tuple[int, ...], Any]] | None:
    """Every schedule of a deterministic program, by brute force: ``(schedule, outcome)`` each.

    Depth first over choice sequences: each run replays a prefix, then takes option 0; every
    other option of every later choice is a new prefix. No choice is skipped. With
    ``max_deviations``, only the schedules with at most that many non-zero choices. ``None``
    if there are more than ``cap``.
    """
    found: list[tuple[tuple[int, ...], Any]] = []
    stack: list[list[int]] = [[]]
    while stack:
        prefix = stack.pop()
        trace, outcome = run(simloop.Replay(prefix))
        assert trace.choices[: len(prefix)] == prefix, "the program is not deterministic"
        found.append((trimmed(trace.choices), outcome))
        if len(found) > cap:
            return None
        if max_deviations is not None and deviations(prefix) >= max_deviations:
            continue
        for index in range(len(prefix), len(trace.options)):
            for option in range(1, trace.options[index]):
                stack.append([*trace.choices[:index], option])
    return found


def drive(
    search: Any, run: Runner, *, cap: int = 10_000
) -> list[tuple[Any, simloop.Trace, Any]] | None:
    """Run a search as explore does, without stopping at failures: ``(scheduler, trace,
    outcome)`` per reported run (probes left out). ``None`` if it makes more than ``cap``."""
    runs: list[tuple[Any, simloop.Trace, Any]] = []
    for scheduler in search.schedulers():
        trace, outcome = run(scheduler)
        search.run_finished(trace)
        if not getattr(scheduler, "probe", False):
            runs.append((scheduler, trace, outcome))
        if len(runs) > cap:
            return None
    return runs


def program_runner(desc: Description, **loop_options: Any) -> Runner:
    """Runs a generated program; its outcome is its observable log (deadlocks included).

    Exceptions nobody retrieved are only logged: a simloop bug (see test_explore_bugs.py)
    reports some that a ``gather`` does retrieve, and these runs are about outcomes.
    """

    options = {"fail_on_unhandled": False, **loop_options}

    def run(scheduler: simloop.Scheduler) -> tuple[simloop.Trace, str]:
        outcome = run_sim(desc, scheduler=scheduler, **options)
        assert outcome.trace is not None
        return outcome.trace, json.dumps(outcome.observable(), sort_keys=True)

    return run


# --- generated programs with a check ---------------------------------------------------------

#: A log entry without its time, numbered by how many equal entries came before it.
Entry = tuple[str, int]


def entries(log: Log) -> list[Entry]:
    seen: dict[str, int] = {}
    keyed = []
    for item in log:
        text = json.dumps(item[:-1])
        seen[text] = seen.get(text, 0) + 1
        keyed.append((text, seen[text]))
    return keyed


def ordered_main(desc: Description, first: Entry, then: Entry) -> Main:
    """``main`` for explore: run the program, then check that if ``then`` happened, ``first``
    happened before it. (A deadlock fails the run too, with DeadlockError.)"""

    async def main() -> None:
        run = ProgramRun(desc)
        await run.main()
        logged = entries(run.log)
        if then in logged:
            assert first in logged[: logged.index(then)], f"{then} before {first}"

    return main


@attrs.frozen
class Case:
    """A generated program with a check that the random walk seeded ``seed`` breaks (and
    asyncio's order keeps), on loops made with ``options``."""

    desc: Description
    main: Main
    seed: int
    options: dict[str, Any]


@st.composite
def broken_orders(draw: st.DrawFn, *, vary: bool = False, **program_options: Any) -> Case:
    """A generated program, with a check (see :func:`ordered_main`) that asyncio's order
    passes and the random walk with the drawn seed breaks. With ``vary``, the loops shuffle
    or jitter timers too, as drawn."""
    desc = draw(programs(**program_options))
    seed = draw(seeds)
    options: dict[str, Any] = draw(variations) if vary else {}
    fifo = entries(run_sim(desc).log)
    other = entries(run_sim(desc, seed=seed, **options).log)
    where = {entry: i for i, entry in enumerate(other)}
    broken = [
        (a, b)
        for i, a in enumerate(fifo)
        for b in fifo[i + 1 :]
        if a in where and b in where and where[b] < where[a]
    ]
    assume(broken)
    first, then = draw(st.sampled_from(broken))
    return Case(desc, ordered_main(desc, first, then), seed, options)


def without_blocking(desc: Description) -> Description:
    """The program without queue and event ops: nothing in it can deadlock."""

    def keep(ops: list[Any]) -> list[Any]:
        kept = []
        for op in ops:
            if op[0] in ("put", "get", "set", "clear", "wait"):
                continue
            if op[0] == "lock":
                op = ["lock", op[1], keep(op[2])]
            elif op[0] in ("group", "gather"):
                op = [op[0], [keep(child) for child in op[1]]]
            kept.append(op)
        return kept

    return {
        "locks": desc["locks"],
        "queues": [],
        "events": 0,
        "tasks": [keep(ops) for ops in desc["tasks"]],
    }
