"""A chain of timer ties: three periodic jobs due at the same instants, two orders matter.

Every second a collector takes a reading, an aggregator folds the pending readings into the
total, and an exporter publishes the total; all three ``await asyncio.sleep(1)`` in a loop, so
they wake at the same instants, in the order they were started. A report may lag a second
behind (the exporter ran before this second's aggregate, or the aggregate before this
second's reading), which the dashboard tolerates. Two such lags in a row, the aggregate late
one second and the export late the next, publish a total two seconds old: two tie reorderings
(depth 2).

Fix: one job per second does the three in order.
"""

from __future__ import annotations

import asyncio

from bench.races._corpus import Race


class Telemetry:
    def __init__(self) -> None:
        self.pending: list[int] = []
        self.total = 0
        self.exported: list[int] = []
        self.next_reading = 1

    def collect(self) -> None:
        self.pending.append(self.next_reading)
        self.next_reading += 1

    def aggregate(self) -> None:
        self.total += sum(self.pending)
        self.pending.clear()

    def export(self) -> None:
        self.exported.append(self.total)

    async def every_second(self, job: str, seconds: int) -> None:
        for _ in range(seconds):
            await asyncio.sleep(1)
            getattr(self, job)()

    async def run(self, seconds: int) -> None:
        await asyncio.gather(
            *(self.every_second(job, seconds) for job in ("collect", "aggregate", "export"))
        )


class SequencedTelemetry(Telemetry):
    async def run(self, seconds: int) -> None:
        for _ in range(seconds):
            await asyncio.sleep(1)
            self.collect()
            self.aggregate()
            self.export()


async def _scenario(telemetry: Telemetry) -> None:
    await telemetry.run(seconds=3)
    for second, value in enumerate(telemetry.exported, start=1):
        # At most a second behind: at least every reading up to the previous second.
        assert value >= sum(range(1, second)), f"second {second}: {telemetry.exported}"


async def buggy() -> None:
    await _scenario(Telemetry())


async def fixed() -> None:
    await _scenario(SequencedTelemetry())


RACE = Race(
    name="timer_chain",
    pattern="timer-tie chain (three jobs due together)",
    depth=2,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="an aggregate late one second and an export late the next: a stale report",
)
