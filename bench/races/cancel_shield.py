"""A handler cancelled between two writes: the transfer is half done.

A transfer endpoint debits one account, awaits the ledger, then credits the other. When the
client disconnects, the server cancels the handler's task: if that happens between the two
writes (``simloop.cancel_somewhere`` lets the search pick the await), the money leaves one
account and never reaches the other. asyncio's order never cancels, so it passes; one
decision (cancel there) breaks it.

Fix: run the two writes as one unit under ``asyncio.shield``; a disconnect then cancels the
waiting, not the commit.
"""

from __future__ import annotations

import asyncio

import simloop
from bench.races._corpus import Race


class Ledger:
    def __init__(self) -> None:
        self.balances = {"alice": 100, "bob": 0}

    async def write(self) -> None:
        await asyncio.sleep(0)  # the database round trip

    async def commit(self, amount: int) -> None:
        self.balances["alice"] -= amount
        await self.write()
        self.balances["bob"] += amount
        await self.write()

    async def transfer(self, amount: int) -> None:
        await self.commit(amount)


class ShieldedLedger(Ledger):
    async def transfer(self, amount: int) -> None:
        await asyncio.shield(self.commit(amount))


async def _scenario(ledger: Ledger) -> None:
    handler = asyncio.ensure_future(ledger.transfer(30))
    simloop.cancel_somewhere(handler)  # the client may disconnect at any await
    try:
        await handler
    except asyncio.CancelledError:
        pass
    await asyncio.sleep(1)  # whatever was shielded finishes
    total = sum(ledger.balances.values())
    assert total == 100, f"money lost in a half-done transfer: {ledger.balances}"


async def buggy() -> None:
    await _scenario(Ledger())


async def fixed() -> None:
    await _scenario(ShieldedLedger())


RACE = Race(
    name="cancel_shield",
    pattern="cancellation between two writes (no shield)",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="a disconnect cancels the transfer after the debit, before the credit",
)
