"""Lost update across an await: a page-view counter with write-through persistence.

``hit()`` reads the in-memory count, awaits the database write of ``count + 1``, then stores
``count + 1`` in memory. Anonymous hits go straight to the counter; signed-in hits first await
a session check. In asyncio's order the anonymous hit finishes its read-write before the
signed-in one reads, so both count. If the signed-in hit's read runs while the anonymous hit
is still waiting for its write (one deviation), both read 0 and one view is lost.

Fix: a per-page lock around the read-persist-write, so the read and the write of one hit
cannot interleave with another hit's.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from bench.races._corpus import Race


class Store:
    """The durable copy: each write is a database round trip."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}

    async def save(self, key: str, value: int) -> None:
        await asyncio.sleep(0)
        self.rows[key] = value


class Sessions:
    async def check(self, user: str) -> bool:
        await asyncio.sleep(0)  # session lookup
        return bool(user)


class ViewCounter:
    def __init__(self, store: Store, sessions: Sessions) -> None:
        self.store = store
        self.sessions = sessions
        self.views: dict[str, int] = {}

    async def hit(self, page: str, user: str | None = None) -> None:
        if user is not None:
            await self.sessions.check(user)
        count = self.views.get(page, 0) + 1
        await self.store.save(page, count)  # persist before acknowledging the view
        self.views[page] = count


class LockedViewCounter(ViewCounter):
    def __init__(self, store: Store, sessions: Sessions) -> None:
        super().__init__(store, sessions)
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def hit(self, page: str, user: str | None = None) -> None:
        if user is not None:
            await self.sessions.check(user)
        async with self._locks[page]:
            count = self.views.get(page, 0) + 1
            await self.store.save(page, count)
            self.views[page] = count


async def _scenario(counter_class: type[ViewCounter]) -> None:
    store = Store()
    counter = counter_class(store, Sessions())
    await asyncio.gather(counter.hit("/home"), counter.hit("/home", user="ann"))
    views = counter.views["/home"]
    assert views == 2, f"lost update: 2 hits but the counter says {views}"
    assert store.rows["/home"] == 2, f"lost update: the database says {store.rows['/home']}"


async def buggy() -> None:
    await _scenario(ViewCounter)


async def fixed() -> None:
    await _scenario(LockedViewCounter)


RACE = Race(
    name="lost_update",
    pattern="lost update across an await",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="two hits read the same count before either writes it back: one view is lost",
)
