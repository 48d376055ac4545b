"""Condition misuse: waiting with ``if`` instead of a predicate loop.

A connection pool hands out idle connections under an ``asyncio.Condition``; ``acquire()``
waits when none is idle, with ``if not idle: await cond.wait()``, and then pops one. But
``notify()`` only wakes the waiter: it still has to re-acquire the condition's lock, and a task
that arrives in between finds the connection idle and takes it. The woken waiter then pops from
an empty list (``IndexError``). In asyncio's order the woken waiter runs first; one deviation
lets the newcomer in first.

Fix: ``await cond.wait_for(lambda: idle)``, which re-checks the predicate after every wake-up.
"""

from __future__ import annotations

import asyncio

from bench.races._corpus import Race


class Pool:
    def __init__(self, connections: list[str]) -> None:
        self.idle = list(connections)
        self.changed = asyncio.Condition()

    async def _wait_for_idle(self) -> None:
        if not self.idle:
            await self.changed.wait()

    async def acquire(self) -> str:
        async with self.changed:
            await self._wait_for_idle()
            return self.idle.pop()

    async def release(self, connection: str) -> None:
        async with self.changed:
            self.idle.append(connection)
            self.changed.notify()


class PredicatePool(Pool):
    async def _wait_for_idle(self) -> None:
        await self.changed.wait_for(lambda: self.idle)


async def _query(pool: Pool, sql: str, log: list[str], delay: int = 0) -> None:
    for _ in range(delay):
        await asyncio.sleep(0)  # the request is still being parsed
    connection = await pool.acquire()
    try:
        await asyncio.sleep(0)  # run the query
        log.append(f"{sql} on {connection}")
    finally:
        await pool.release(connection)


async def _scenario(pool_class: type[Pool]) -> None:
    pool = pool_class(["conn-1"])
    log: list[str] = []
    await asyncio.gather(
        _query(pool, "select 1", log),
        _query(pool, "select 2", log),
        _query(pool, "select 3", log, delay=2),
    )
    assert sorted(log) == ["select 1 on conn-1", "select 2 on conn-1", "select 3 on conn-1"]
    assert pool.idle == ["conn-1"]


async def buggy() -> None:
    await _scenario(Pool)


async def fixed() -> None:
    await _scenario(PredicatePool)


RACE = Race(
    name="condition_if",
    pattern="Condition.wait without a predicate loop",
    depth=1,
    kind="exception",
    error=IndexError,
    buggy=buggy,
    fixed=fixed,
    summary="a newcomer takes the connection between notify() and the woken waiter's pop()",
)
