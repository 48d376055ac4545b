"""Producer/consumer shutdown: the shipper stops at the first end-of-stream marker.

Two log sources feed one queue; each puts its lines, closes its file (an await) and puts an
end-of-stream marker. The shipper ships lines until it sees a marker, and stops there. That is
right with one source, but with two, lines the second source puts after the first source's
marker are never shipped. In asyncio's order both sources put their lines before either
marker; one deviation lets the first marker overtake the other source's line.

Fix: the shipper counts markers, and stops when every source has ended.
"""

from __future__ import annotations

import asyncio

from bench.races._corpus import Race

END = object()


class Shipper:
    def __init__(self, sources: int) -> None:
        self.sources = sources
        self.queue: asyncio.Queue[str | object] = asyncio.Queue()
        self.shipped: list[str] = []

    async def source(self, lines: list[str]) -> None:
        for line in lines:
            await asyncio.sleep(0)  # read the next line
            self.queue.put_nowait(line)
        await asyncio.sleep(0)  # close the file
        self.queue.put_nowait(END)

    async def run(self) -> None:
        while True:
            item = await self.queue.get()
            if item is END:
                return
            self.shipped.append(str(item))


class CountingShipper(Shipper):
    async def run(self) -> None:
        ended = 0
        while ended < self.sources:
            item = await self.queue.get()
            if item is END:
                ended += 1
            else:
                self.shipped.append(str(item))


async def _scenario(shipper_class: type[Shipper]) -> None:
    shipper = shipper_class(sources=2)
    await asyncio.gather(
        shipper.run(), shipper.source(["app: started"]), shipper.source(["db: ready"])
    )
    assert sorted(shipper.shipped) == ["app: started", "db: ready"], f"shipped {shipper.shipped}"


async def buggy() -> None:
    await _scenario(Shipper)


async def fixed() -> None:
    await _scenario(CountingShipper)


RACE = Race(
    name="sentinel_shutdown",
    pattern="producer/consumer shutdown (sentinel race)",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="one source's end marker overtakes the other source's line, which is lost",
)
