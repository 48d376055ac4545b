"""Virtual time: timers never fire early, and the clock never goes backwards.

Checked twice over: by the program itself (``loop.time()`` after every ``sleep(d)`` is at
least ``d`` after it before, and the times in the log never decrease), on the loop's lean
batch loops; and by :class:`simprog.ClockChecker`, an instrument that sees every step and
every clock jump, on the observed batch loop.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from simprog import ClockChecker, Outcome, assert_finished, run_on_loop, run_sim
from simprog_strategies import fast, programs, seeds, variations

import simloop

NS = 1_000_000_000


def check_program_clock(outcome: Outcome, jitter_ns: int) -> None:
    """The program's own observations of the clock."""
    assert_finished(outcome)
    for who, requested, elapsed in outcome.sleeps:
        # Never early; late only by the jitter (time does not pass while anything is ready).
        assert requested <= elapsed <= requested + jitter_ns, (who, requested, elapsed)
    times = outcome.times
    assert times == sorted(times), "loop.time() went backwards"
    assert outcome.trace is not None
    assert outcome.trace.start_time_ns <= times[0]
    assert times[-1] <= outcome.trace.end_time_ns


def test_timers_never_early_and_clock_monotonic() -> None:
    seen: Counter[str] = Counter()

    @fast(150)
    @given(
        desc=programs(),
        seed=seeds,
        variation=variations,
        start_time=st.sampled_from([0.0, 1.5, 1e6 + 0.001]),
    )
    def check(
        desc: dict[str, Any], seed: int, variation: dict[str, Any], start_time: float
    ) -> None:
        jitter_ns = round(variation["timer_jitter"] * NS)
        # Without instruments: the lean batch loop.
        plain = run_sim(desc, seed=seed, start_time=start_time, **variation)
        check_program_clock(plain, jitter_ns)

        # With an instrument watching every step: the observed batch loop.
        checker = ClockChecker()
        loop = simloop.SimLoop(seed=seed, start_time=start_time, **variation)
        loop.add_instrument(checker)
        observed = run_on_loop(desc, loop)
        check_program_clock(observed, jitter_ns)
        assert checker.problems == []
        assert observed.observable() == plain.observable()
        assert observed.trace is not None
        # Time moved only by clock jumps the instrument saw, all of them forward.
        assert checker.last_ns == observed.trace.end_time_ns

        seen["runs"] += 1
        seen["timer steps"] += checker.timers
        seen["clock jumps"] += checker.advances
        late = [elapsed - requested for _, requested, elapsed in plain.sleeps]
        if any(late):
            seen["late timers"] += 1
            assert jitter_ns
        if jitter_ns and plain.sleeps:
            seen["jittered runs with sleeps"] += 1

    check()
    # The checks had something to check: timers fired, the clock jumped, and jitter made some
    # timers late (so the upper bound above is exercised, not vacuous).
    assert seen["timer steps"] >= seen["runs"], seen
    assert seen["clock jumps"] >= seen["runs"], seen
    assert seen["late timers"] >= seen["jittered runs with sleeps"] // 2 > 0, seen


@fast(60)
@given(desc=programs(), jitter=st.sampled_from([0.0007, 0.002]))
def test_fifo_timers_are_exactly_on_time(desc: dict[str, Any], jitter: float) -> None:
    """Fifo never deviates from stock order, so ``timer_jitter`` makes no timer late."""
    outcome = run_sim(desc, timer_jitter=jitter)
    check_program_clock(outcome, 0)
    assert outcome.trace is not None
    assert outcome.trace.choices == []
