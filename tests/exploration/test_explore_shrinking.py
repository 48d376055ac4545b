"""Shrinking: a failing schedule shrinks towards asyncio's order, and still fails the same way.

Property tests over generated programs, each with a check on the order of two things it
logs that asyncio's order keeps and a random walk breaks (``broken_orders``): the shrunk
schedule fails with the original failure's signature when replayed on its own, has no more
deviations than the original, and the ShrinkReport's figures are those of the two
schedules. And when a single deviation is enough to fail that way, shrinking finds one.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from explore_support import Case, bank_race, broken_orders, entries, ordered_main, schedule
from hypothesis import given
from simprog import run_sim
from simprog_strategies import fast

import simloop


def one_deviation_failures(main: Any, signature: tuple[Any, ...]) -> list[list[int]]:
    """Every schedule with exactly one deviation that fails with ``signature``.

    A schedule that deviates only at choice ``i`` is asyncio's order up to ``i``: the option
    counts of asyncio's own run say what each place offers.
    """
    fifo = simloop.replay(main, schedule([]), record_events=False)
    found = []
    for index, options in enumerate(fifo.trace.options):
        for option in range(1, options):
            choices = [0] * index + [option]
            result = simloop.replay(main, schedule(choices), record_events=False, strict=False)
            if result.failure is not None and result.failure.signature == signature:
                found.append(choices)
    return found


@fast(40)
@given(case=broken_orders(max_tasks=3, max_ops=3))
def test_shrinking_keeps_the_failure_and_never_adds_deviations(
    case: Case,
) -> None:
    main, seed = case.main, case.seed
    original = simloop.explore(main, runs=1, seed=seed, shrink=False)
    assert original.found
    assert original.recording is not None
    assert original.failure is not None

    result = simloop.explore(main, runs=1, seed=seed, shrink_budget=200)
    assert result.failure is not None
    assert result.recording is not None
    assert result.nondeterminism is None
    assert result.failure.signature == original.failure.signature

    report = result.shrink
    assert report is not None
    assert report.deviations_before == original.recording.deviations
    assert report.steps_before == original.recording.steps
    assert report.deviations_after == result.recording.deviations
    assert report.steps_after == result.recording.steps
    assert report.deviations_after <= report.deviations_before
    assert 0 < report.replays <= 200
    assert str(report).startswith(f"shrunk from {report.deviations_before} to ")

    # The shrunk schedule fails that way on its own, strictly replayed, and through its token.
    for recording in (result.recording, result.recording.token):
        replayed = simloop.replay(main, recording, record_events=False)
        assert replayed.failure is not None
        assert replayed.failure.signature == original.failure.signature
        assert replayed.trace.fingerprint() == result.recording.fingerprint()


@fast(100)
@given(case=broken_orders(max_tasks=3, max_ops=3))
def test_a_failure_one_deviation_can_cause_shrinks_to_one_deviation(
    case: Case,
) -> None:
    main, seed = case.main, case.seed
    result = simloop.explore(main, runs=1, seed=seed, shrink_budget=10_000)
    assert result.failure is not None
    assert result.recording is not None
    if result.recording.deviations <= 1:
        return  # as far as it can go (asyncio's order passes)
    # Shrinking stopped above one deviation: then no single deviation fails that way.
    assert one_deviation_failures(main, result.failure.signature) == []


def test_shrinking_is_not_stuck_when_option_numbers_shift() -> None:
    """Found by the test above: the failing schedule [1, 1] needed both deviations as it
    stood, and its option counts (2 at choice 1) hid the one-deviation schedule [0, 2]
    (asyncio's order has 3 options there). Shrinking must try the single deviations of
    asyncio's order itself."""
    desc = {
        "locks": 1,
        "queues": [],
        "events": 1,
        "tasks": [[["set", 0]], [["yield"]], [["sleep", 1]]],
    }
    logged = entries(run_sim(desc).log)
    main = ordered_main(desc, logged[6], logged[8])
    result = simloop.explore(main, runs=1, seed=0)
    assert result.shrink is not None
    assert result.shrink.deviations_before == 2
    assert result.recording is not None
    assert result.recording.deviations == 1
    assert result.recording.choices[:2] == [0, 2]


def test_a_two_deviation_walk_on_a_one_deviation_race_shrinks_to_one() -> None:
    result = simloop.explore(bank_race, runs=100, seed=3)
    assert result.shrink is not None
    assert result.shrink.deviations_before >= 2
    assert result.shrink.deviations_after == 1
    assert result.recording is not None
    assert result.recording.deviations == 1
    assert str(result.shrink) == (
        f"shrunk from {result.shrink.deviations_before} to 1 deviation from asyncio's order "
        f"in {result.shrink.replays} replays; asyncio's own order passes"
    )
    assert result.shrink.minimal
    assert result.shrink.one_minimal


def test_a_failure_of_asyncios_own_order_shrinks_to_no_deviation() -> None:
    async def always_fails() -> None:
        await asyncio.gather(asyncio.sleep(0), asyncio.sleep(0), asyncio.sleep(0))
        raise ValueError("always")

    result = simloop.explore(always_fails, runs=10, seed=1)
    assert result.shrink is not None
    assert result.shrink.deviations_before > 0
    assert result.shrink.deviations_after == 0
    assert result.recording is not None
    assert result.recording.deviations == 0


@pytest.mark.parametrize("budget", [1, 2, 3])
def test_a_tiny_budget_that_reaches_asyncios_order_late_still_ends_at_no_deviation(
    budget: int,
) -> None:
    # With a budget too small for the first pass, asyncio's own order is reached only by the
    # minimality checks; they must stop there (they once asked for "fewer than 0").
    async def always_fails() -> None:
        async def worker() -> None:
            for _ in range(5):
                await asyncio.sleep(0)

        await asyncio.gather(*(worker() for _ in range(6)))
        raise ValueError("always")

    result = simloop.explore(always_fails, runs=10, seed=1, shrink_budget=budget)
    assert result.shrink is not None
    assert result.shrink.deviations_before > 0
    assert result.shrink.deviations_after == 0
    assert result.shrink.minimal
    assert result.recording is not None
    assert result.recording.deviations == 0


def test_a_zero_budget_keeps_the_originalschedule() -> None:
    unshrunk = simloop.explore(bank_race, runs=100, seed=3, shrink=False)
    result = simloop.explore(bank_race, runs=100, seed=3, shrink_budget=0)
    assert result.shrink is not None
    assert result.shrink.replays == 0
    assert result.shrink.deviations_after == result.shrink.deviations_before
    assert result.recording is not None
    assert unshrunk.recording is not None
    assert result.recording.token == unshrunk.recording.token


def test_a_step_limit_is_not_shrunk() -> None:
    async def spins() -> None:
        async def spin() -> None:
            while True:
                await asyncio.sleep(0)

        await asyncio.gather(spin(), spin())

    result = simloop.explore(spins, runs=3, seed=1, max_steps=200)
    assert result.failure is not None
    assert result.failure.kind == "step limit"
    assert result.shrink is None
    assert result.nondeterminism is None


async def notify_before_wait_among_bystanders() -> None:
    """A depth-2 race (the worker must overtake the waiter twice to notify before it waits)
    next to three unrelated tasks, whose steps a random walk reorders too. Dropping any one
    deviation numerically changes what the later option numbers name, so shrinking has to
    keep the remaining deviations' intent (which task runs ahead of which)."""
    ready = asyncio.Condition()

    async def bystander() -> None:
        for _ in range(3):
            await asyncio.sleep(0)

    async def worker() -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        async with ready:
            ready.notify_all()

    async def waiter() -> None:
        loading = asyncio.create_task(worker())
        await asyncio.sleep(0)
        async with ready:
            await asyncio.wait_for(ready.wait(), timeout=1)
        await loading

    others = [asyncio.create_task(bystander()) for _ in range(3)]
    await waiter()
    await asyncio.gather(*others)


@pytest.mark.parametrize("seed", range(4))
def test_a_depth_two_race_among_bystanders_shrinks_to_two_deviations(seed: int) -> None:
    assert simloop.run(notify_before_wait_among_bystanders()) is None  # asyncio's order passes
    result = simloop.explore(notify_before_wait_among_bystanders, runs=1000, seed=seed * 100)
    assert result.found
    assert result.failure is not None
    assert result.failure.kind == "exception"
    assert result.shrink is not None
    assert result.recording is not None
    assert result.recording.deviations == 2, (result.shrink, result.recording.choices)
    replayed = simloop.replay(notify_before_wait_among_bystanders, result.recording)
    assert replayed.failure is not None
    assert replayed.failure.signature == result.failure.signature


# --- provably minimal: 1-minimal, and every schedule with fewer deviations tried ------------


def condition_notify() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench.races import condition_notify as race

    return race.RACE


def test_a_depth_two_race_needs_two_deviations_and_says_why() -> None:
    race = condition_notify()
    below = simloop.explore(race.buggy, runs=10_000, search=simloop.Exhaustive(1))
    assert below.proof is not None  # every schedule with at most 1 deviation passes
    result = simloop.explore(race.buggy, runs=1000, seed=0)
    assert result.shrink is not None
    assert result.recording is not None
    assert result.recording.deviations == 2
    assert result.shrink.one_minimal
    assert result.shrink.minimal
    # The schedules with fewer deviations are exactly Exhaustive(1)'s.
    assert result.shrink.fewer_checked == below.runs
    headline = simloop.lowlevel.format_failure(result).splitlines()[0]
    assert headline.endswith(
        f"; needs 2 deviations from asyncio's order (none of the {below.runs} schedules with "
        "fewer deviations fails this way)"
    ), headline


def test_without_the_budget_to_prove_it_the_report_says_less() -> None:
    race = condition_notify()
    result = simloop.explore(race.buggy, runs=1000, seed=0, minimality_budget=1)
    assert result.shrink is not None
    assert result.shrink.one_minimal
    assert not result.shrink.minimal
    assert result.shrink.fewer_checked == 1
    headline = simloop.lowlevel.format_failure(result).splitlines()[0]
    assert "; fails with 2 deviations from asyncio's order (" in headline
    assert headline.endswith(
        "each deviation is needed (1-minimal), but not every schedule with fewer was tried "
        "(only 1))"
    ), headline
    assert "needs" not in headline


@pytest.mark.parametrize("budget", [-1, 1.5, True])
def test_minimality_budget_is_checked(budget: Any) -> None:
    with pytest.raises(simloop.InvalidArgumentError, match="`minimality_budget` must be"):
        simloop.explore(bank_race, runs=1, minimality_budget=budget)
