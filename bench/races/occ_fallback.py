"""A bug that needs three specific decisions: optimistic updates that fall back to a blind write.

A document store offers compare-and-set on a version number. The profile service adds a
badge with read / modify / compare-and-set, and retries after a conflict, one second later.
After the third conflict it gives up on optimistic concurrency and writes the copy it has,
unconditionally: that overwrites the change that caused the conflict. A sync job updates the
same document once a second, with a server-side transaction. A conflict needs the sync job's
update to land between the service's read and its compare-and-set: one deviation at each
tick. In asyncio's order the sync job's update lands first and the first attempt succeeds;
only when all three attempts conflict (three deviations) is a sync update lost.

Fix: after the retries, add the badge with a server-side transaction, like the sync job,
instead of forcing a stale copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bench.races._corpus import Race

Document = dict[str, list[str]]


class DocumentStore:
    def __init__(self) -> None:
        self.doc: Document = {"badges": [], "synced": []}
        self.version = 0

    def _copy(self) -> Document:
        return {key: list(values) for key, values in self.doc.items()}

    async def read(self) -> tuple[Document, int]:
        await asyncio.sleep(0)
        return self._copy(), self.version

    async def compare_and_set(self, doc: Document, version: int) -> bool:
        await asyncio.sleep(0)
        if version != self.version:
            return False
        self.doc, self.version = doc, version + 1
        return True

    async def write(self, doc: Document) -> None:
        await asyncio.sleep(0)
        self.doc, self.version = doc, self.version + 1

    async def transact(self, change: Callable[[Document], None]) -> None:
        """Read, change and write the document on the server, atomically."""
        await asyncio.sleep(0)
        doc = self._copy()
        change(doc)
        self.doc, self.version = doc, self.version + 1


class ProfileService:
    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    async def add_badge(self, badge: str, attempts: int = 3) -> None:
        for attempt in range(attempts):
            doc, version = await self.store.read()
            doc["badges"].append(badge)
            if await self.store.compare_and_set(doc, version):
                return
            if attempt < attempts - 1:
                await asyncio.sleep(1.0)  # back off, then retry
        await self._give_up(doc, badge)

    async def _give_up(self, doc: Document, badge: str) -> None:
        await self.store.write(doc)  # stop fighting: force our copy


class TransactionalProfileService(ProfileService):
    async def _give_up(self, doc: Document, badge: str) -> None:
        await self.store.transact(lambda latest: latest["badges"].append(badge))


def _record_sync(tick: int) -> Callable[[Document], None]:
    def record(doc: Document) -> None:
        doc["synced"].append(f"tick {tick}")

    return record


async def _sync_job(store: DocumentStore, ticks: int) -> None:
    for tick in range(ticks):
        await store.transact(_record_sync(tick))
        await asyncio.sleep(1.0)


async def _scenario(service_class: type[ProfileService]) -> None:
    store = DocumentStore()
    await asyncio.gather(_sync_job(store, ticks=4), service_class(store).add_badge("early"))
    assert store.doc["badges"] == ["early"], f"badges: {store.doc['badges']}"
    synced = store.doc["synced"]
    assert synced == [f"tick {t}" for t in range(4)], f"lost a sync update: {synced}"


async def buggy() -> None:
    await _scenario(ProfileService)


async def fixed() -> None:
    await _scenario(TransactionalProfileService)


RACE = Race(
    name="occ_fallback",
    pattern="a bug needing three decisions (depth 3)",
    depth=3,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="three compare-and-set conflicts in a row make the service force a stale copy",
)
