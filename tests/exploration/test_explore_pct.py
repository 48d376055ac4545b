"""PCT and Portfolio: deterministic per seed, find shallow races fast, keep PCT's promise.

What PCT promises (see PCTScheduler): the ready task with the highest priority runs;
callbacks of no task run first; priorities are random and fixed, except that at ``depth - 1``
change points the task about to run drops below every other. So over a run, at most
``depth - 1`` tasks ever lose to a task they beat before: with ``depth=1``, whenever two tasks
are ready together the same one runs first, all run long.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import weakref
from typing import Any

import pytest
from explore_support import Watching, bank_race, drive, program_runner
from hypothesis import given
from hypothesis import strategies as st
from simprog_strategies import fast, programs, seeds

import simloop


def run_sequence(search: Any, desc: dict[str, Any], runs: int) -> list[tuple[str, list[int]]]:
    """The first ``runs`` schedulers of a search, and the choices each made on ``desc``."""
    run = program_runner(desc)
    made = []
    for scheduler in itertools.islice(search.schedulers(), runs):
        trace, _ = run(scheduler)
        search.run_finished(trace)
        made.append((repr(scheduler), trace.choices))
    return made


@fast(20)
@given(desc=programs(max_tasks=3, max_ops=3), seed=seeds, depth=st.integers(1, 3))
def test_pct_and_portfolio_are_deterministic_per_seed(
    desc: dict[str, Any], seed: int, depth: int
) -> None:
    first = run_sequence(simloop.PCT(depth, seed=seed), desc, 4)
    assert run_sequence(simloop.PCT(depth, seed=seed), desc, 4) == first
    assert [name for name, _ in first] == [f"PCT(depth={depth}, seed={seed + i})" for i in range(4)]
    portfolio = run_sequence(simloop.Portfolio(seed=seed), desc, 7)
    assert run_sequence(simloop.Portfolio(seed=seed), desc, 7) == portfolio


def test_the_portfolio_takes_turns() -> None:
    names = [repr(s) for s in itertools.islice(simloop.Portfolio(seed=100).schedulers(), 13)]
    assert names == [
        "RandomWalk(seed=100)",
        "PCT(depth=2, seed=100)",
        "RandomWalk(seed=102)",
        "PCT(depth=3, seed=100)",
        "RandomWalk(seed=104)",
        "PCT(depth=1, seed=100)",
        "RandomWalk(seed=106)",
        "PCT(depth=2, seed=101)",
        "RandomWalk(seed=108)",
        "PCT(depth=3, seed=101)",
        "RandomWalk(seed=110)",
        "PCT(depth=1, seed=101)",
        "RandomWalk(seed=112)",
    ]


def test_reprs() -> None:
    assert repr(simloop.PCT()) == "PCT(depth=3, seed=0)"
    assert repr(simloop.PCT(1, seed=9)) == "PCT(depth=1, seed=9)"
    assert repr(next(simloop.PCT(2, seed=9).schedulers())) == "PCT(depth=2, seed=9)"
    assert repr(simloop.Portfolio()) == "Portfolio(seed=0)"
    assert repr(simloop.Portfolio(seed=4)) == "Portfolio(seed=4)"
    assert repr(simloop.Exhaustive()) == "Exhaustive(max_deviations=2)"
    assert repr(simloop.Exhaustive(1, shard=(1, 4))) == "Exhaustive(max_deviations=1, shard=(1, 4))"
    assert repr(simloop.Exhaustive(1, timing=0)) == "Exhaustive(max_deviations=1, timing=0)"
    (root,) = itertools.islice(simloop.Exhaustive(1).schedulers(), 1)
    assert repr(root) == "the exhaustive search's schedule []"


@pytest.mark.parametrize(
    "search",
    [
        lambda seed: simloop.PCT(1, seed=seed),
        lambda seed: simloop.PCT(2, seed=seed),
        lambda seed: simloop.PCT(3, seed=seed),
        lambda seed: simloop.Portfolio(seed=seed),
    ],
    ids=["pct1", "pct2", "pct3", "portfolio"],
)
def test_a_depth_one_race_is_found_within_a_few_runs(search: Any) -> None:
    for seed in range(5):
        result = simloop.explore(bank_race, runs=15, search=search(seed))
        assert result.found, f"seed {seed}"
        assert result.failing_scheduler is not None
        assert result.failing_scheduler.startswith(("PCT(depth=", "RandomWalk(seed="))
        assert result.recording is not None
        assert result.recording.deviations == 1


def test_pct_depth_one_finds_a_depth_one_bug_with_probability_at_least_one_in_n() -> None:
    """bank_race has three tasks (main, withdraw, deposit) and fails when the deposit's
    priority is above the withdrawal's: each PCT(depth=1) run finds it with probability at
    least 1/3 (1/2, in fact)."""
    schedulers = itertools.islice(simloop.PCT(1).schedulers(), 200)
    failed = 0
    for scheduler in schedulers:
        try:
            simloop.run(bank_race(), scheduler=scheduler)
        except AssertionError:
            failed += 1
    assert failed >= 200 / 3


def beaten_then_beaten_by(watching: Watching) -> set[asyncio.Task[Any]]:
    """The tasks that ran ahead of a ready task, and later lost to that same task."""
    beat: set[tuple[int, int]] = set()
    losers = set()
    for owners, choice in watching.ready:
        winner = owners[choice]
        if winner is None or any(owner is None for owner in owners):
            continue  # a choice that involves plumbing (see plumbing_first)
        for other in owners:
            if other is winner:
                continue
            beat.add((id(winner), id(other)))
            if (id(other), id(winner)) in beat:
                losers.add(other)
    return losers


def plumbing_first(watching: Watching) -> bool:
    """Whether a callback of no task always ran when one was ready (PCT runs them first, as
    asyncio would: they are plumbing, a gather collecting results, a timer's callback)."""
    return all(owners[choice] is None for owners, choice in watching.ready if None in owners)


@fast(40)
@given(desc=programs(max_tasks=4, max_ops=3), seed=seeds, depth=st.integers(1, 3))
def test_pct_changes_at_most_depth_minus_one_priorities(
    desc: dict[str, Any], seed: int, depth: int
) -> None:
    run = program_runner(desc)
    search = simloop.PCT(depth, seed=seed, expected_steps=5)
    for scheduler in itertools.islice(search.schedulers(), 3):
        watching = Watching(scheduler)
        trace, _ = run(watching)  # type: ignore[arg-type]
        search.run_finished(trace)
        assert len(beaten_then_beaten_by(watching)) <= depth - 1
        assert plumbing_first(watching)
        # The search sizes its change points by the longest run so far.
        assert search.expected_steps >= len(trace.choices)


def test_the_watch_sees_priority_changes() -> None:
    """The check above can fail: a random walk lets tasks overtake each other at will."""
    desc = {"locks": 0, "queues": [], "events": 0, "tasks": [[["yield"]] * 4] * 3}
    run = program_runner(desc)
    changed = 0
    plumbing_overtaken = False
    for seed in range(10):
        watching = Watching(simloop.RandomWalk(seed))
        run(watching)  # type: ignore[arg-type]
        changed = max(changed, len(beaten_then_beaten_by(watching)))
        plumbing_overtaken |= not plumbing_first(watching)
    assert changed >= 2
    assert plumbing_overtaken


def test_every_pct_of_a_portfolio_learns_from_every_run() -> None:
    desc = {"locks": 0, "queues": [], "events": 0, "tasks": [[["yield"]] * 6] * 3}
    portfolio = simloop.Portfolio()
    runs = drive(_first(portfolio, 2), program_runner(desc))
    assert runs is not None
    longest = max(len(trace.choices) for _, trace, _ in runs)
    assert longest > 10  # more than the PCTs' initial estimate
    assert [pct.expected_steps for pct in portfolio._pcts.values()] == [longest] * 3


class _first:
    """The first ``count`` schedulers of a search (still telling it about each run)."""

    def __init__(self, search: Any, count: int) -> None:
        self.search = search
        self.count = count

    def schedulers(self) -> Any:
        return itertools.islice(self.search.schedulers(), self.count)

    def run_finished(self, trace: simloop.Trace) -> None:
        self.search.run_finished(trace)


@pytest.mark.parametrize("search", ["random", "pct:1", "pct:3", "portfolio", "exhaustive:2"])
def test_a_runs_tasks_are_freed_when_it_ends_without_the_collector(search: str) -> None:
    """A scheduler must not keep a run's tasks: the loop holds the scheduler and each task
    holds the loop, so a strong reference made every run a cycle of tasks, frames and loop
    that only the cyclic collector freed (PCT kept one per task it ranked), and every later
    run's all_tasks() and unretrieved-exception scans walked them all: the Portfolio ran a
    quarter slower than random walks on a 2-task program."""
    tasks: list[weakref.ref[asyncio.Task[Any]]] = []

    async def main() -> None:
        async def worker(lock: asyncio.Lock) -> None:
            async with lock:
                await asyncio.sleep(0)

        task = asyncio.current_task()
        assert task is not None
        tasks.append(weakref.ref(task))
        lock = asyncio.Lock()
        children = [asyncio.create_task(worker(lock)) for _ in range(3)]
        tasks.extend(weakref.ref(child) for child in children)
        await asyncio.gather(*children)

    gc.collect()
    gc.disable()
    try:
        result = simloop.explore(main, runs=12, search=search, seed=3)
        alive = [ref() for ref in tasks if ref() is not None]
    finally:
        gc.enable()
    assert not result.found
    assert len(tasks) >= 4 * 5
    assert alive == []


async def poll_for_a_flag_another_task_sets() -> int:
    """A poller that never blocks, waiting on a task that needs a turn: any real loop is fair
    enough to end this; strict priorities with the poller on top would starve the setter."""
    flag: list[bool] = []
    polls = 0

    async def setter() -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        flag.append(True)

    task = asyncio.create_task(setter())
    while not flag:
        await asyncio.sleep(0)
        polls += 1
    await task
    return polls


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_pct_never_starves_a_task_for_longer_than_a_real_loop_could(depth: int) -> None:
    result = simloop.explore(poll_for_a_flag_another_task_sets, runs=30, search=simloop.PCT(depth))
    assert not result.found, result.failure
    # Some schedules did put the poller first: the streak bound (1,000 wins) is what ended them.
    assert result.total_steps > 5_000
