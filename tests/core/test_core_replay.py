"""ReplayDivergenceError, Replay's options, and the replay note simloop.run adds to failures."""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
import sys
import textwrap
import threading

import pytest
from core_support import HASH_SEED_ADVICE, abandon, fifo_note

import simloop
from simloop import ReplayDivergenceError

REASON = (
    " The program changed since the recording, or it reads a source of nondeterminism simloop "
    "does not control."
)


async def two_sleepers() -> None:
    await asyncio.gather(asyncio.sleep(0), asyncio.sleep(0))


async def three_sleepers() -> None:
    await asyncio.gather(asyncio.sleep(0), asyncio.sleep(0), asyncio.sleep(0))


async def tied_timers() -> None:
    loop = asyncio.get_running_loop()
    loop.call_at(1, lambda: None)
    loop.call_at(1, lambda: None)
    await asyncio.sleep(2)


def diverge(main, scheduler: simloop.Replay) -> ReplayDivergenceError:
    """Run ``main`` on a SimLoop until the replay diverges; then abandon the loop."""
    loop = simloop.SimLoop(scheduler=scheduler)
    try:
        with pytest.raises(ReplayDivergenceError) as info:
            loop.run_until_complete(main)
    finally:
        abandon(loop)  # it cannot run its leftovers: see test_run_cleans_up_after_a_divergence
    return info.value


def test_divergence_on_the_number_of_options() -> None:
    err = diverge(two_sleepers(), simloop.Replay([1], [3]))
    assert str(err) == (
        "replay diverged at choice 0: the recording chose option 1 of 3 at a 'ready' choice, "
        "but this run makes a 'ready' choice with 2 options there (where option 1 would mean: "
        "ran ahead of Task-3 (sleep))." + REASON
    )
    assert (err.step, err.expected, err.found) == (
        0,
        "option 1 of 3 at a 'ready' choice",
        "a 'ready' choice with 2 options",
    )
    assert isinstance(err, simloop.SimulationError)


def test_divergence_on_a_choice_out_of_range() -> None:
    # No recorded option counts: a choice the run cannot make is the divergence.
    err = diverge(two_sleepers(), simloop.Replay([2]))
    assert str(err) == (
        "replay diverged at choice 0: the recording chose option 2 at a 'ready' choice, but "
        "this run makes a 'ready' choice with 2 options there." + REASON
    )
    assert (err.step, err.expected, err.found) == (
        0,
        "option 2 at a 'ready' choice",
        "a 'ready' choice with 2 options",
    )


def test_divergence_names_the_kind_of_choice() -> None:
    err = diverge(tied_timers(), simloop.Replay([0], [3]))
    assert str(err) == (
        "replay diverged at choice 0: the recording chose option 0 of 3 at a 'timer.tie' "
        "choice, but this run makes a 'timer.tie' choice with 2 options there (where option 0 "
        "would mean: fired in the order the timers were scheduled)." + REASON
    )


def test_divergence_on_the_kind_of_choice() -> None:
    # Same number of options, another kind of decision: still a divergence.
    err = diverge(tied_timers(), simloop.Replay([1], [2], kinds=["ready"]))
    assert str(err) == (
        "replay diverged at choice 0: the recording chose option 1 of 2 at a 'ready' choice, "
        "but this run makes a 'timer.tie' choice with 2 options there (where option 1 would "
        "mean: fired before timer tied_timers.<locals>.<lambda>, due at the same time)." + REASON
    )


def test_trace_of_another_program_diverges_at_the_first_difference() -> None:
    loop = simloop.SimLoop(seed=1)
    try:
        loop.run_until_complete(three_sleepers())
        trace = loop.trace
    finally:
        loop.close()
    assert trace.options[:2] == [2, 3]
    err = diverge(two_sleepers(), trace.replay_scheduler())
    assert err.step == 1
    assert err.expected == f"option {trace.choices[1]} of 3 at a 'ready' choice"
    assert err.found == "a 'ready' choice with 2 options"


def test_non_strict_replay_clamps_instead_of_diverging() -> None:
    scheduler = simloop.Replay([5, 1], [3, 3], strict=False)
    loop = simloop.SimLoop(scheduler=scheduler)
    try:
        loop.run_until_complete(two_sleepers())
        assert loop.trace.choices[:2] == [1, 1]  # 5 clamped to the last of 2 options
        assert scheduler.position == len(loop.trace.choices)
    finally:
        loop.close()


# --- a replay that ends before its recording -------------------------------------------------


def long_and_short(long: bool):
    """A program whose run with ``long`` makes every choice of its short run, then more."""

    async def main() -> None:
        await two_sleepers()
        if long:
            await three_sleepers()

    return main


def recording_of_the_long_run() -> simloop.Trace:
    loop = simloop.SimLoop(seed=3)
    try:
        loop.run_until_complete(long_and_short(True)())
        trace = loop.trace
    finally:
        loop.close()
    assert len(trace.choices) > 2
    return trace


def ended_early(trace: simloop.Trace, at: int) -> str:
    return (
        f"replay diverged at choice {at}: the recording has {len(trace.choices)} choices, but "
        f"this run ended after {at} choices (the recording chose option {trace.choices[at]} of "
        f"{trace.options[at]} at a 'ready' choice next)." + REASON
    )


def test_a_replay_that_ends_before_its_recording_diverged() -> None:
    trace = recording_of_the_long_run()
    short = long_and_short(False)
    made = len(simloop.replay(short, trace, strict=False).trace.choices)
    assert 0 < made < len(trace.choices)
    assert trace.choices[:made] == simloop.replay(short, trace, strict=False).trace.choices

    result = simloop.replay(short, trace)
    assert result.failure is not None
    assert result.failure.kind == "divergence"
    error = result.failure.exception
    assert str(error) == ended_early(trace, made)
    assert (error.step, error.found) == (made, "the end of the run")

    with pytest.raises(ReplayDivergenceError) as caught:
        simloop.run(short(), replay=trace.token)
    assert str(caught.value) == ended_early(trace, made)


def test_a_replay_that_ends_early_diverges_under_asyncio_runner_too() -> None:
    trace = recording_of_the_long_run()
    short = long_and_short(False)
    made = len(simloop.replay(short, trace, strict=False).trace.choices)

    def factory() -> simloop.SimLoop:
        return simloop.SimLoop(**trace.loop_options())

    # Raised by the Runner's __exit__, which closes the loop.
    with pytest.raises(ReplayDivergenceError) as caught, asyncio.Runner(loop_factory=factory) as r:
        r.run(short())
    assert str(caught.value) == ended_early(trace, made)


def test_a_replay_followed_to_its_end_or_lenient_passes() -> None:
    trace = recording_of_the_long_run()
    assert simloop.replay(long_and_short(True), trace).failure is None
    assert simloop.replay(long_and_short(False), trace, strict=False).failure is None
    # A hand-written prefix: past its end, every answer is asyncio's.
    assert simloop.run(long_and_short(True)(), scheduler=simloop.Replay([0, 1])) is None


def test_a_prefix_whose_deviation_is_never_reached_diverges() -> None:
    scheduler = simloop.Replay([0, 0, 0, 0, 0, 1])
    loop = simloop.SimLoop(scheduler=scheduler)
    loop.run_until_complete(two_sleepers())
    with pytest.raises(ReplayDivergenceError) as caught:
        loop.close()
    assert loop.is_closed()
    assert caught.value.step == scheduler.position
    assert caught.value.expected == "option 0"  # the next choice the run did not make


def test_a_failure_is_not_replaced_by_the_early_end() -> None:
    """A replay that fails before the end of its recording reports the failure; closing the
    loop while it propagates (asyncio.Runner's cleanup) does not replace it."""

    async def fails() -> None:
        await two_sleepers()
        raise RuntimeError("the program's own failure")

    def factory() -> simloop.SimLoop:
        return simloop.SimLoop(scheduler=simloop.Replay([0] * 20))

    failure = pytest.raises(RuntimeError, match="the program's own failure")
    with failure, asyncio.Runner(loop_factory=factory) as runner:
        runner.run(fails())


def test_run_cleans_up_after_a_divergence() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await two_sleepers()

    def unstick() -> None:
        # A call from a foreign thread makes the loop stop at its next batch boundary.
        try:
            loops[0].call_soon_threadsafe(lambda: None)
        except Exception:
            pass

    watchdog = threading.Timer(1.0, unstick)
    watchdog.start()
    try:
        with pytest.raises(ReplayDivergenceError) as info:
            simloop.run(main(), scheduler=simloop.Replay([1], [3]))
    finally:
        watchdog.cancel()
        watchdog.join()
    assert info.value.__notes__ == [
        "simloop: the run left its recorded schedule after 2 steps at virtual time 0s; the "
        "recording does not match this program, so there is nothing to replay."
    ]


# --- the replay note --------------------------------------------------------------------------


async def racy() -> None:
    await three_sleepers()
    await asyncio.sleep(0.5)
    raise RuntimeError("failed")


def failure_notes(main, **options) -> list[str]:
    with pytest.raises(RuntimeError) as info:
        simloop.run(main, **options)
    return info.value.__notes__


def test_note_for_fifo() -> None:
    assert failure_notes(racy()) == [fifo_note(14, "0.5")]
    assert failure_notes(racy(), scheduler=simloop.Fifo()) == [fifo_note(14, "0.5")]


def test_note_for_random_walk() -> None:
    assert failure_notes(racy(), seed=1) == [
        "simloop: failed under RandomWalk(seed=1) after 14 steps at virtual time 0.5s, 3 "
        "deviations from asyncio's order. Replay it exactly with seed=1 and the same program."
        + HASH_SEED_ADVICE
    ]


def test_note_for_replay() -> None:
    (note,) = failure_notes(racy(), scheduler=simloop.Replay([1, 0]), seed=3)
    token = token_in(note)
    assert note == (
        "simloop: failed under Replay(2 choices) after 14 steps at virtual time 0.5s, 1 "
        "deviation from asyncio's order. Replay it exactly with "
        f"simloop.run(..., replay={token!r}) and the same program." + HASH_SEED_ADVICE
    )
    # The token holds the whole schedule, seed included: following the note reproduces the note.
    assert failure_notes(racy(), replay=token) == [
        note.replace("Replay(2 choices)", "Replay(7 choices)")
    ]


def token_in(note: str) -> str:
    match = re.search(r"replay='(sl2-[^']+)'", note)
    assert match is not None, note
    return match.group(1)


async def crowd() -> None:
    async def worker() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(10)))
    raise RuntimeError("failed")


def test_note_for_a_long_replayed_schedule() -> None:
    (note,) = failure_notes(crowd(), scheduler=simloop.Replay([]))
    assert note == (
        "simloop: failed under Replay(0 choices) after 73 steps at virtual time 0s, 0 deviations "
        f"from asyncio's order. Replay it exactly with simloop.run(..., replay={token_in(note)!r}) "
        "and the same program." + HASH_SEED_ADVICE
    )


def test_following_the_note_reproduces_the_failure() -> None:
    async def draws() -> None:
        values = []

        async def draw() -> None:
            await asyncio.sleep(0)
            values.append(random.random())

        await asyncio.gather(draw(), draw(), draw())
        raise RuntimeError(repr(values))

    with pytest.raises(RuntimeError) as first:
        simloop.run(draws(), seed=11)
    assert "Replay it exactly with seed=11 and the same program." in first.value.__notes__[0]
    with pytest.raises(RuntimeError) as again:
        simloop.run(draws(), seed=11)
    assert str(again.value) == str(first.value)
    assert again.value.__notes__ == first.value.__notes__


def test_note_for_random_walk_with_its_own_seed_keeps_the_run_seed() -> None:
    async def draws() -> None:
        await asyncio.sleep(0)
        raise RuntimeError(f"drew {random.random()}")

    with pytest.raises(RuntimeError) as info:
        simloop.run(draws(), seed=9, scheduler=simloop.RandomWalk(4))
    (note,) = info.value.__notes__
    assert simloop.Trace.from_token(token_in(note)).seed == 9
    with pytest.raises(RuntimeError) as again:
        simloop.run(draws(), replay=token_in(note))
    assert str(again.value) == str(info.value)


def test_note_has_no_hash_seed_advice_when_the_hash_seed_is_pinned() -> None:
    program = textwrap.dedent(
        """
        import asyncio, simloop
        async def main():
            await asyncio.sleep(1)
            raise RuntimeError("x")
        try:
            simloop.run(main())
        except RuntimeError as exc:
            print(exc.__notes__[0])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", program],
        env={"PYTHONHASHSEED": "0", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == (
        "simloop: failed in stock asyncio's order (Fifo scheduler) after 4 steps at virtual "
        "time 1s. No other interleaving was involved: it fails the same way on every run.\n"
    )


# --- every entry point replays with the loop options the recording fixes ----------------------


async def busy_with_timers() -> list[tuple[str, float]]:
    """Callbacks, sleeps of different lengths and a timeout: something for every recorded
    option to change."""
    loop = asyncio.get_running_loop()
    log: list[tuple[str, float]] = []

    async def worker(name: str, seconds: float) -> None:
        for _ in range(2):
            loop.call_soon(log.append, (f"{name}-callback", loop.time()))
            await asyncio.sleep(seconds)
            log.append((name, loop.time()))

    await asyncio.gather(worker("a", 0.1), worker("b", 0.15), worker("c", 0.2))
    return log


RECORDED_OPTIONS = [
    {"shuffle": True},
    {"timer_jitter": 0.3},
    {"sleep_jitter": 0.3},
    {"start_time": 7.0},
    {"max_steps": 10_000},
    {"max_time": 100.0},
    {"epoch": 1e9},
    {"fail_on_unhandled": False},
    {"shuffle": True, "timer_jitter": 0.05, "sleep_jitter": 0.05},
]


@pytest.mark.parametrize("options", RECORDED_OPTIONS, ids=lambda o: ",".join(o))
def test_every_entry_point_replays_with_the_recorded_options(options: dict[str, object]) -> None:
    loop = simloop.SimLoop(seed=11, **options)  # type: ignore[arg-type]
    try:
        expected = loop.run_until_complete(busy_with_timers())
    finally:
        loop.close()
    trace = loop.trace
    assert {k: trace.settings[k] for k in options} == options
    token = trace.token
    # No option given: the token brings its own.
    assert simloop.run(busy_with_timers(), replay=token) == expected
    replayed = simloop.replay(busy_with_timers, token)
    assert replayed.failure is None
    assert replayed.value == expected
    assert replayed.trace.fingerprint() == trace.fingerprint()
    # The same value given beside it is accepted; another is refused, naming both.
    assert simloop.run(busy_with_timers(), replay=token, **options) == expected
    for name, value in options.items():
        other = (not value) if isinstance(value, bool) else value * 2  # type: ignore[operator]
        pattern = re.escape(f"`{name}`={other!r} (recorded: {value!r}) contradicts the recording")
        with pytest.raises(simloop.InvalidArgumentError, match=pattern):
            simloop.run(busy_with_timers(), replay=token, **{name: other})
        with pytest.raises(simloop.InvalidArgumentError, match=pattern):
            simloop.replay(busy_with_timers, token, **{name: other})
