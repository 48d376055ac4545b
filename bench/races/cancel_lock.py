"""Cancellation inside a critical section: a journal whose lock leaks when a write is cancelled.

``append()`` takes the journal's lock with ``await lock.acquire()``, appends the record, awaits
the fsync and only then calls ``lock.release()``, with no ``try``/``finally``. A writer that
is cancelled while it waits for the fsync never releases the lock: the next ``append()`` waits
forever (``simloop.DeadlockError``). ``simloop.cancel_somewhere`` lets the scheduler cancel
the writer before any one of its steps; asyncio's own order never cancels it, and one
deviation (the cancellation at the fsync) exposes the leak.

Fix: ``async with lock:``, which releases the lock however the block is left.
"""

from __future__ import annotations

import asyncio

import simloop
from bench.races._corpus import Race


class Disk:
    def __init__(self) -> None:
        self.synced = 0

    async def fsync(self) -> None:
        await asyncio.sleep(0)
        self.synced += 1


class Journal:
    def __init__(self, disk: Disk) -> None:
        self.disk = disk
        self.lock = asyncio.Lock()
        self.records: list[str] = []

    async def append(self, record: str) -> None:
        await self.lock.acquire()
        self.records.append(record)
        await self.disk.fsync()
        self.lock.release()


class SafeJournal(Journal):
    async def append(self, record: str) -> None:
        async with self.lock:
            self.records.append(record)
            await self.disk.fsync()


async def _scenario(journal: Journal) -> None:
    writer = asyncio.create_task(journal.append("deposit 30"))
    simloop.cancel_somewhere(writer)  # the request may be aborted at any await
    try:
        await writer
    except asyncio.CancelledError:
        pass
    await journal.append("withdraw 10")
    assert journal.records[-1] == "withdraw 10"
    assert not journal.lock.locked()


async def buggy() -> None:
    await _scenario(Journal(Disk()))


async def fixed() -> None:
    await _scenario(SafeJournal(Disk()))


RACE = Race(
    name="cancel_lock",
    pattern="cancellation inside a critical section",
    depth=1,
    kind="deadlock",
    error=simloop.DeadlockError,
    buggy=buggy,
    fixed=fixed,
    summary="a writer cancelled during its fsync never releases the lock",
)
