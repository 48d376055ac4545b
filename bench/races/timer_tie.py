"""A timer tie: two tasks sleep to the same instant, and their order matters.

A metrics reporter publishes the current one-second window every second; a separate rotation
task resets the window every second. Both ``await asyncio.sleep(1)`` in a loop, so they wake
at the same virtual instants. In asyncio's order (timers due at the same time fire in the order
they were scheduled) the reporter, started first, publishes before the window is reset; if
the rotation runs first (one deviation), the window's requests are reset away unreported.

Fix: no separate rotation; the reporter swaps in a fresh window and publishes the old one in
one step, so nothing can run between the read and the reset.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from bench.races._corpus import Race


class Metrics:
    def __init__(self) -> None:
        self.window: Counter[str] = Counter()
        self.published: list[dict[str, int]] = []

    def record(self, name: str) -> None:
        self.window[name] += 1

    async def reporter(self, periods: int) -> None:
        for _ in range(periods):
            await asyncio.sleep(1)
            self.published.append(dict(self.window))

    async def rotation(self, periods: int) -> None:
        for _ in range(periods):
            await asyncio.sleep(1)
            self.window = Counter()

    async def run(self, periods: int) -> None:
        await asyncio.gather(self.reporter(periods), self.rotation(periods))


class SwappingMetrics(Metrics):
    async def reporter(self, periods: int) -> None:
        for _ in range(periods):
            await asyncio.sleep(1)
            window, self.window = self.window, Counter()
            self.published.append(dict(window))

    async def run(self, periods: int) -> None:
        await self.reporter(periods)


async def _traffic(metrics: Metrics) -> None:
    for at in (0.25, 0.5, 0.5, 1.5):
        await asyncio.sleep(at - asyncio.get_running_loop().time())
        metrics.record("requests")


async def _scenario(metrics: Metrics) -> None:
    await asyncio.gather(metrics.run(periods=2), _traffic(metrics))
    reported = sum(window.get("requests", 0) for window in metrics.published)
    assert reported == 4, f"4 requests, {reported} reported: {metrics.published}"


async def buggy() -> None:
    await _scenario(Metrics())


async def fixed() -> None:
    await _scenario(SwappingMetrics())


RACE = Race(
    name="timer_tie",
    pattern="timer tie (two sleep(1) whose order matters)",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="the rotation wakes before the reporter at the same instant: a window is lost",
)
