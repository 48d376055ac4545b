"""Replays compare every step with the recorded one: nondeterminism is caught at the step
where it happens, named, and given a likely cause."""

from __future__ import annotations

import asyncio
import time

import pytest
from core_support import line_of

import simloop

#: Bound at import, before any run: the guards cannot reach it (on purpose, here).
# A clock kept real on purpose (a reference bound before the run is virtual too).
_real_monotonic = simloop.lowlevel.real_time_functions()["monotonic"]

_RUNS = {"count": 0}


async def remembers_runs() -> None:
    """Takes another path on every run: state kept between runs."""
    _RUNS["count"] += 1

    async def worker(n: int) -> None:
        await asyncio.sleep(0)
        if n % 2:
            await asyncio.sleep(0)  # odd runs wait twice

    await asyncio.gather(worker(_RUNS["count"]), worker(0))


async def reads_the_real_clock() -> None:
    delay = round(_real_monotonic() * 1000) % 7 + 1
    await asyncio.sleep(delay)


def recorded(main: object) -> simloop.Trace:
    result = simloop.replay(main, simloop.Trace(  # type: ignore[arg-type]
        choices=[], options=[], steps=0, start_time_ns=0, end_time_ns=0, seed=None,
        scheduler="Fifo()").token)  # fmt: skip
    assert result.trace.events is not None
    return result.trace


def test_a_deterministic_program_replays_step_for_step() -> None:
    async def main() -> None:
        await asyncio.gather(asyncio.sleep(1), asyncio.sleep(2))

    trace = recorded(main)
    again = simloop.replay(main, trace)
    assert again.failure is None
    assert again.trace.fingerprint() == trace.fingerprint()


def test_state_kept_between_runs_is_caught_at_its_step() -> None:
    _RUNS["count"] = 0
    trace = recorded(remembers_runs)  # run 1: worker(1) waits twice
    result = simloop.replay(remembers_runs, trace)  # run 2: worker(2) waits once
    assert result.failure is not None
    error = result.failure.exception
    assert isinstance(error, simloop.NondeterminismError)
    assert isinstance(error, simloop.ReplayDivergenceError)
    assert result.failure.kind == "nondeterminism"
    line = line_of(remembers_runs, "await asyncio.sleep(0)  # odd runs wait twice")
    assert f"waited at test_core_nondeterminism.py:{line} in worker" in error.expected
    assert "finished" in error.found
    assert error.cause.startswith("the step took another path through the code")
    assert str(error).startswith(f"the replay diverged from the recorded run at step {error.step}")


def test_a_real_clock_read_in_the_run_is_named() -> None:
    trace = recorded(reads_the_real_clock)
    for _ in range(20):  # the real clock moves: some replay sleeps for another time
        result = simloop.replay(reads_the_real_clock, trace)
        if result.failure is not None:
            break
        time.sleep(0.001)
    assert result.failure is not None
    error = result.failure.exception
    assert isinstance(error, simloop.NondeterminismError)
    assert "a real clock the guards do not reach" in error.cause


def test_a_hash_seed_that_differs_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _RUNS["count"] = 0
    trace = recorded(remembers_runs)
    other = "1" if trace.hash_seed != "1" else "2"
    import attrs

    trace = attrs.evolve(trace, hash_seed=other)
    result = simloop.replay(remembers_runs, trace)
    assert result.failure is not None
    error = result.failure.exception
    assert isinstance(error, simloop.NondeterminismError)
    assert error.cause.startswith(f"hash order: PYTHONHASHSEED was {other} when recorded")


def test_explore_names_the_step_when_the_failure_does_not_replay() -> None:
    runs = {"n": 0}

    async def flaky() -> None:
        runs["n"] += 1
        first = runs["n"] == 1

        async def worker() -> None:
            await asyncio.sleep(0)
            if first:
                await asyncio.sleep(0)
                raise AssertionError("only the first run fails")

        await worker()

    result = simloop.explore(flaky, runs=5)
    assert result.found
    assert result.nondeterminism is not None
    assert "Two further replays agree with each other" in result.nondeterminism


def test_explore_names_the_step_where_two_replays_differ() -> None:
    runs = {"n": 0}

    async def alternating() -> None:
        runs["n"] += 1
        odd = runs["n"] % 2 == 1

        async def worker() -> None:
            await asyncio.sleep(0)
            if odd:
                await asyncio.sleep(0)
                raise AssertionError("odd runs fail")

        await worker()

    result = simloop.explore(alternating, runs=5, shrink=False)
    assert result.found
    assert result.nondeterminism is not None
    assert "Replayed twice, the replay diverged from the recorded run at step" in (
        result.nondeterminism
    )
    assert "Likely cause: the step took another path through the code" in result.nondeterminism
