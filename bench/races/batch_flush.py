"""Items added during a flush are lost: the buffer is cleared after the await, not before.

A log batcher collects lines and flushes them to a collector every so often. ``flush()``
copies the buffer, awaits the upload, then clears the buffer: a line added while the upload is
in flight is cleared away without ever being sent. In asyncio's order the writer's line lands
before the flush starts; one deviation (the flush first) loses it.

Fix: swap in a fresh buffer before the await, so the upload owns exactly what it sends.
"""

from __future__ import annotations

import asyncio

from bench.races._corpus import Race


class Batcher:
    def __init__(self) -> None:
        self.buffer: list[str] = []
        self.sent: list[str] = []

    def add(self, line: str) -> None:
        self.buffer.append(line)

    async def upload(self, lines: list[str]) -> None:
        await asyncio.sleep(0.01)  # the collector's round trip
        self.sent.extend(lines)

    async def flush(self) -> None:
        lines = list(self.buffer)
        await self.upload(lines)
        self.buffer.clear()


class SwappingBatcher(Batcher):
    async def flush(self) -> None:
        lines, self.buffer = self.buffer, []
        await self.upload(lines)


async def _scenario(batcher: Batcher) -> None:
    batcher.add("boot")

    async def writer() -> None:
        await asyncio.sleep(0)  # serve the request
        batcher.add("request served")

    async def timed_flush() -> None:
        await asyncio.sleep(0)  # the flush interval elapses
        await batcher.flush()

    await asyncio.gather(writer(), timed_flush())
    await batcher.flush()
    assert sorted(batcher.sent) == ["boot", "request served"], f"sent only {batcher.sent}"


async def buggy() -> None:
    await _scenario(Batcher())


async def fixed() -> None:
    await _scenario(SwappingBatcher())


RACE = Race(
    name="batch_flush",
    pattern="buffer cleared after the await (lost appends)",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="a line added while a flush uploads is cleared away unsent",
)
