"""The race corpus (``bench/races/``): every bug is found, shrunk and replayed; no twin fails.

What ``python bench/races/run.py`` measures at length, pinned here in a few seconds per
Python: each fixed twin passes asyncio's order, a Portfolio search and every schedule simloop
can produce (the corpus programs are small enough to enumerate); each bug passes every
schedule with fewer deviations than its declared depth, and is found by ``Exhaustive(depth)``
and by the default Portfolio within 1,000 runs, failing the way it declares, shrunk to at
most ``depth + 1`` deviations, and replayable from its token.
"""

from __future__ import annotations

import pytest

import simloop
from bench.races import RACES, Race, lost_update, ttl_refresh
from bench.races import run as races_run

each_race = pytest.mark.parametrize("race", RACES, ids=[race.name for race in RACES])


def test_the_corpus_is_complete() -> None:
    names = [race.name for race in RACES]
    assert len(names) >= 24
    assert len(set(names)) == len(names)
    # None of these bugs shows in asyncio's own order (see test_bug_passes_below_its_depth).
    assert all(race.depth >= 1 for race in RACES)
    assert any(race.depth == 2 for race in RACES)
    assert any(race.depth == 3 for race in RACES)
    kinds = {race.kind for race in RACES}
    assert kinds == {"exception", "deadlock", "liveness", "invariant"}
    for race in RACES:
        assert race.buggy is not race.fixed
        assert race.buggy.__module__ == race.fixed.__module__ == f"bench.races.{race.name}"


# --- the fixed twins ---------------------------------------------------------------------------


@each_race
def test_fixed_twin_passes_in_stock_order(race: Race) -> None:
    simloop.run(race.fixed())  # Fifo: raises if the run fails


@each_race
def test_fixed_twin_passes_a_portfolio_search(race: Race) -> None:
    result = simloop.explore(race.fixed, runs=200, search=simloop.Portfolio(), shrink=False)
    assert result.failure is None, result.failure.summary()
    assert result.runs == 200


@each_race
def test_fixed_twin_passes_every_schedule(race: Race) -> None:
    # Every schedule there is, or (a race among many tasks) every one up to its bound.
    bound = 1_000_000 if race.enumerable else race.twin_bound
    result = simloop.explore(race.fixed, runs=5000, search=simloop.Exhaustive(bound))
    assert result.failure is None, result.failure.summary()
    assert result.proof is not None, f"not enumerated in {result.runs} schedules"


def test_the_corpus_has_deep_sagas_tie_chains_and_crowds() -> None:
    by_name = {race.name: race for race in RACES}
    assert by_name["saga_refund"].depth == 2  # a deep saga
    assert by_name["timer_chain"].depth == 2  # a chain of timer ties
    assert not by_name["busy_service"].enumerable  # among many unrelated tasks


# --- the bugs ------------------------------------------------------------------------------------


def check_failure_kind(race: Race, result: simloop.ExplorationResult) -> None:
    """The run failed the way the race declares, and the same way when replayed."""
    assert result.found
    assert result.failure is not None
    assert result.failure.kind == race.kind, result.failure.summary()
    assert isinstance(result.failure.exception, race.error), result.failure.summary()
    assert result.nondeterminism is None


def check_failure(race: Race, result: simloop.ExplorationResult) -> None:
    """The failure is the one the race declares, shrunk enough, and replays."""
    check_failure_kind(race, result)
    assert result.failure is not None
    assert result.recording is not None
    assert result.shrink is not None
    assert result.shrink.deviations_after == result.recording.deviations
    assert race.depth <= result.recording.deviations <= race.depth + 1
    replayed = simloop.replay(race.buggy, result.recording.token, record_events=False)
    assert replayed.failure is not None
    assert replayed.failure.signature == result.failure.signature


@each_race
def test_bug_passes_below_its_depth(race: Race) -> None:
    simloop.run(race.buggy())  # asyncio's order (Fifo) passes
    below = simloop.explore(race.buggy, runs=5000, search=simloop.Exhaustive(race.depth - 1))
    assert below.failure is None, below.failure.summary()
    assert below.proof is not None


@each_race
def test_bug_is_found_by_exhaustive_at_its_depth(race: Race) -> None:
    result = simloop.explore(race.buggy, runs=1000, search=simloop.Exhaustive(race.depth))
    check_failure(race, result)
    assert result.recording is not None
    assert result.recording.deviations == race.depth


@each_race
def test_bug_is_found_by_the_default_portfolio(race: Race) -> None:
    result = simloop.explore(race.buggy, runs=1000, search=simloop.Portfolio())
    check_failure(race, result)


# --- shrinking: a 1-minimal schedule that is not minimal -----------------------------------------

# RandomWalk(seed=3) finds ttl_refresh (depth 1) with 6 deviations. Dropping deviations one at
# a time stops at these 3, none of which can go alone; the shrinker must also try keeping one.
THREE = [0, 1, 0, 1, 1]


def replay_choices(choices: list[int]) -> simloop.ExplorationResult:
    return simloop.explore(
        ttl_refresh.buggy, runs=1, search=lambda _seed: simloop.Replay(choices), shrink=False
    )


def test_the_three_deviation_schedule_holds_a_one_deviation_failure() -> None:
    assert replay_choices(THREE).found
    assert replay_choices([0, 0, 0, 0, 1]).found
    for dropped in (1, 3, 4):
        subset = [0 if i == dropped else c for i, c in enumerate(THREE)]
        assert not replay_choices(subset).found, subset


def test_shrinking_finds_the_one_deviation_inside_three() -> None:
    result = simloop.explore(ttl_refresh.buggy, runs=1, search=lambda _seed: simloop.Replay(THREE))
    assert result.recording is not None
    assert result.recording.deviations <= ttl_refresh.RACE.depth + 1


# Beside three unrelated tasks (run.py --noise 3), the Portfolio's first failing schedule for
# lost_update (PCT(depth=3, seed=0), 13 deviations) shrinks to 7 by dropping deviations alone;
# yet the one deviation [0, 0, 0, 0, 4] fails the same way.
NOISY_RUN = [0, 0, 3, 3, 3, 2, 2, 2, 0, 0, 2, 2, 2, 1, 1, 1, 1]


def noisy_lost_update() -> Race:
    return races_run.with_noise(lost_update.RACE, 3)


def test_the_noisy_schedule_holds_a_one_deviation_failure() -> None:
    race = noisy_lost_update()
    for choices in (NOISY_RUN, [0, 0, 0, 0, 4]):
        result = simloop.explore(
            race.buggy, runs=1, search=lambda _seed, c=choices: simloop.Replay(c)
        )
        check_failure_kind(race, result)


def test_shrinking_beside_bystanders_reaches_the_bug_depth() -> None:
    race = noisy_lost_update()
    result = simloop.explore(race.buggy, runs=1, search=lambda _seed: simloop.Replay(NOISY_RUN))
    assert result.recording is not None
    assert result.recording.deviations <= race.depth + 1


def test_what_the_shrink_budget_leaves_the_minimality_check_finishes() -> None:
    """With one shrink replay, the 13-deviation noisy schedule is left far from its depth;
    the minimality check (single drops, then every schedule with fewer deviations) still
    brings it down to one deviation, and proves that it needs it."""
    race = noisy_lost_update()
    result = simloop.explore(
        race.buggy, runs=1, search=lambda _seed: simloop.Replay(NOISY_RUN), shrink_budget=1
    )
    check_failure_kind(race, result)
    assert result.recording is not None
    assert result.recording.deviations == 1
    assert result.shrink is not None
    assert result.shrink.minimal


@pytest.mark.parametrize("name", ["condition_notify", "occ_fallback"])
def test_deep_races_beside_bystanders_shrink_to_their_depth(name: str) -> None:
    """Random walks reorder the bystanders too (9 and 7 deviations were left after dropping
    deviations by option number, which shifts what the later ones mean); shrinking by intent
    reaches the bug's depth exactly."""
    race = races_run.with_noise(next(race for race in RACES if race.name == name), 3)
    result = simloop.explore(race.buggy, runs=1000, seed=0)
    check_failure(race, result)
    assert result.shrink is not None
    assert result.shrink.deviations_before > race.depth + 1
    assert result.recording is not None
    assert result.recording.deviations == race.depth


# --- the measurement command ---------------------------------------------------------------------


def test_the_measurement_command(capsys: pytest.CaptureFixture[str]) -> None:
    status = races_run.main(
        [
            "--runs=50",
            "--only=lost_update,condition_notify,lease_expiry",
            "--strategies=Portfolio,Exhaustive(2)",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "3 bugs, 2 strategies, 50 runs per search" in out
    assert "[met] Portfolio finds every bug within 50 runs" in out
    assert "[met] Exhaustive(2) proves every fixed twin clean up to 2 deviations" in out
    assert "MISSED" not in out
    rows = [line.split() for line in out.splitlines() if line.startswith("condition_notify")]
    # Portfolio and Exhaustive(2): runs/deviations after shrinking/shrink replays.
    assert [cell.split("/")[:2] for cell in rows[0][-2:]] == [["1", "2"], ["3", "2"]]
