"""``Queue.join``/``task_done`` mismatch: a batching worker calls ``task_done()`` once per batch.

The indexer takes one document with ``await queue.get()``, then everything else already queued
with ``get_nowait()``, and indexes the batch in one bulk request; then it calls
``task_done()`` once. When a batch has more than one document, the queue's unfinished count
never reaches zero and ``queue.join()`` waits forever (``simloop.DeadlockError``). Two
crawlers feed the queue; the second page takes one more round trip (a redirect). In asyncio's
order the indexer takes the first page before the second is queued, so each batch has one
document; one deviation queues the second page before the indexer wakes up for the first.

Fix: one ``task_done()`` per document taken.
"""

from __future__ import annotations

import asyncio

import simloop
from bench.races._corpus import Race


class SearchBackend:
    def __init__(self) -> None:
        self.index: list[str] = []
        self.requests = 0

    async def bulk(self, documents: list[str]) -> None:
        await asyncio.sleep(0)
        self.index.extend(documents)
        self.requests += 1


class Indexer:
    def __init__(self, backend: SearchBackend) -> None:
        self.backend = backend
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    def _done(self, batch: list[str]) -> None:
        self.queue.task_done()  # the batch is indexed

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            await self.backend.bulk(batch)
            self._done(batch)


class PerItemIndexer(Indexer):
    def _done(self, batch: list[str]) -> None:
        for _ in batch:
            self.queue.task_done()


async def _crawl(indexer: Indexer, url: str, round_trips: int) -> None:
    for _ in range(round_trips):
        await asyncio.sleep(0)  # fetch (b.html redirects once)
    indexer.queue.put_nowait(f"<{url}>")


async def _scenario(indexer_class: type[Indexer]) -> None:
    backend = SearchBackend()
    indexer = indexer_class(backend)
    worker = asyncio.create_task(indexer.run())
    await asyncio.gather(_crawl(indexer, "a.html", 1), _crawl(indexer, "b.html", 2))
    await indexer.queue.join()
    worker.cancel()
    assert sorted(backend.index) == ["<a.html>", "<b.html>"]


async def buggy() -> None:
    await _scenario(Indexer)


async def fixed() -> None:
    await _scenario(PerItemIndexer)


RACE = Race(
    name="queue_task_done",
    pattern="Queue.join/task_done mismatch",
    depth=1,
    kind="deadlock",
    error=simloop.DeadlockError,
    buggy=buggy,
    fixed=fixed,
    summary="a two-document batch gets one task_done(): join() waits forever",
)
