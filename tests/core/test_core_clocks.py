"""Every clock a program can reach reads virtual time inside a run, or is reported where it is
read: references bound before the run, clock_gettime(), CPU-time clocks, waits on threads."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import warnings
from time import monotonic, perf_counter_ns  # bound at import, before any run
from typing import Any

import pytest

import simloop
from simloop import RealClockWarning, _guards

EPOCH = 946_684_800

swapped_only = pytest.mark.skipif(
    not _guards.clocks_swapped(),
    reason="the clocks' C implementation cannot be swapped on this Python",
)


def stamp(clock: Any = time.monotonic) -> float:
    """A default argument bound at definition time, as cachetools.TTLCache's timer is."""
    return float(clock())


class TTLCache:
    """The shape of cachetools.TTLCache: a timer bound as a default argument."""

    def __init__(self, ttl: float, timer: Any = time.monotonic) -> None:
        self.ttl = ttl
        self.timer = timer
        self.items: dict[str, tuple[float, str]] = {}

    def set(self, key: str, value: str) -> None:
        self.items[key] = (self.timer() + self.ttl, value)

    def get(self, key: str) -> str | None:
        expires, value = self.items.get(key, (0.0, None))
        return value if self.timer() < expires else None


@swapped_only
def test_clocks_bound_before_the_run_read_virtual_time() -> None:
    async def main() -> dict[str, Any]:
        start = monotonic(), perf_counter_ns(), stamp()
        await asyncio.sleep(0.25)
        return {
            "start": start,
            "monotonic": monotonic(),
            "perf_counter_ns": perf_counter_ns(),
            "default argument": stamp(),
        }

    assert simloop.run(main()) == {
        "start": (0.0, 0, 0.0),
        "monotonic": 0.25,
        "perf_counter_ns": 250_000_000,
        "default argument": 0.25,
    }


@swapped_only
def test_a_ttl_cache_with_a_bound_timer_expires_in_virtual_time() -> None:
    async def main() -> tuple[str | None, str | None]:
        cache = TTLCache(ttl=60)
        cache.set("key", "value")
        await asyncio.sleep(59)
        fresh = cache.get("key")
        await asyncio.sleep(2)
        return fresh, cache.get("key")

    assert simloop.run(main()) == ("value", None)


def test_the_same_references_read_real_time_outside_the_run_and_in_other_threads() -> None:
    seen: dict[str, float] = {}
    go = threading.Event()

    def outsider() -> None:
        go.wait(10)
        seen["monotonic"] = monotonic()
        seen["time"] = time.time()

    async def main() -> None:
        await asyncio.sleep(100)
        go.set()
        while "time" not in seen:  # the other thread reads while the run goes on
            await asyncio.sleep(0)
            _guards.real_time_functions()["sleep"](0.001)

    thread = threading.Thread(target=outsider)
    thread.start()
    before = monotonic()
    try:
        simloop.run(main())
    finally:
        thread.join()
    assert before <= seen["monotonic"] <= monotonic()
    assert seen["time"] > EPOCH + 10 * 365 * 86400  # a real wall clock, not 2000-01-01


def test_clock_gettime_reads_virtual_time_for_wall_and_monotonic_clocks() -> None:
    async def main() -> tuple[float, int, float]:
        await asyncio.sleep(1.5)
        return (
            time.clock_gettime(time.CLOCK_MONOTONIC),
            time.clock_gettime_ns(time.CLOCK_MONOTONIC),
            time.clock_gettime(time.CLOCK_REALTIME),
        )

    assert simloop.run(main()) == (1.5, 1_500_000_000, EPOCH + 1.5)


def cpu_time_twice() -> list[float]:
    return [time.process_time() for _ in range(2)]  # one call site, read twice


async def reads_cpu_time() -> int:
    values = cpu_time_twice()
    values.append(time.clock_gettime(time.CLOCK_PROCESS_CPUTIME_ID))
    return len(values)


def test_a_cpu_clock_is_reported_once_per_call_site() -> None:
    with pytest.warns(RealClockWarning) as record:
        assert simloop.run(reads_cpu_time()) == 3
    messages = [(str(w.message).split(" read ")[0], w.filename) for w in record]
    assert messages == [
        ("time.process_time()", __file__),
        (f"time.clock_gettime({time.CLOCK_PROCESS_CPUTIME_ID!r})", __file__),
    ]
    assert str(record[0].message) == (
        "time.process_time() read a real clock inside a simulated run: CPU time is not "
        "simulated, so a run that depends on it may not replay. Measure elapsed time with "
        "time.perf_counter() or loop.time(), which read virtual time."
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert simloop.run(reads_cpu_time()) == 3  # those call sites were reported already


def test_a_bare_loop_reports_nothing_and_warn_true_makes_it_report() -> None:
    async def main() -> float:
        return time.thread_time()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with asyncio.Runner(loop_factory=simloop.SimLoop) as runner:
            runner.run(main())
    with (
        pytest.warns(RealClockWarning, match=r"^time\.thread_time\(\) read a real clock"),
        asyncio.Runner(loop_factory=simloop.loop_factory(warn=True)) as runner,
    ):
        runner.run(main())


def test_a_blocking_queue_get_with_a_timeout_waits_in_real_time_and_is_reported() -> None:
    """queue.Queue.get(timeout=...) times out by a clock bound at import (threading's): that
    clock stays real, or the wait would never end; the wait itself is reported."""
    jobs: queue.Queue[str] = queue.Queue()

    async def main() -> str:
        try:
            jobs.get(timeout=0.01)
        except queue.Empty:
            return "timed out"
        return "got one"

    with pytest.warns(RealClockWarning) as record:
        assert simloop.run(main()) == "timed out"
    assert [str(w.message).split(" inside")[0] for w in record] == ["threading.Condition.wait()"]
    assert record[0].filename == __file__  # the user's call, not queue.py or threading.py


def test_real_time_functions_are_real_inside_a_run() -> None:
    real = simloop.lowlevel.real_time_functions()

    async def main() -> tuple[float, float]:
        return real["monotonic"](), real["time"]()

    before = real["monotonic"]()
    inside, wall = simloop.run(main())
    assert before <= inside <= real["monotonic"]()
    assert wall > EPOCH + 10 * 365 * 86400
    assert set(real) == {
        "time",
        "time_ns",
        "monotonic",
        "monotonic_ns",
        "perf_counter",
        "perf_counter_ns",
        "sleep",
    }
