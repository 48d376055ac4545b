"""TTL cache refresh stampede: the "refresh in progress" flag is set inside the refresh task.

A stale-while-revalidate cache: a read of an expired entry returns the stale value and starts
a background refresh, unless one is already in progress. The refresh task sets
``entry.refreshing`` when it starts running, not when it is created: a second read of the
expired entry between the two starts a second refresh, and the backend is hit twice. Entries
live 10 virtual seconds; two requests read the entry at t=10, the second after a session check
(an await). In asyncio's order the first read's refresh task starts before the second read;
one deviation runs the second read first.

Fix: set ``entry.refreshing`` in the reader, in the same step that creates the refresh task.
"""

from __future__ import annotations

import asyncio

from bench.races._corpus import Race


class Backend:
    def __init__(self) -> None:
        self.loads = 0

    async def load(self, key: str) -> str:
        await asyncio.sleep(0.1)
        self.loads += 1
        return f"{key} v{self.loads}"


class Entry:
    def __init__(self, value: str, expires_at: float) -> None:
        self.value = value
        self.expires_at = expires_at
        self.refreshing = False


class SWRCache:
    def __init__(self, backend: Backend, ttl: float) -> None:
        self.backend = backend
        self.ttl = ttl
        self.entries: dict[str, Entry] = {}
        self.refreshes: set[asyncio.Task[None]] = set()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def get(self, key: str) -> str:
        entry = self.entries.get(key)
        if entry is None:
            value = await self.backend.load(key)
            self.entries[key] = Entry(value, self._now() + self.ttl)
            return value
        if self._now() >= entry.expires_at and not entry.refreshing:
            self._start_refresh(key, entry)
        return entry.value

    def _start_refresh(self, key: str, entry: Entry) -> None:
        task = asyncio.create_task(self._refresh(key))
        self.refreshes.add(task)
        task.add_done_callback(self.refreshes.discard)

    async def _refresh(self, key: str) -> None:
        self.entries[key].refreshing = True
        value = await self.backend.load(key)
        self.entries[key] = Entry(value, self._now() + self.ttl)


class FlagFirstCache(SWRCache):
    def _start_refresh(self, key: str, entry: Entry) -> None:
        entry.refreshing = True
        super()._start_refresh(key, entry)

    async def _refresh(self, key: str) -> None:
        value = await self.backend.load(key)
        self.entries[key] = Entry(value, self._now() + self.ttl)


async def _request(cache: SWRCache, at: float, signed_in: bool) -> str:
    await asyncio.sleep(at)
    if signed_in:
        await asyncio.sleep(0)  # session check
    return await cache.get("front-page")


async def _scenario(cache: SWRCache) -> None:
    await cache.get("front-page")
    await asyncio.gather(_request(cache, 10, False), _request(cache, 10, True))
    await asyncio.gather(*cache.refreshes)
    assert cache.backend.loads == 2, f"{cache.backend.loads - 1} refreshes of one expired entry"


async def buggy() -> None:
    await _scenario(SWRCache(Backend(), ttl=10))


async def fixed() -> None:
    await _scenario(FlagFirstCache(Backend(), ttl=10))


RACE = Race(
    name="ttl_refresh",
    pattern="TTL cache refresh stampede (virtual time)",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="two reads of an expired entry both start a refresh: the backend is hit twice",
)
