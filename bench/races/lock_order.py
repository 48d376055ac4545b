"""Lock-order deadlock: two transfers lock the same two accounts in opposite orders.

``transfer(src, dst)`` locks ``src``, awaits a ledger reservation, then locks ``dst``. Large
transfers are first screened for fraud (an await). In asyncio's order the small transfer
alice -> bob finishes before the large bob -> alice one takes its first lock. If the large
transfer locks bob while the small one holds alice (one deviation), each waits for the other's
lock forever: ``simloop.DeadlockError``.

Fix: always lock the two accounts in one global order (by name), whatever the direction.
"""

from __future__ import annotations

import asyncio

import simloop
from bench.races._corpus import Race


class Account:
    def __init__(self, name: str, balance: int) -> None:
        self.name = name
        self.balance = balance
        self.lock = asyncio.Lock()


class Ledger:
    async def reserve(self, account: Account, amount: int) -> None:
        await asyncio.sleep(0)
        assert account.balance >= amount, f"{account.name} cannot cover {amount}"


class Bank:
    def __init__(self) -> None:
        self.ledger = Ledger()

    async def screen(self, amount: int) -> None:
        if amount >= 100:
            await asyncio.sleep(0)  # the fraud service looks at large transfers

    def _locks(self, src: Account, dst: Account) -> tuple[asyncio.Lock, asyncio.Lock]:
        return src.lock, dst.lock

    async def transfer(self, src: Account, dst: Account, amount: int) -> None:
        await self.screen(amount)
        first, second = self._locks(src, dst)
        async with first:
            await self.ledger.reserve(src, amount)
            async with second:
                src.balance -= amount
                dst.balance += amount


class OrderedBank(Bank):
    def _locks(self, src: Account, dst: Account) -> tuple[asyncio.Lock, asyncio.Lock]:
        a, b = sorted((src, dst), key=lambda account: account.name)
        return a.lock, b.lock


async def _scenario(bank: Bank) -> None:
    alice, bob = Account("alice", 100), Account("bob", 1000)
    await asyncio.gather(bank.transfer(alice, bob, 30), bank.transfer(bob, alice, 500))
    assert (alice.balance, bob.balance) == (570, 530)


async def buggy() -> None:
    await _scenario(Bank())


async def fixed() -> None:
    await _scenario(OrderedBank())


RACE = Race(
    name="lock_order",
    pattern="lock-order deadlock",
    depth=1,
    kind="deadlock",
    error=simloop.DeadlockError,
    buggy=buggy,
    fixed=fixed,
    summary="each transfer holds one account's lock and waits for the other's",
)
