"""A pooled connection returned twice: two borrowers end up sharing one connection.

A connection pool's ``release()`` awaits a health check before putting the connection back.
A request that times out releases its connection in a ``finally``; the pool's reaper, which
reclaims connections held too long, releases it too. Both check that the connection is not
already idle, then await the health check, then put it back: the pool then lists it twice,
and two later borrowers get the same connection. In asyncio's order the request's release
finishes before the reaper looks; one deviation interleaves them.

Fix: mark the connection idle before the await (and check that mark).
"""

from __future__ import annotations

import asyncio

from bench.races._corpus import Race


class ConnectionPool:
    def __init__(self) -> None:
        self.idle: list[str] = []
        self.borrowed: set[str] = {"conn-1"}

    async def health_check(self, conn: str) -> None:
        await asyncio.sleep(0)

    async def release(self, conn: str) -> None:
        if conn in self.idle:
            return
        await self.health_check(conn)
        self.borrowed.discard(conn)
        self.idle.append(conn)


class MarkingPool(ConnectionPool):
    async def release(self, conn: str) -> None:
        if conn not in self.borrowed:
            return
        self.borrowed.discard(conn)
        await self.health_check(conn)
        self.idle.append(conn)


async def _scenario(pool: ConnectionPool) -> None:
    async def timed_out_request() -> None:
        await pool.release("conn-1")

    async def reaper() -> None:
        await asyncio.sleep(0)
        await pool.release("conn-1")

    await asyncio.gather(timed_out_request(), reaper())
    assert pool.idle == ["conn-1"], f"the pool lists {pool.idle}"


async def buggy() -> None:
    await _scenario(ConnectionPool())


async def fixed() -> None:
    await _scenario(MarkingPool())


RACE = Race(
    name="double_release",
    pattern="resource released twice (check, await, put back)",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="a request and the reaper both return one connection: it is idle twice",
)
