"""Virtual time and the loop's asyncio semantics: timers, stop(), steps, traces, task names."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from core_support import wall_clock

import simloop


def test_ten_sleeps_of_a_tenth_read_exactly_one() -> None:
    async def main() -> float:
        for _ in range(10):
            await asyncio.sleep(0.1)
        return asyncio.get_running_loop().time()

    assert simloop.run(main()) == 1.0
    total = 0.0
    for _ in range(10):
        total += 0.1
    assert total != 1.0  # what float arithmetic would have given


def test_an_hour_of_sleep_takes_no_real_time() -> None:
    async def main() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    started = wall_clock()  # the real clock: inside the run perf_counter is virtual
    assert simloop.run(main()) == 3600.0
    assert wall_clock() - started < 0.5


def test_start_time() -> None:
    loop = simloop.SimLoop(start_time=42.5)
    try:
        assert loop.time() == 42.5
        loop.run_until_complete(asyncio.sleep(1))
        assert loop.time() == 43.5
        assert loop.trace.start_time_ns == 42_500_000_000
        assert loop.trace.end_time_ns == 43_500_000_000
    finally:
        loop.close()


def test_call_later_call_at_and_when() -> None:
    loop = simloop.SimLoop(start_time=10)
    fired: list[tuple[str, float]] = []

    def record(name: str) -> None:
        fired.append((name, loop.time()))

    try:
        later = loop.call_later(2.5, record, "later")
        at = loop.call_at(11.25, record, "at")
        soon = loop.call_later(0, record, "zero")
        assert later.when() == 12.5
        assert at.when() == 11.25
        assert soon.when() == 10.0
        loop.call_at(13, loop.stop)
        loop.run_forever()
    finally:
        loop.close()
    assert fired == [("zero", 10.0), ("at", 11.25), ("later", 12.5)]


TRICKY_DELAYS = (0.3, 0.1 + 0.2, 1 / 3, 2 / 3, 1e-9, 1.5e-9, 123.456789, 1e-10)


def test_sleeps_never_end_early() -> None:
    # Each float delay becomes whole nanoseconds; rounding must never make a sleep shorter.
    async def main() -> list[tuple[float, int]]:
        slept = []
        for delay in TRICKY_DELAYS:
            start = time.monotonic_ns()  # virtual, exact
            await asyncio.sleep(delay)
            slept.append((delay, time.monotonic_ns() - start))
        return slept

    for delay, ns in simloop.run(main(), start_time=0.7):
        assert ns / 1e9 >= delay, (delay, ns)


def test_call_at_never_fires_early() -> None:
    loop = simloop.SimLoop()
    fired: list[tuple[float, float]] = []
    try:
        for when in (0.1 + 0.2, 1 / 3, 2 / 3 + 1e-9, 7.000000000000001):
            loop.call_at(when, lambda when=when: fired.append((when, loop.time())))
        loop.call_at(10, loop.stop)
        loop.run_forever()
    finally:
        loop.close()
    assert len(fired) == 4
    assert all(at >= when for when, at in fired), fired


def test_cancelled_timers_do_not_fire() -> None:
    fired: list[str] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        handle = loop.call_later(1, fired.append, "cancelled")
        loop.call_later(2, fired.append, "kept")
        handle.cancel()
        await asyncio.sleep(3)
        return loop.time()

    assert simloop.run(main()) == 3.0
    assert fired == ["kept"]


def test_cancelled_timers_do_not_keep_the_loop_alive() -> None:
    loop = simloop.SimLoop()
    fired: list[str] = []
    try:
        loop.call_later(100, fired.append, "far").cancel()
        with pytest.raises(simloop.DeadlockError, match=r"^deadlock at t=0s: the loop is running"):
            loop.run_forever()
        assert loop.time() == 0  # the clock did not jump to the cancelled timer
    finally:
        loop.close()
    assert fired == []


def test_many_cancelled_timers_are_dropped() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        for i in range(500):
            loop.call_later(1000 + i, print).cancel()
        await asyncio.sleep(1)
        return loop.time()

    assert simloop.run(main()) == 1.0


def test_a_timer_that_never_comes_is_a_deadlock_not_a_wait() -> None:
    loop = simloop.SimLoop()
    try:
        loop.call_later(math.inf, print)
        loop.call_at(math.inf, print)
        with pytest.raises(simloop.DeadlockError):
            loop.run_forever()
        assert loop.time() == 0
    finally:
        loop.close()


def test_call_later_infinity_reports_an_infinite_deadline() -> None:
    loop = simloop.SimLoop()
    try:
        assert loop.call_at(math.inf, print).when() == math.inf
        assert loop.call_later(math.inf, print).when() == math.inf
    finally:
        loop.close()


def stop_scenario(loop: asyncio.AbstractEventLoop) -> list[str]:
    """stop() in the middle of a batch, and a callback scheduled by the batch's last one."""
    log: list[str] = []

    def first() -> None:
        log.append("first")
        loop.stop()

    def last() -> None:
        log.append("last")
        loop.call_soon(log.append, "next batch")

    loop.call_soon(first)
    loop.call_soon(last)
    loop.run_forever()
    log.append("| returned")
    loop.stop()  # stop() before run_forever(): run what is ready, then return
    loop.run_forever()
    log.append("| returned")
    return log


@pytest.mark.parametrize(
    "factory", [asyncio.new_event_loop, simloop.SimLoop, lambda: simloop.SimLoop(seed=1)]
)
def test_stop_finishes_the_batch_like_stock_asyncio(
    factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    loop = factory()
    try:
        log = stop_scenario(loop)
    finally:
        loop.close()
    assert log == ["first", "last", "| returned", "next batch", "| returned"]


def test_run_forever_with_a_pending_timer_returns_at_stop() -> None:
    loop = simloop.SimLoop()
    try:
        loop.call_later(5, loop.stop)
        loop.run_forever()
        assert loop.time() == 5.0
        assert not loop.is_running()
    finally:
        loop.close()


def test_steps_and_trace_basics() -> None:
    loop = simloop.SimLoop()
    try:
        assert loop.steps == 0
        loop.run_until_complete(asyncio.sleep(0))
        # The task's two steps, then its done callback that stops the loop.
        assert loop.steps == 3
        trace = loop.trace
    finally:
        loop.close()
    assert trace.steps == 3
    assert (trace.choices, trace.options, trace.deviations) == ([], [], 0)
    assert (trace.seed, trace.scheduler) == (None, "Fifo()")
    assert (trace.start_time_ns, trace.end_time_ns, trace.end_time) == (0, 0, 0.0)
    assert trace.events is None


def test_trace_records_choices_and_events() -> None:
    async def main() -> None:
        await asyncio.gather(asyncio.sleep(0), asyncio.sleep(0.5))

    loop = simloop.SimLoop(seed=2, record_events=True)
    try:
        loop.run_until_complete(main())
        trace = loop.trace
    finally:
        loop.close()
    assert (trace.seed, trace.scheduler) == (2, "RandomWalk(seed=2)")
    assert len(trace.choices) == len(trace.options) >= 1
    assert all(0 <= c < n for c, n in zip(trace.choices, trace.options, strict=True))
    assert trace.deviations == sum(1 for c in trace.choices if c)
    assert trace.events is not None
    assert [e.index for e in trace.events] == list(range(trace.steps))
    assert trace.events[0].label.startswith("Task-1")
    assert trace.events[-1].time_ns == 500_000_000


def test_task_names_are_numbered_per_loop() -> None:
    async def main() -> list[str]:
        tasks = [asyncio.create_task(asyncio.sleep(0)) for _ in range(3)]
        named = asyncio.create_task(asyncio.sleep(0), name="custom")
        await asyncio.gather(*tasks, named)
        current = asyncio.current_task()
        assert current is not None
        return [current.get_name()] + [t.get_name() for t in [*tasks, named]]

    expected = ["Task-1", "Task-2", "Task-3", "Task-4", "custom"]
    assert simloop.run(main()) == expected
    assert simloop.run(main()) == expected  # a new loop starts again from Task-1


def test_sets_of_tasks_iterate_in_creation_order() -> None:
    async def main() -> tuple[bool, bool, bool]:
        tasks = [asyncio.create_task(asyncio.sleep(0.01 * (i % 7))) for i in range(200)]
        as_set = set(tasks)
        done, _ = await asyncio.wait(tasks)
        everything = asyncio.all_tasks()
        return (
            list(as_set) == tasks,
            list(done) == tasks,
            list(everything) == [asyncio.current_task()],
        )

    assert simloop.run(main()) == (True, True, True)


# --- a replaced loop.time decides, as in stock asyncio ------------------------------------------


async def timers_by_a_fake_clock() -> list[Any]:
    """What aiolimiter's tests do: replace loop.time, then move the fake clock by hand."""
    loop = asyncio.get_running_loop()
    seen: list[Any] = []
    fake_now = 1000.0

    def fake_time() -> float:
        return fake_now

    with mock.patch.object(loop, "time", fake_time):
        fired = loop.create_future()
        handle = loop.call_later(5, fired.set_result, "fired")
        seen.append(handle.when())
        await asyncio.wait([fired], timeout=0)
        seen.append(fired.done())  # not yet due by the fake clock
        fake_now = 1010.0
        await asyncio.wait([fired], timeout=0)
        seen.append(fired.done())
        seen.append(loop.time())
    seen.append(loop.time())  # the virtual clock again
    return seen


def test_a_replaced_loop_time_decides_like_stock_asyncio() -> None:
    stock = asyncio.run(timers_by_a_fake_clock())
    assert stock[:4] == [1005.0, False, True, 1010.0]
    assert simloop.run(timers_by_a_fake_clock()) == [*stock[:4], 0.0]


def test_a_subclass_that_overrides_time_decides_too() -> None:
    class SteppedLoop(simloop.SimLoop):
        """A clock that only moves when told, like a project's own test loop."""

        now = 50.0

        def time(self) -> float:
            return self.now

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, SteppedLoop)
        fired: list[float] = []
        loop.call_later(2, lambda: fired.append(loop.time()))
        await asyncio.sleep(0)
        before = list(fired)
        loop.now = 52.0
        await asyncio.sleep(0)
        return [before, fired]

    with asyncio.Runner(loop_factory=SteppedLoop) as runner:
        assert runner.run(main()) == [[], [52.0]]


def test_a_replaced_clock_that_follows_virtual_time_lets_timers_fire() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        virtual = loop.time

        def ahead() -> float:
            return virtual() + 100

        with mock.patch.object(loop, "time", ahead):
            await asyncio.sleep(3)
            return loop.time(), virtual()

    assert simloop.run(main()) == (103.0, 3.0)


def test_a_replaced_clock_that_never_moves_is_a_deadlock_not_a_wait() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with mock.patch.object(loop, "time", mock.Mock(return_value=1010.0)):
            await asyncio.sleep(5)

    with pytest.raises(simloop.DeadlockError) as info:
        simloop.run(main())
    assert str(info.value).startswith(
        "deadlock at t=5s: nothing is ready, and no timer is due by the replaced loop.time(), "
        "which reads 1010.0 (the next timer is due at 1015.0) and did not move when virtual "
        "time did: a real loop would wait for it forever.\n"
    )


def test_a_clock_replaced_by_something_that_is_not_a_number_is_named() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with mock.patch.object(loop, "time", mock.Mock(return_value="soon")):
            loop.call_at(5, print)
            await asyncio.sleep(0)  # the next batch asks the clock which timers are due

    with pytest.raises(simloop.InvalidArgumentError) as info:
        simloop.run(main())
    assert str(info.value) == (
        "`loop.time` was replaced by a function that returns str 'soon', not a number of seconds"
    )


# --- time.sleep() inside a step is held to the limits ------------------------------------------


async def polls_with_time_sleep() -> None:
    flag = False  # nothing else can run while this loop blocks
    while not flag:
        time.sleep(0.1)


def test_polling_with_time_sleep_stops_at_max_time() -> None:
    started = wall_clock()
    with pytest.raises(simloop.TimeLimitError) as info:
        simloop.run(polls_with_time_sleep(), max_time=10, warn=False)
    assert wall_clock() - started < 5
    assert str(info.value).startswith(
        "time limit reached: the run would advance virtual time to 10.1s, past max_time=10s."
    )


def test_polling_with_time_sleep_stops_at_max_steps_without_a_time_limit() -> None:
    with pytest.raises(simloop.StepLimitError) as info:
        simloop.run(polls_with_time_sleep(), max_steps=1000, warn=False)
    assert str(info.value).startswith(
        "step limit reached: time.sleep() was called 1001 times without the run finishing "
        "(virtual time 100.1s), more than max_steps=1000. A loop that polls with time.sleep() "
        "blocks every other task, so what it waits for can never happen; await "
        "asyncio.sleep() instead.\n"
    )


def test_a_limit_error_caught_by_the_program_still_ends_the_run() -> None:
    async def main() -> str:
        try:
            time.sleep(20)
        except simloop.TimeLimitError:
            pass
        await asyncio.sleep(0)
        return "went on"

    with pytest.raises(simloop.TimeLimitError):
        simloop.run(main(), max_time=10, warn=False)


# --- a subclass may use the names of SimLoop's read-only properties -----------------------------


def test_a_subclass_may_keep_its_own_steps_but_a_simloop_refuses() -> None:
    class CountingLoop(simloop.SimLoop):
        def __init__(self) -> None:
            super().__init__()
            self.steps = []  # what aiostream's test loop keeps

    loop = CountingLoop()
    try:
        assert loop.steps == []
    finally:
        loop.close()
    plain = simloop.SimLoop()
    try:
        with pytest.raises(AttributeError, match=r"^`steps` is read-only on a SimLoop"):
            plain.steps = 3  # type: ignore[misc]
        assert plain.steps == 0
    finally:
        plain.close()


# --- the clock while the loop is busy ------------------------------------------------------------


async def poll_for_a_timer(delay: float) -> tuple[int, float]:
    """Poll with sleep(0) for a flag that a timer sets: works on a stock loop, whose clock moves
    while the poller spins."""
    loop = asyncio.get_running_loop()
    flag: list[bool] = []
    loop.call_later(delay, flag.append, True)
    polls = 0
    while not flag:
        await asyncio.sleep(0)
        polls += 1
    return polls, loop.time()


@pytest.mark.parametrize("seed", [None, 1, 2])
def test_a_busy_loop_reaches_a_timer_after_a_microsecond_per_step(seed: int | None) -> None:
    assert asyncio.run(poll_for_a_timer(0.01))[0] > 0  # stock asyncio: the poll ends too
    polls, now = simloop.run(poll_for_a_timer(0.01), seed=seed)
    assert now == 0.01  # the clock moved to the timer, not past it
    # Busy for 10 ms at 1 µs a step: 10,000 steps; then the timer's callback is ready beside
    # the poller, and a seeded scheduler may let the poller run a few more times first.
    assert 10_000 <= polls < 10_100


def test_busy_work_does_not_bring_a_distant_timeout_early() -> None:
    async def main() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[int] = asyncio.Queue()

        async def producer() -> None:
            for i in range(20_000):
                await queue.put(i)
                await asyncio.sleep(0)

        async with asyncio.timeout(1):  # 20,000 busy steps are 20 ms at 1 µs a step
            task = asyncio.create_task(producer())
            received = 0
            while received < 20_000:
                await queue.get()
                received += 1
            await task
        return received, loop.time()

    assert simloop.run(main()) == (20_000, 0.0)


def test_busy_time_counts_from_when_the_timer_was_scheduled() -> None:
    async def main() -> float:
        for _ in range(20_000):  # 20 ms of busy time at 1 µs a step, no timer pending
            await asyncio.sleep(0)
        async with asyncio.timeout(0.005):  # scheduled now: 5 ms from here, not from the start
            for _ in range(100):
                await asyncio.sleep(0)
        return asyncio.get_running_loop().time()

    assert simloop.run(main()) == 0.0
    assert simloop.explore(main, runs=10).found is False


def test_a_timeout_around_a_spinning_task_fires_at_its_deadline() -> None:
    async def spin() -> None:
        while True:
            await asyncio.sleep(0)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(spin(), timeout=0.005)
        return loop.time()

    assert simloop.run(main()) == 0.005
    assert simloop.explore(main, runs=20).found is False


def test_a_busy_loop_does_not_pass_max_time() -> None:
    with pytest.raises(simloop.TimeLimitError) as info:
        simloop.run(poll_for_a_timer(0.01), max_time=0.005)
    assert str(info.value).startswith(
        "time limit reached: the run would advance virtual time to 0.01s, past max_time=0.005s."
    )


def test_a_spin_with_a_timer_too_far_for_max_steps_is_still_a_step_limit() -> None:
    # A second of spinning is a million steps at 1 µs each: past the default max_steps.
    with pytest.raises(simloop.StepLimitError, match="without the clock moving"):
        simloop.run(poll_for_a_timer(1.0))
