"""The bundled demo program: a bank whose deposits can be lost (``python -m simloop demo``).

Each operation reads the balance, awaits a write to the audit log, then writes the balance back.
In asyncio's own order every read happens after the previous write, so the test passes. But the
audit log is I/O: if a deposit's log write finishes first, the withdrawal writes back the
balance it read before the deposit, and the deposit is lost.
"""

import asyncio


class Bank:
    def __init__(self) -> None:
        self.balances = {"alice": 100}
        self.audit_log: list[tuple[str, int]] = []

    async def record(self, account: str, amount: int) -> None:
        await asyncio.sleep(0)  # a round trip to the audit log's database
        self.audit_log.append((account, amount))

    async def withdraw(self, account: str, amount: int) -> None:
        balance = self.balances[account]
        await self.record(account, -amount)
        self.balances[account] = balance - amount

    async def deposit(self, account: str, amount: int) -> None:
        await self.record(account, amount)
        balance = self.balances[account]
        self.balances[account] = balance + amount


async def test_concurrent_withdraw_and_deposit() -> None:
    bank = Bank()
    async with asyncio.TaskGroup() as group:
        group.create_task(bank.withdraw("alice", 30), name="withdraw")
        group.create_task(bank.deposit("alice", 50), name="deposit")
    balance = bank.balances["alice"]
    assert balance == 120, f"lost update: alice has {balance}, expected 120"
