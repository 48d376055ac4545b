"""Exhaustive: its reduction is sound, its bound holds, its proof is earned, its shards partition.

Held against a brute-force enumeration of every choice sequence (``enumerate_schedules``:
depth first with Replay, nothing skipped) on small generated programs. What the reduction
claims (see Exhaustive's docstring): it does not branch on the order of timers due at the same
instant when all are ``asyncio.sleep`` wake-ups, because the woken tasks' order is still
explored by the ready choices, at the same cost in deviations. So for every bound ``k``, the
observable outcomes of the schedules with at most ``k`` deviations are the same with and
without the reduction; only the number of schedules differs.
"""

from __future__ import annotations

import asyncio
from asyncio import futures
from typing import Any

import pytest
from explore_support import (
    bank_fixed,
    bank_race,
    deviations,
    drive,
    enumerate_schedules,
    program_runner,
    trimmed,
)
from hypothesis import assume, event, given
from hypothesis import strategies as st
from simprog import all_ops
from simprog_strategies import fast, programs

import simloop
from simloop import lowlevel

#: Small programs whose sleeps often end at the same instant (ties to reduce).
small_programs = programs(max_tasks=2, max_ops=2, sleep_ms=(1, 2))


def proof(runs: int, bound: int, share: str = "") -> str:
    within = f"with at most {bound} deviation{'' if bound == 1 else 's'} from asyncio's order"
    if runs == 1:
        return f"the one schedule {within} passes{share}"
    return f"all {runs} schedules {within} pass{share}"


def outcomes(runs: Any) -> set[Any]:
    return {run[-1] for run in runs}


@fast(60)
@given(desc=small_programs)
def test_a_complete_search_reaches_every_outcome(desc: dict[str, Any]) -> None:
    """Exhaustive with an unreachable bound reaches every outcome any schedule reaches: every
    one brute force finds, and every one random walks find."""
    run = program_runner(desc)
    search = simloop.Exhaustive(1_000)
    searched = drive(search, run, cap=150)
    event("tree within the cap" if searched is not None else "tree too big")
    assume(searched is not None)  # too big a tree for this test
    assert searched is not None
    assert search.complete
    assert search.runs == len(searched)
    schedules = [trimmed(trace.choices) for _, trace, _ in searched]
    assert len(set(schedules)) == len(schedules), "a schedule ran twice"

    walks = {run(simloop.RandomWalk(seed))[1] for seed in range(10)}
    assert walks <= outcomes(searched)

    everything = enumerate_schedules(run, cap=150)
    event("brute force within the cap" if everything is not None else "brute force too big")
    assume(everything is not None)
    assert everything is not None
    assert outcomes(searched) == {outcome for _, outcome in everything}
    assert set(schedules) <= {schedule for schedule, _ in everything}
    if len(schedules) < len(everything):
        # Only timer ties are reduced: no sleep, no reduction.
        assert any(op[0] == "sleep" for op in all_ops(desc))


@fast(30)
@given(desc=small_programs, bound=st.integers(0, 3))
def test_a_bounded_search_reaches_every_outcome_of_its_bound(
    desc: dict[str, Any], bound: int
) -> None:
    run = program_runner(desc)
    everything = enumerate_schedules(run, max_deviations=bound, cap=200)
    event("brute force within the cap" if everything is not None else "brute force too big")
    assume(everything is not None)
    assert everything is not None
    searched = drive(simloop.Exhaustive(bound), run, cap=200)
    assert searched is not None
    assert outcomes(searched) == {outcome for _, outcome in everything}
    for _, trace, _ in searched:
        assert trace.deviations <= bound
    assert {trimmed(trace.choices) for _, trace, _ in searched} <= {s for s, _ in everything}


async def tied_sleepers() -> tuple[str, ...]:
    """Three tasks whose sleeps end at the same instant, then log: each order is an outcome."""
    woke: list[str] = []

    async def sleeper(name: str) -> None:
        await asyncio.sleep(0.01)
        woke.append(name)

    await asyncio.gather(sleeper("a"), sleeper("b"), sleeper("c"))
    return tuple(woke)


def _run_on_fresh_loop(main: Any, scheduler: simloop.Scheduler) -> simloop.RunResult:
    captured: list[simloop.SimLoop] = []

    class Capture(simloop.Instrument):
        def run_started(self, loop: simloop.SimLoop) -> None:
            captured.append(loop)

    value = simloop.run(main(), scheduler=scheduler, instruments=[Capture()])
    return simloop.RunResult(value=value, failure=None, trace=captured[0].trace)


def test_the_order_of_tied_sleeps_is_reduced_not_lost() -> None:
    everything = enumerate_schedules(_runner(tied_sleepers), max_deviations=2)
    searched = drive(simloop.Exhaustive(2), _runner(tied_sleepers))
    assert everything is not None
    assert searched is not None
    permutations = {tuple(p) for p in ("abc", "acb", "bac", "bca", "cab", "cba")}
    assert {outcome for _, outcome in everything} == permutations
    assert outcomes(searched) == permutations
    assert len(searched) < len(everything)  # the tie choices were not branched on


async def looks_like_a_sleep() -> None:
    """A timer with asyncio.sleep's callback, on a future another task can see: its order
    against a real sleep's timer due at the same instant matters."""
    loop = asyncio.get_running_loop()
    shared = loop.create_future()
    loop.call_later(0.01, futures._set_result_unless_cancelled, shared, None)  # type: ignore[attr-defined]
    seen: list[bool] = []

    async def watcher() -> None:
        await asyncio.sleep(0.01)
        seen.append(shared.done())

    task = asyncio.create_task(watcher())
    await shared
    await task
    assert seen == [True], "the watcher woke before the shared future was set"


def test_only_real_sleeps_are_reduced() -> None:
    assert simloop.explore(looks_like_a_sleep, runs=100).found  # random walks find it
    result = simloop.explore(looks_like_a_sleep, runs=100, search=simloop.Exhaustive(3))
    assert result.found, result.proof
    assert result.proof is None


# --- the bound, the count and the proof ---------------------------------------------------------


def test_exhaustive_zero_runs_asyncios_order_only() -> None:
    result = simloop.explore(bank_fixed, runs=100, search=simloop.Exhaustive(0))
    assert result.runs == 1
    assert result.proof == proof(1, 0)
    assert result.proof == "the one schedule with at most 0 deviations from asyncio's order passes"
    search = simloop.Exhaustive(0)
    (scheduler,) = search.schedulers()
    assert list(scheduler.choices) == []


@pytest.mark.parametrize("bound", [1, 2, 3])
def test_the_proof_counts_every_schedule_within_the_bound(bound: int) -> None:
    everything = enumerate_schedules(_runner(bank_fixed), max_deviations=bound)
    assert everything is not None
    result = simloop.explore(bank_fixed, runs=10_000, search=simloop.Exhaustive(bound))
    assert not result.found
    assert result.runs == len(everything)  # no timers: nothing to reduce
    assert result.proof == proof(result.runs, bound)


def test_no_proof_when_the_cap_stops_the_search_first() -> None:
    total = simloop.explore(bank_fixed, runs=10_000, search=simloop.Exhaustive(2)).runs
    capped = simloop.explore(bank_fixed, runs=total - 1, search=simloop.Exhaustive(2))
    assert capped.runs == total - 1
    assert capped.proof is None
    # A cap of exactly the tree's size still covers it all.
    exact = simloop.explore(bank_fixed, runs=total, search=simloop.Exhaustive(2))
    assert exact.runs == total
    assert exact.proof is not None
    assert exact.proof.startswith(f"all {total} schedules")


def test_no_proof_when_a_schedule_fails() -> None:
    search = simloop.Exhaustive(2)
    result = simloop.explore(bank_race, runs=10_000, search=search)
    assert result.found
    assert result.proof is None
    assert result.failing_scheduler is not None
    assert result.failing_scheduler.startswith("the exhaustive search's schedule [")
    assert result.recording is not None
    assert result.recording.deviations == 1


def test_a_search_used_twice_searches_again() -> None:
    search = simloop.Exhaustive(2)
    first = simloop.explore(bank_fixed, runs=10_000, search=search)
    again = simloop.explore(bank_fixed, runs=10_000, search=search)
    assert (again.runs, again.proof) == (first.runs, first.proof)
    # ... and does not claim the first program's proof for another one.
    other = simloop.explore(bank_race, runs=10_000, search=search)
    assert other.found
    assert other.proof is None


def _runner(main: Any) -> Any:
    def run(scheduler: simloop.Scheduler) -> tuple[simloop.Trace, Any]:
        result = _run_on_fresh_loop(main, scheduler)
        return result.trace, result.value

    return run


# --- shards ------------------------------------------------------------------------------------


@fast(20)
@given(desc=small_programs, bound=st.integers(1, 2), count=st.integers(2, 4))
def test_shards_partition_the_search(desc: dict[str, Any], bound: int, count: int) -> None:
    run = program_runner(desc)
    whole = drive(simloop.Exhaustive(bound), run, cap=150)
    if whole is None:
        return
    everything = [trimmed(trace.choices) for _, trace, _ in whole]
    shares = []
    for index in range(count):
        share = drive(simloop.Exhaustive(bound, shard=(index, count)), run)
        assert share is not None
        shares.append([trimmed(trace.choices) for _, trace, _ in share])
        for _, trace, _ in share:
            assert deviations(trace.choices) <= bound
    assert sorted(s for share in shares for s in share) == sorted(everything)
    for i, share in enumerate(shares):
        for other in shares[i + 1 :]:
            assert not set(share) & set(other)
    assert () in shares[0]  # asyncio's order belongs to the first shard


def test_each_shard_proves_its_share() -> None:
    whole = simloop.explore(bank_fixed, runs=10_000, search=simloop.Exhaustive(2))
    runs = []
    for index in range(3):
        search = simloop.Exhaustive(2, shard=(index, 3))
        assert repr(search) == f"Exhaustive(max_deviations=2, shard=({index}, 3))"
        result = simloop.explore(bank_fixed, runs=10_000, search=search)
        assert not result.found
        assert result.proof == proof(result.runs, 2, f" (shard {index + 1} of 3)")
        runs.append(result.runs)
    assert sum(runs) == whole.runs
    # Some shard finds the race; the others prove their share.
    found = [
        simloop.explore(bank_race, runs=10_000, search=simloop.Exhaustive(1, shard=(i, 3)))
        for i in range(3)
    ]
    assert any(result.found for result in found)
    assert all(result.found or result.proof for result in found)


# --- timing: what a proof held fixed, and a bound of its own -----------------------------------


def racing_timeout(timeout: float) -> Any:
    """Two queries that take 1 s each, under a timeout: a query is cancelled only if its
    result is not in when the timeout fires. 1.001 s is enough unless something is late."""

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def query() -> str:
            await asyncio.sleep(1)
            return "rows"

        tasks = [asyncio.ensure_future(query()) for _ in range(2)]
        handles = [loop.call_later(timeout, task.cancel) for task in tasks]
        try:
            assert await asyncio.gather(*tasks) == ["rows", "rows"]
        finally:
            for handle in handles:
                handle.cancel()

    return main


def test_a_proof_says_timers_fired_on_time_when_jitter_is_off() -> None:
    result = simloop.explore(racing_timeout(1.001), runs=1000, search=simloop.Exhaustive(3))
    assert not result.found
    assert result.runs > 1
    assert result.proof == (
        f"all {result.runs} schedules with at most 3 deviations from asyncio's order pass, "
        "timers firing on time (timer_jitter and sleep_jitter are off)"
    )


def test_a_proof_without_timers_holds_nothing_fixed() -> None:
    result = simloop.explore(bank_fixed, runs=1000, search=simloop.Exhaustive(1))
    assert result.proof == proof(result.runs, 1)


def deviating_kinds(result: simloop.ExplorationResult) -> list[str]:
    assert result.recording is not None
    assert result.recording.kinds is not None
    return [k for k, c in zip(result.recording.kinds, result.recording.choices, strict=True) if c]


def test_a_late_loop_fires_the_timeout_with_the_result() -> None:
    """A late loop fires a query's wake-up and its timeout (1 ms apart) in one batch, in
    deadline order: the timeout cancels a task whose result is in but not yet taken, as a late
    real loop would. One timing deviation, no reordering."""
    main = racing_timeout(1.001)
    result = simloop.explore(main, runs=10_000, search=simloop.Exhaustive(1), timer_jitter=0.5)
    assert result.found
    assert result.failure is not None
    assert isinstance(result.failure.exception, asyncio.CancelledError)
    assert deviating_kinds(result) == ["timer.jitter"]
    # The loop is at most 0.5 s late: a timeout 0.6 s after the result cannot race it.
    safe = simloop.explore(
        racing_timeout(1.6), runs=10_000, search=simloop.Exhaustive(1), timer_jitter=0.5
    )
    assert not safe.found
    assert safe.proof == (
        f"all {safe.runs} schedules with at most 1 deviation from asyncio's order pass "
        "(late timers and longer sleeps counted as deviations)"
    )


def test_a_longer_operation_is_found_within_a_timing_bound() -> None:
    main = racing_timeout(1.3)
    # Timing held fixed: the bug cannot show, and the proof says what was held fixed.
    fixed = simloop.explore(
        main, runs=10_000, search=simloop.Exhaustive(2, timing=0), sleep_jitter=0.5
    )
    assert not fixed.found
    assert fixed.proof == (
        f"all {fixed.runs} schedules with at most 2 deviations from asyncio's order pass, "
        "timers firing on time"
    )
    # One timing deviation is enough, with no reordering at all.
    found = simloop.explore(
        main, runs=10_000, search=simloop.Exhaustive(0, timing=1), sleep_jitter=0.5
    )
    assert found.found
    assert deviating_kinds(found) == ["sleep.jitter"]
    # A timing bound appears in the proof.
    bounded = simloop.explore(
        racing_timeout(1.6), runs=10_000, search=simloop.Exhaustive(1, timing=1), sleep_jitter=0.5
    )
    assert bounded.proof == (
        f"all {bounded.runs} schedules with at most 1 deviation from asyncio's order and at "
        "most 1 timing deviation pass"
    )


async def staggered_sleeps() -> tuple[str, ...]:
    """Two sleepers and a callback, never due at the same instant unless timing moves them:
    no tie for Exhaustive to reduce, so it must run exactly the brute-force set."""
    loop = asyncio.get_running_loop()
    log: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        log.append(name)

    loop.call_later(0.0015, log.append, "callback")
    await asyncio.gather(sleeper("a", 0.001), sleeper("b", 0.002))
    return tuple(log)


def test_the_timing_bound_counts_timing_choices_apart() -> None:
    """Exhaustive(k, timing=t) runs exactly the schedules with at most k ordering deviations
    and at most t timing deviations: checked against a brute-force enumeration."""
    options = {"sleep_jitter": 0.001, "timer_jitter": 0.0005}

    def run(scheduler: simloop.Scheduler) -> tuple[simloop.Trace, Any]:
        loop = simloop.SimLoop(scheduler=scheduler, **options)
        try:
            value = loop.run_until_complete(staggered_sleeps())
        finally:
            loop.close()
        return loop.trace, value

    everything = enumerate_schedules(run, max_deviations=3, cap=50_000)
    assert everything is not None
    traces = {}
    for schedule, _ in everything:
        trace, _ = run(simloop.Replay(list(schedule)))
        traces[schedule] = trace.kinds

    def split(schedule: tuple[int, ...]) -> tuple[int, int]:
        kinds = traces[schedule]
        assert kinds is not None
        timing = sum(
            1 for c, k in zip(schedule, kinds, strict=False) if c and k in lowlevel.TIMING_KINDS
        )
        return sum(1 for c in schedule if c) - timing, timing

    assert any(split(s)[1] for s in traces), "no timing choice to bound"
    for k, t in [(0, 1), (1, 0), (1, 1), (2, 1)]:
        ran = drive(simloop.Exhaustive(k, timing=t), run)
        assert ran is not None
        schedules = [trimmed(trace.choices) for _, trace, _ in ran]
        assert len(schedules) == len(set(schedules))
        expected = {s for s in traces if split(s)[0] <= k and split(s)[1] <= t}
        assert set(schedules) == expected, (k, t)


def test_timing_must_be_a_non_negative_int() -> None:
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(simloop.InvalidArgumentError, match="`timing` must be a non-negative"):
            simloop.Exhaustive(1, timing=bad)  # type: ignore[arg-type]
