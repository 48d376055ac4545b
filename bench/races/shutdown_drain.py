"""Graceful shutdown that drains before it stops accepting: a late request is dropped.

A worker pool shuts down by waiting until its in-flight jobs are done, then setting
``accepting = False``. A request that arrives after the drain check but before the flag is set
is accepted and then abandoned when the pool closes. In asyncio's order the request arrives
first and is drained; if the shutdown's drain runs ahead of it (one deviation), the request
slips in between the drain and the flag.

Fix: stop accepting first, then drain what was accepted.
"""

from __future__ import annotations

import asyncio

from bench.races._corpus import Race


class Pool:
    def __init__(self) -> None:
        self.accepting = True
        self.in_flight: set[str] = set()
        self.done: list[str] = []
        self.closed = False

    async def submit(self, job: str) -> bool:
        if not self.accepting:
            return False
        self.in_flight.add(job)
        await asyncio.sleep(0.01)
        if self.closed:
            return True  # accepted, and now abandoned
        self.in_flight.discard(job)
        self.done.append(job)
        return True

    async def drain(self) -> None:
        while self.in_flight:
            await asyncio.sleep(0.001)

    async def shutdown(self) -> None:
        await asyncio.sleep(0)  # the signal handler schedules the shutdown
        await self.drain()
        await asyncio.sleep(0)  # flush metrics before refusing work
        self.accepting = False
        self.closed = True


class OrderlyPool(Pool):
    async def shutdown(self) -> None:
        await asyncio.sleep(0)
        self.accepting = False
        await self.drain()
        await asyncio.sleep(0)
        self.closed = True


async def _scenario(pool: Pool) -> None:
    async def client() -> bool:
        await asyncio.sleep(0)  # the request arrives
        return await pool.submit("late request")

    accepted, _ = await asyncio.gather(client(), pool.shutdown())
    if accepted:
        assert pool.done == ["late request"], f"an accepted job was abandoned: {pool.in_flight}"


async def buggy() -> None:
    await _scenario(Pool())


async def fixed() -> None:
    await _scenario(OrderlyPool())


RACE = Race(
    name="shutdown_drain",
    pattern="graceful shutdown: drain, then stop accepting",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="a request accepted between the drain and the flag is abandoned at close",
)
