"""Determinism guards: virtual time, seeded randomness, and a clean process after the run."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import pickle
import random
import secrets
import signal
import sys
import threading
import time
import uuid
import warnings
from datetime import date
from datetime import datetime as DateTime
from typing import Any

import pytest
from core_support import wall_clock

import simloop
from simloop import BlockingCallWarning, RealClockWarning, _guards

EPOCH = 946_684_800  # 2000-01-01T00:00:00Z

#: The clocks whose C implementation the guards swap (where they can: CPython), rather than
#: their module attribute.
SWAPPED_CLOCKS = (
    ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns")
    if _guards.clocks_swapped()
    else ()
)

real_localtime = time.localtime
real_strftime = time.strftime
real_time = time.time


def patched_objects() -> dict[str, Any]:
    """Every object the guards replace while a loop runs."""
    return {
        **{
            f"time.{name}": getattr(time, name)
            for name in (
                "time",
                "time_ns",
                "monotonic",
                "monotonic_ns",
                "perf_counter",
                "perf_counter_ns",
                "sleep",
                "localtime",
                "gmtime",
                "ctime",
                "asctime",
                "strftime",
            )
        },
        "os.urandom": os.urandom,
        "os.getrandom": os.getrandom,
        "time.clock_gettime": time.clock_gettime,
        "time.process_time": time.process_time,
        "os.times": os.times,
        "threading.Event.wait": threading.Event.__dict__["wait"],
        "threading.Condition.wait": threading.Condition.__dict__["wait"],
        "threading.Thread.join": threading.Thread.__dict__["join"],
        **{f"random.{name}": getattr(random, name) for name in ("random", "seed", "getstate")},
        "random._inst's class": type(random._inst),  # type: ignore[attr-defined]
        "random._urandom": random._urandom,  # type: ignore[attr-defined]
        "random.Random.seed": random.Random.__dict__["seed"],
        "uuid.uuid1": uuid.uuid1,
        "uuid.uuid4": uuid.uuid4,
        "threading.Thread.start": threading.Thread.__dict__["start"],
        "signal.signal": signal.signal,
        "signal.getsignal": signal.getsignal,
        "signal.raise_signal": signal.raise_signal,
        "os.kill": os.kill,
        "datetime.datetime.now": datetime.datetime.__dict__["now"],
        "datetime.datetime.utcnow": datetime.datetime.__dict__["utcnow"],
        "datetime.date.today": datetime.date.__dict__["today"],
        "asyncio.Lock._locked": asyncio.Lock.__dict__.get("_locked"),
        "asyncio.Semaphore.acquire": asyncio.Semaphore.__dict__["acquire"],
        "asyncio.Queue.__init__": asyncio.Queue.__dict__["__init__"],
    }


# --- time -----------------------------------------------------------------------------------


async def clocks() -> dict[str, Any]:
    return {
        "time": time.time(),
        "time_ns": time.time_ns(),
        "monotonic": time.monotonic(),
        "monotonic_ns": time.monotonic_ns(),
        "perf_counter": time.perf_counter(),
        "perf_counter_ns": time.perf_counter_ns(),
        "localtime": time.localtime(),
        "gmtime": time.gmtime(),
        "strftime": time.strftime("%Y-%m-%d %H:%M:%S"),
        "ctime": time.ctime(),
    }


async def clocks_after(seconds: float) -> dict[str, Any]:
    await asyncio.sleep(seconds)
    return await clocks()


def test_clocks_read_virtual_time() -> None:
    at_start = simloop.run(clocks())
    later = simloop.run(clocks_after(2.5))
    assert at_start == {
        "time": float(EPOCH),
        "time_ns": EPOCH * 10**9,
        "monotonic": 0.0,
        "monotonic_ns": 0,
        "perf_counter": 0.0,
        "perf_counter_ns": 0,
        "localtime": real_localtime(EPOCH),
        "gmtime": time.struct_time((2000, 1, 1, 0, 0, 0, 5, 1, 0)),
        "strftime": real_strftime("%Y-%m-%d %H:%M:%S", real_localtime(EPOCH)),
        "ctime": time.ctime(EPOCH),
    }
    assert later["time"] == EPOCH + 2.5
    assert later["time_ns"] == EPOCH * 10**9 + 2_500_000_000
    assert later["monotonic"] == later["perf_counter"] == 2.5
    assert later["monotonic_ns"] == later["perf_counter_ns"] == 2_500_000_000
    assert later["gmtime"] == time.struct_time((2000, 1, 1, 0, 0, 2, 5, 1, 0))
    assert later["localtime"] == real_localtime(EPOCH + 2.5)


def test_start_time_and_epoch_move_the_clocks() -> None:
    values = simloop.run(clocks(), start_time=100, epoch=1_000_000)
    assert values["monotonic"] == 100.0
    assert values["perf_counter_ns"] == 100 * 10**9
    assert values["time"] == 1_000_100.0


def test_time_sleep_warns_and_advances_virtual_time() -> None:
    async def main() -> tuple[float, float]:
        before = time.monotonic()
        time.sleep(1.5)
        return before, asyncio.get_running_loop().time()

    started = wall_clock()
    with pytest.warns(BlockingCallWarning) as record:
        assert simloop.run(main()) == (0.0, 1.5)
    assert wall_clock() - started < 0.5
    assert len(record) == 1
    assert str(record[0].message) == (
        "time.sleep(1.5) inside a simulated run: it would block a real event loop for that "
        "long, stalling every task. simloop advanced virtual time instead. Use `await "
        "asyncio.sleep(...)`, or run blocking code with `asyncio.to_thread(...)`."
    )
    assert record[0].filename == __file__  # it points at the caller of time.sleep
    assert issubclass(BlockingCallWarning, RuntimeWarning)


async def blocks_the_loop() -> float:
    time.sleep(0.5)  # "don't do this", on purpose (asyncer's tutorial does)
    return asyncio.get_running_loop().time()


def test_a_bare_loop_does_not_warn_about_time_sleep_as_asyncio_does_not() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as suites with filterwarnings = error run
        assert asyncio.run(blocks_the_loop()) > 0  # stock asyncio: fine
        with asyncio.Runner(loop_factory=simloop.SimLoop) as runner:
            assert runner.run(blocks_the_loop()) == 0.5
    with (
        pytest.warns(BlockingCallWarning),
        asyncio.Runner(loop_factory=simloop.loop_factory(warn=True)) as runner,
    ):
        runner.run(blocks_the_loop())


def test_a_bare_loop_in_debug_mode_logs_the_slow_callback_as_asyncio_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="asyncio"),
        asyncio.Runner(loop_factory=simloop.SimLoop, debug=True) as runner,
    ):
        runner.run(blocks_the_loop())
    assert [r.getMessage().split(" took ")[1] for r in caplog.records] == ["0.500 seconds"]
    assert caplog.records[0].getMessage().startswith("Executing <")


def test_time_sleep_rejects_negative_lengths_like_the_real_one() -> None:
    async def main() -> str:
        with pytest.raises(ValueError, match="sleep length must be non-negative"):
            time.sleep(-1)
        return "ok"

    assert simloop.run(main()) == "ok"


def test_a_thread_outside_the_simulation_sees_real_time() -> None:
    go = threading.Event()
    done = threading.Event()
    seen: dict[str, float] = {}

    def outsider() -> None:
        go.wait(10)
        seen["time"] = time.time()
        seen["monotonic"] = time.monotonic()
        done.set()

    async def main() -> float:
        await asyncio.sleep(5)
        go.set()
        assert done.wait(10)
        return time.time()

    thread = threading.Thread(target=outsider)  # started before the run
    thread.start()
    before, before_monotonic = real_time(), time.monotonic()
    try:
        # Waiting for another thread inside the run is reported: it takes real time.
        with pytest.warns(RealClockWarning, match=r"threading\.Event\.wait\(\) inside"):
            inside = simloop.run(main())
    finally:
        thread.join()
    assert inside == EPOCH + 5
    assert before <= seen["time"] <= real_time()
    assert before_monotonic <= seen["monotonic"] <= time.monotonic()


def test_patch_time_false_leaves_the_clocks_real() -> None:
    async def main() -> tuple[float, float]:
        await asyncio.sleep(1000)
        return time.time(), asyncio.get_running_loop().time()

    before = real_time()
    now, loop_time = simloop.run(main(), patch_time=False)
    assert before <= now <= real_time()
    assert loop_time == 1000  # the loop's own clock is virtual all the same


# --- datetime ----------------------------------------------------------------------------------


class LocalDateTime(DateTime):
    """A subclass, as libraries define: it inherits the patched methods."""


async def datetimes_after(seconds: float) -> dict[str, Any]:
    await asyncio.sleep(seconds)
    return {
        # Imported with `from datetime import ...` before the run: the types themselves are
        # patched, not the module's attributes.
        "now": DateTime.now(),
        "now_utc": DateTime.now(datetime.UTC),
        "today": DateTime.today(),
        "date_today": date.today(),
        "module_now_utc": datetime.datetime.now(datetime.UTC),
        "subclass_now": LocalDateTime.now(datetime.UTC),
    }


def test_datetime_reads_virtual_time() -> None:
    values = simloop.run(datetimes_after(90))
    expected = DateTime(2000, 1, 1, 0, 1, 30, tzinfo=datetime.UTC)
    assert values["now_utc"] == values["module_now_utc"] == expected
    assert values["now"] == DateTime.fromtimestamp(EPOCH + 90)
    assert values["today"] == DateTime.fromtimestamp(EPOCH + 90)
    assert values["date_today"] == date.fromtimestamp(EPOCH + 90)
    assert type(values["now_utc"]) is DateTime
    assert type(values["date_today"]) is date
    assert type(values["subclass_now"]) is LocalDateTime
    assert values["subclass_now"] == expected
    assert pickle.loads(pickle.dumps(values["now_utc"])) == expected
    assert simloop.run(datetimes_after(0), epoch=1_700_000_000)[
        "now_utc"
    ] == DateTime.fromtimestamp(1_700_000_000, datetime.UTC)


def test_utcnow_reads_virtual_time_and_warns_as_the_real_one_does() -> None:
    async def main() -> DateTime:
        await asyncio.sleep(1)
        return DateTime.utcnow()

    if sys.version_info >= (3, 12):
        with pytest.warns(DeprecationWarning, match="utcnow") as record:
            value = simloop.run(main())
        assert record[0].filename == __file__
    else:
        value = simloop.run(main())
    assert value == DateTime(2000, 1, 1, 0, 0, 1)


def test_datetime_is_real_outside_the_run_and_with_patch_time_false() -> None:
    before = DateTime.now(datetime.UTC)
    inside = simloop.run(datetimes_after(5), patch_time=False)
    after = DateTime.now(datetime.UTC)
    assert before <= inside["now_utc"] <= after
    assert before.year > 2000
    assert date.today().year > 2000


# --- randomness -------------------------------------------------------------------------------


async def draws() -> dict[str, Any]:
    await asyncio.sleep(3)
    return {
        "random": random.random(),
        "randint": random.randint(0, 10**12),
        "urandom": os.urandom(16),
        "uuid4": uuid.uuid4(),
        "uuid1": uuid.uuid1(),
        "token_hex": secrets.token_hex(16),
        "Random()": random.Random().random(),
        "SystemRandom": random.SystemRandom().random(),
    }


def test_randomness_is_deterministic_per_seed() -> None:
    first = simloop.run(draws(), seed=1)
    assert simloop.run(draws(), seed=1) == first
    assert simloop.run(draws()) == simloop.run(draws())  # seed None: seeded with 0


def test_randomness_differs_across_seeds() -> None:
    by_seed = [simloop.run(draws(), seed=seed) for seed in (1, 2, -1)]
    for key in by_seed[0]:
        values = [d[key] for d in by_seed]
        assert len(set(values)) == 3, key


def test_uuids_are_well_formed() -> None:
    values = simloop.run(draws(), seed=4)
    assert values["uuid4"].version == 4
    assert values["uuid1"].version == 1
    # uuid1 carries the time: 100-ns intervals since 1582-10-15, here virtual t=3s.
    assert values["uuid1"].time == (EPOCH + 3) * 10**7 + 0x01B21DD213814000
    assert len(values["urandom"]) == 16


def test_each_run_of_a_loop_draws_a_new_deterministic_sequence() -> None:
    async def draw() -> float:
        return random.random()

    def three_runs() -> list[float]:
        loop = simloop.SimLoop(seed=8)
        try:
            return [loop.run_until_complete(draw()) for _ in range(3)]
        finally:
            loop.close()

    runs = three_runs()
    assert len(set(runs)) == 3  # no run repeats an earlier one's draws
    assert three_runs() == runs
    assert simloop.run(draw(), seed=8) == runs[0]


def test_patch_random_false_uses_the_global_generator() -> None:
    async def main() -> tuple[float, bytes]:
        return random.random(), os.urandom(16)

    state = random.getstate()
    try:
        random.seed(1234)
        value, noise = simloop.run(main(), patch_random=False)
        assert value == random.Random(1234).random()
        assert noise != simloop.run(main(), patch_random=False)[1]  # the OS's bytes
    finally:
        random.setstate(state)


# --- leaving no trace in the process ----------------------------------------------------------


async def raises_value_error() -> None:
    await asyncio.sleep(1)
    raise ValueError("inside")


async def raises_keyboard_interrupt() -> None:
    await asyncio.sleep(1)
    random.random()
    raise KeyboardInterrupt


def run_normally() -> None:
    simloop.run(draws(), seed=3)


def run_raising() -> None:
    with pytest.raises(ValueError, match="inside"):
        simloop.run(raises_value_error())


def run_interrupted() -> None:
    with pytest.raises(KeyboardInterrupt):
        simloop.run(raises_keyboard_interrupt())


def run_deadlocked() -> None:
    async def main() -> None:
        random.random()
        await asyncio.Event().wait()

    with pytest.raises(simloop.DeadlockError):
        simloop.run(main())


@pytest.mark.parametrize("run", [run_normally, run_raising, run_interrupted, run_deadlocked])
def test_everything_is_restored_after_the_run(run) -> None:
    originals = patched_objects()
    state = random.getstate()
    run()
    after = patched_objects()
    assert {name: after[name] is obj for name, obj in originals.items()} == dict.fromkeys(
        originals, True
    )
    assert originals["asyncio.Lock._locked"] is None  # lock tracking is off again
    assert random.getstate() == state


def test_everything_is_patched_during_the_run() -> None:
    originals = patched_objects()

    async def main() -> dict[str, Any]:
        return patched_objects()

    during = simloop.run(main())
    unchanged = sorted(name for name, obj in during.items() if obj is originals[name])
    # uuid4 is covered by os.urandom, which it calls; the swapped clocks are the same objects,
    # with another implementation (see test_core_clocks.py).
    assert unchanged == sorted(["uuid.uuid4", *(f"time.{name}" for name in SWAPPED_CLOCKS)])


# --- asyncio.Runner's cleanup ---------------------------------------------------------------


def test_user_code_in_a_runners_cleanup_runs_under_the_guards() -> None:
    """asyncio.Runner finalizes async generators after the main task; their ``finally`` is
    user code and reads virtual time. (When there is nothing to clean up, SimLoop skips the
    guards for those runs: no user code runs then.)"""
    seen: list[float] = []

    async def ticks() -> Any:
        try:
            yield 1
            await asyncio.sleep(10)
        finally:
            seen.append(time.time())

    generators = []

    async def main() -> str:
        generator = ticks()
        generators.append(generator)  # kept alive: the Runner's shutdown_asyncgens closes it
        await generator.__anext__()
        await asyncio.sleep(5)
        return "done"

    state = random.getstate()
    with asyncio.Runner(loop_factory=simloop.SimLoop) as runner:
        assert runner.run(main()) == "done"
    assert seen == [EPOCH + 5]
    assert random.getstate() == state
    assert patched_objects()["time.time"] is real_time
