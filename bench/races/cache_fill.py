"""Check-then-act on a cache: a read-through fill lands after the invalidation it raced.

``get()`` checks the cache and, on a miss, reads the database and fills the cache with the
result. ``update()`` writes the database and then invalidates the key. A read that started
before the update can finish after the invalidation and put the old value back: the cache is
then stale until something else invalidates it. In asyncio's order the read's fill runs before
the update's invalidation, which cleans up; one deviation (the update completes between the
read's query and its fill) leaves the cache stale.

Fix: a generation number per key, bumped by every invalidation. A fill only lands if no
invalidation of that key happened since its read began.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from bench.races._corpus import Race


class Database:
    def __init__(self) -> None:
        self.rows = {"user:1": "Ann"}

    async def read(self, key: str) -> str | None:
        value = self.rows.get(key)  # the snapshot the query sees...
        await asyncio.sleep(0)  # ...travels back over the network
        return value

    async def write(self, key: str, value: str) -> None:
        await asyncio.sleep(0)
        self.rows[key] = value


class ReadThroughCache:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.entries: dict[str, str | None] = {}

    async def get(self, key: str) -> str | None:
        if key not in self.entries:
            self.entries[key] = await self.db.read(key)
        return self.entries[key]

    async def update(self, key: str, value: str) -> None:
        await self.db.write(key, value)
        self.entries.pop(key, None)


class GenerationCache(ReadThroughCache):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.generations: defaultdict[str, int] = defaultdict(int)

    async def get(self, key: str) -> str | None:
        if key in self.entries:
            return self.entries[key]
        seen = self.generations[key]
        value = await self.db.read(key)
        if self.generations[key] == seen:  # no invalidation since the read began
            self.entries[key] = value
        return value

    async def update(self, key: str, value: str) -> None:
        await self.db.write(key, value)
        self.generations[key] += 1
        self.entries.pop(key, None)


async def _scenario(cache_class: type[ReadThroughCache]) -> None:
    db = Database()
    cache = cache_class(db)
    await asyncio.gather(cache.get("user:1"), cache.update("user:1", "Annie"))
    cached = await cache.get("user:1")
    assert cached == db.rows["user:1"], f"stale cache: {cached!r}, database: {db.rows['user:1']!r}"


async def buggy() -> None:
    await _scenario(ReadThroughCache)


async def fixed() -> None:
    await _scenario(GenerationCache)


RACE = Race(
    name="cache_fill",
    pattern="check-then-act on a cache",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="a cache fill from a read that began before an update lands after its invalidation",
)
