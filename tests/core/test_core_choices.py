"""Choice points: what each scheduler may reorder, and what it must keep in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import simloop


async def interleaved() -> list[str]:
    """Three tasks that step in turn, plus callbacks and timers: a log of who ran when."""
    log: list[str] = []
    loop = asyncio.get_running_loop()

    async def worker(name: str) -> None:
        for i in range(3):
            log.append(f"{name}{i}")
            await asyncio.sleep(0)
        loop.call_soon(log.append, f"{name}-callback")
        await asyncio.sleep(0.5)
        log.append(f"{name}-woke")

    await asyncio.gather(worker("a"), worker("b"), worker("c"))
    return log


def run_on(loop: asyncio.AbstractEventLoop, main: Callable[[], object]) -> object:
    try:
        return loop.run_until_complete(main())  # type: ignore[arg-type]
    finally:
        loop.close()


def test_empty_replay_runs_in_fifo_order() -> None:
    stock = run_on(asyncio.new_event_loop(), interleaved)
    fifo_loop = simloop.SimLoop()
    replay_loop = simloop.SimLoop(scheduler=simloop.Replay([]))
    fifo = fifo_loop.run_until_complete(interleaved())
    replayed = replay_loop.run_until_complete(interleaved())
    try:
        assert fifo == stock
        assert replayed == fifo
        assert fifo_loop.steps == replay_loop.steps
        # Fifo makes no choices; a Replay past its end answers 0 to each one it makes.
        assert fifo_loop.trace.choices == []
        assert replay_loop.trace.choices
        assert set(replay_loop.trace.choices) == {0}
        assert replay_loop.trace.deviations == 0
    finally:
        fifo_loop.close()
        replay_loop.close()


def test_random_walk_reorders_independent_steps_and_is_deterministic() -> None:
    by_seed = {seed: simloop.run(interleaved(), seed=seed) for seed in range(12)}
    assert len({tuple(log) for log in by_seed.values()}) > 1
    assert simloop.run(interleaved(), seed=5) == by_seed[5]
    for log in by_seed.values():
        for name in "abc":
            mine = [entry for entry in log if entry.startswith(name)]
            # A task's own steps stay in program order, whatever the schedule.
            assert mine == [f"{name}0", f"{name}1", f"{name}2", f"{name}-callback", f"{name}-woke"]


async def event_waiters() -> tuple[list[int], list[int]]:
    event = asyncio.Event()
    waiting: list[int] = []
    woken: list[int] = []

    async def waiter(i: int) -> None:
        await asyncio.sleep(0)
        waiting.append(i)  # the same step as event.wait() queues the waiter
        await event.wait()
        woken.append(i)

    tasks = [asyncio.create_task(waiter(i)) for i in range(6)]
    while len(waiting) < 6:
        await asyncio.sleep(0)
    event.set()  # one step wakes every waiter: its callbacks form one lane
    await asyncio.gather(*tasks)
    return waiting, woken


def test_event_set_wakes_waiters_in_order_under_every_seed() -> None:
    orders_waited = set()
    for seed in range(60):
        waiting, woken = simloop.run(event_waiters(), seed=seed)
        assert woken == waiting, seed
        orders_waited.add(tuple(waiting))
    assert len(orders_waited) > 1  # the waiters did queue up in different orders


def test_shuffle_can_reorder_callbacks_of_one_step() -> None:
    reordered = []
    for seed in range(60):
        waiting, woken = simloop.run(event_waiters(), seed=seed, shuffle=True)
        assert sorted(woken) == sorted(waiting)
        if woken != waiting:
            reordered.append(seed)
    assert reordered, "no seed made shuffle=True wake the waiters out of order"


class ChoiceLog(simloop.Instrument):
    def __init__(self) -> None:
        self.choices: list[tuple[str, int, int]] = []

    def choice_made(
        self,
        loop: simloop.SimLoop,
        point: simloop.lowlevel.ChoicePoint,
        choice: int,
    ) -> None:
        self.choices.append((point.kind, point.n, choice))


def tied_timers(
    loop: simloop.SimLoop, *, instrument: ChoiceLog | None = None
) -> tuple[list[str], simloop.Trace]:
    fired: list[str] = []
    if instrument is not None:
        loop.add_instrument(instrument)
    try:
        loop.call_at(1, fired.append, "first")
        loop.call_at(1, fired.append, "second")
        loop.call_at(2, loop.stop)
        loop.run_forever()
        return fired, loop.trace
    finally:
        loop.close()


def test_fifo_fires_tied_timers_in_scheduling_order() -> None:
    for _ in range(3):
        fired, trace = tied_timers(simloop.SimLoop())
        assert fired == ["first", "second"]
        assert trace.choices == []


def test_random_walk_can_fire_tied_timers_the_other_way() -> None:
    outcomes = {seed: tied_timers(simloop.SimLoop(seed=seed)) for seed in range(20)}
    reversed_seeds = [s for s, (fired, _) in outcomes.items() if fired == ["second", "first"]]
    in_order_seeds = [s for s, (fired, _) in outcomes.items() if fired == ["first", "second"]]
    assert reversed_seeds
    assert in_order_seeds
    assert len(reversed_seeds) + len(in_order_seeds) == 20
    # The only choice is the tie: option 1 picks the later-scheduled timer first.
    for seed in reversed_seeds:
        assert (outcomes[seed][1].choices, outcomes[seed][1].options) == ([1], [2])
    for seed in in_order_seeds:
        assert (outcomes[seed][1].choices, outcomes[seed][1].options) == ([0], [2])
    # An instrument sees the kind of the choice.
    log = ChoiceLog()
    fired, _ = tied_timers(simloop.SimLoop(seed=reversed_seeds[0]), instrument=log)
    assert fired == ["second", "first"]
    assert log.choices == [("timer.tie", 2, 1)]


def test_replay_of_a_tie_choice() -> None:
    fired, _ = tied_timers(simloop.SimLoop(scheduler=simloop.Replay([1])))
    assert fired == ["second", "first"]


async def sleeper_times(n: int) -> list[tuple[float, float]]:
    """(deadline asked for, time it fired) for n timers."""
    loop = asyncio.get_running_loop()
    fired: list[tuple[float, float]] = []
    done = loop.create_future()

    def fire(asked: float) -> None:
        fired.append((asked, loop.time()))
        if len(fired) == n and not done.done():
            done.set_result(None)

    for i in range(n):
        handle = loop.call_later(1 + i / 10, fire, 1 + i / 10)
        assert handle.when() == 1 + i / 10  # the handle shows the deadline asked for
    await done
    return fired


def test_timer_jitter_never_fires_early_and_sometimes_late() -> None:
    late = 0
    for seed in range(15):
        fired = simloop.run(sleeper_times(5), seed=seed, timer_jitter=0.5)
        for asked, at in fired:
            assert asked <= at <= asked + 0.5, (seed, asked, at)
            late += at > asked
        # A late loop fires what is due in deadline order: it never reorders timers.
        assert [asked for asked, _ in fired] == sorted(asked for asked, _ in fired), fired
    assert late > 0


def test_timer_jitter_is_the_loops_lateness_a_recorded_choice() -> None:
    """One "timer.jitter" choice each time the clock moves to the next timer: the loop wakes
    up k sevenths of the jitter late, and every timer due by then fires."""
    for seed in range(10):
        log = ChoiceLog()
        loop = simloop.SimLoop(seed=seed, timer_jitter=0.5)
        loop.add_instrument(log)
        try:
            fired = loop.run_until_complete(sleeper_times(3))
        finally:
            loop.close()
        jitters = [(n, c) for kind, n, c in log.choices if kind == "timer.jitter"]
        assert all(n == 8 for n, _ in jitters)
        # Each wake-up fires the timers due by then, all at the time the loop woke up.
        wake_ups = sorted({at for _, at in fired})
        assert len(jitters) == len(wake_ups)
        deadlines = sorted(asked for asked, _ in fired)
        pending = list(deadlines)
        for (_, c), woke in zip(jitters, wake_ups, strict=True):
            assert woke == pytest.approx(pending[0] + c * (0.5 / 7), abs=1e-6)
            due = [d for d in pending if d <= woke + 1e-9]
            assert {asked for asked, at in fired if at == woke} == set(due)
            pending = pending[len(due) :]
        assert not pending


async def sleeps_of(delays: list[float]) -> list[tuple[float, float]]:
    """(delay asked for, time the sleep ended) for one sleeping task per delay."""
    loop = asyncio.get_running_loop()
    ended: list[tuple[float, float]] = []

    async def sleeper(delay: float) -> None:
        await asyncio.sleep(delay)
        ended.append((delay, loop.time()))

    await asyncio.gather(*(sleeper(d) for d in delays))
    return ended


def test_sleep_jitter_lengthens_sleeps_only_and_may_reorder_them() -> None:
    reordered = late = 0
    for seed in range(30):
        loop = simloop.SimLoop(seed=seed, sleep_jitter=0.7)
        log = ChoiceLog()
        loop.add_instrument(log)
        try:
            timer_fired: list[float] = []
            loop.call_later(1.2, timer_fired.append, 1.2)
            ended = loop.run_until_complete(sleeps_of([1.0, 1.5]))
        finally:
            loop.close()
        assert timer_fired == [1.2]  # a call_later timer is never stretched
        assert loop.trace.kinds is not None
        for delay, at in ended:
            assert delay <= at <= delay + 0.7 + 1e-9
            late += at > delay
        reordered += [d for d, _ in ended] == [1.5, 1.0]
        kinds = [kind for kind, _, _ in log.choices]
        assert kinds.count("sleep.jitter") == 2, kinds  # one per sleep, none for the timer
    assert late > 0
    assert reordered > 0  # the 1.0 s sleep ran longer than the 1.5 s one


def test_sleep_jitter_is_replayed_from_its_token() -> None:
    async def main() -> list[tuple[float, float]]:
        return await sleeps_of([1.0, 1.5])

    loop = simloop.SimLoop(seed=3, sleep_jitter=0.7, timer_jitter=0.1)
    try:
        expected = loop.run_until_complete(main())
        token = loop.trace.token
    finally:
        loop.close()
    replayed = simloop.replay(main, token)
    assert replayed.value == expected
    recorded = replayed.trace.settings
    assert recorded["sleep_jitter"] == 0.7
    assert recorded["timer_jitter"] == 0.1


def test_fifo_ignores_timer_jitter() -> None:
    fired = simloop.run(sleeper_times(5), timer_jitter=0.5)
    assert all(asked == at for asked, at in fired)


class StepCounter(simloop.Instrument):
    """Counts the steps it is told about; with ``leave_after``, removes itself after that many."""

    def __init__(self, leave_after: int | None = None) -> None:
        self.started = 0
        self.finished = 0
        self.leave_after = leave_after

    def step_started(self, loop, index, handle, choice, options, stock):  # type: ignore[no-untyped-def]
        self.started += 1

    def step_finished(self, loop, index, handle):  # type: ignore[no-untyped-def]
        self.finished += 1
        if self.finished == self.leave_after:
            loop.remove_instrument(self)


async def three_steps() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


@pytest.mark.parametrize("seed", [None, 3])
def test_an_instrument_removing_itself_in_a_hook_makes_no_other_miss_the_step(
    seed: int | None,
) -> None:
    reference = StepCounter()
    loop = simloop.SimLoop(seed=seed)
    loop.add_instrument(reference)
    loop.run_until_complete(three_steps())
    loop.close()

    leaving, staying = StepCounter(leave_after=1), StepCounter()
    loop = simloop.SimLoop(seed=seed)
    loop.add_instrument(leaving)
    loop.add_instrument(staying)
    loop.run_until_complete(three_steps())
    loop.close()
    assert (leaving.started, leaving.finished) == (1, 1)
    assert (staying.started, staying.finished) == (reference.started, reference.finished)
    assert reference.finished >= 3


def test_an_instrument_added_first_hears_of_a_step_before_the_others() -> None:
    heard: list[str] = []

    class Named(simloop.Instrument):
        def __init__(self, name: str) -> None:
            self.name = name

        def step_started(self, loop, index, handle, choice, options, stock):  # type: ignore[no-untyped-def]
            heard.append(self.name)

    loop = simloop.SimLoop()
    loop.add_instrument(Named("second"))
    loop.add_instrument(Named("first"), first=True)
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    assert heard[:2] == ["first", "second"]


def test_removing_an_instrument_that_is_not_attached_says_so() -> None:
    loop = simloop.SimLoop()
    stray = StepCounter()
    with pytest.raises(ValueError, match="is not attached to this loop"):
        loop.remove_instrument(stray)
    loop.close()
