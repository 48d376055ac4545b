"""Replay: a recorded schedule runs the same program the same way again.

``loop.trace`` replays through ``trace.loop_options()``, through ``Replay(choices, options)``
with the same seed and loop settings, and after a save/load round trip. ``Replay([])`` (and
any schedule of zeros) is stock order: the same run as ``Fifo``, whatever ``shuffle`` and
``timer_jitter`` say. And replay really follows the schedule: change one choice and the run
follows the change.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st
from simprog import assert_same_run, run_sim, run_simloop_run
from simprog_strategies import fast, programs, seeds, variations

import simloop


@fast(100)
@given(desc=programs(), seed=seeds, variation=variations)
def test_replaying_a_trace_reproduces_the_run(
    desc: dict[str, Any], seed: int, variation: dict[str, Any]
) -> None:
    original = run_sim(desc, seed=seed, **variation)
    trace = original.trace
    assert trace is not None

    assert_same_run(original, run_sim(desc, **trace.loop_options()))
    replay = simloop.Replay(trace.choices, trace.options)
    assert_same_run(original, run_sim(desc, seed=seed, scheduler=replay, **variation))
    assert replay.position == len(trace.choices)
    # simloop.run takes the same options.
    via_run = run_simloop_run(desc, seed=seed, **variation)
    assert via_run.trace is not None
    assert_same_run(via_run, run_simloop_run(desc, **via_run.trace.loop_options()))

    with tempfile.TemporaryDirectory() as directory:
        path = trace.save(Path(directory) / "run.json")
        loaded = simloop.Trace.load(path)
    assert loaded.fingerprint() == trace.fingerprint()
    assert_same_run(original, run_sim(desc, **loaded.loop_options()))


@fast(60)
@given(desc=programs(), seed=seeds, variation=variations)
def test_replaying_a_replay_is_a_fixed_point(
    desc: dict[str, Any], seed: int, variation: dict[str, Any]
) -> None:
    """The trace of a replay replays to the same run again (and so on)."""
    original = run_sim(desc, seed=seed, **variation)
    assert original.trace is not None
    first = run_sim(desc, **original.trace.loop_options())
    assert first.trace is not None
    second = run_sim(desc, **first.trace.loop_options())
    assert_same_run(original, first)
    assert_same_run(first, second)


@fast(100)
@given(
    desc=programs(),
    variation=variations,
    zeros=st.integers(0, 20),
    seed=st.none() | seeds,
)
def test_an_all_zero_schedule_is_fifo(
    desc: dict[str, Any], variation: dict[str, Any], zeros: int, seed: int | None
) -> None:
    """Option 0 is stock order at every choice point, in every mode of the loop."""
    fifo = run_sim(desc)
    assert fifo.trace is not None
    assert fifo.trace.choices == []
    assert run_sim(desc, scheduler=simloop.Fifo(), seed=seed, **variation).fingerprint() == (
        fifo.fingerprint()
    )
    # Lenient: a strict replay of more zeros than the run makes choices diverges at its end.
    zeros_first = simloop.Replay([0] * zeros, strict=False)
    replay = run_sim(desc, scheduler=zeros_first, seed=seed, **variation)
    assert replay.observable() == fifo.observable()
    assert replay.fingerprint() == fifo.fingerprint()
    assert replay.trace is not None
    assert set(replay.trace.choices) <= {0}
    assert replay.trace.steps == fifo.trace.steps
    assert replay.trace.end_time_ns == fifo.trace.end_time_ns


def test_changing_one_choice_changes_the_run() -> None:
    """Replay follows the schedule it is given, so the properties above can fail.

    Replaying a RandomWalk trace with one choice changed (and zeros after it) makes exactly
    that choice, so the fingerprint differs; and in many programs the log differs too.
    """
    seen: Counter[str] = Counter()

    @fast(100)
    @given(desc=programs(), seed=seeds, data=st.data())
    def check(desc: dict[str, Any], seed: int, data: st.DataObject) -> None:
        original = run_sim(desc, seed=seed)
        trace = original.trace
        assert trace is not None
        assume(trace.choices)
        i = data.draw(st.integers(0, len(trace.choices) - 1), label="index")
        n = trace.options[i]
        new = data.draw(st.integers(0, n - 2).map(lambda c: c + (c >= trace.choices[i])))
        prefix = [*trace.choices[:i], new]
        changed = run_sim(desc, seed=seed, scheduler=simloop.Replay(prefix, strict=False))
        assert changed.trace is not None
        assert changed.trace.choices[: i + 1] == prefix
        assert set(changed.trace.choices[i + 1 :]) <= {0}
        assert changed.fingerprint() != original.fingerprint()
        seen["changed"] += 1
        if changed.observable()["log"] != original.observable()["log"]:
            seen["log changed"] += 1

    check()
    assert seen["log changed"] >= seen["changed"] // 3, seen
