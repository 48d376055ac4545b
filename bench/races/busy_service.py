"""A lost update among many unrelated tasks: a quota counter in a busy service.

A service handles two requests of one tenant among three requests of others (each an await
of its own). Each request of the tenant reads the tenant's quota usage, awaits the usage
store's write, and writes back usage + 1: two of them that interleave count once. The bug is
one deviation deep, but among the others' steps most schedules reorder something irrelevant:
a search must find the one reordering that matters, and shrinking must drop the rest.

Fix: a per-tenant lock around read-write.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from bench.races._corpus import Race


class Quotas:
    def __init__(self) -> None:
        self.used: defaultdict[str, int] = defaultdict(int)

    async def persist(self, tenant: str, value: int) -> None:
        await asyncio.sleep(0)

    async def charge(self, tenant: str) -> None:
        used = self.used[tenant]
        await self.persist(tenant, used + 1)
        self.used[tenant] = used + 1


class LockedQuotas(Quotas):
    def __init__(self) -> None:
        super().__init__()
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def charge(self, tenant: str) -> None:
        async with self.locks[tenant]:
            await super().charge(tenant)


async def _other_request(quotas: Quotas, tenant: str) -> None:
    await asyncio.sleep(0)  # parse, authorise, ...
    quotas.used[tenant] += 1


async def _scenario(quotas: Quotas) -> None:
    async def tenant_request(delay_steps: int) -> None:
        for _ in range(delay_steps):
            await asyncio.sleep(0)
        await quotas.charge("acme")

    others = [_other_request(quotas, f"tenant-{i}") for i in range(3)]
    await asyncio.gather(tenant_request(0), *others, tenant_request(1))
    assert quotas.used["acme"] == 2, f"2 requests, {quotas.used['acme']} counted"


async def buggy() -> None:
    await _scenario(Quotas())


async def fixed() -> None:
    await _scenario(LockedQuotas())


RACE = Race(
    name="busy_service",
    pattern="lost update among many unrelated tasks",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="two requests of one tenant interleave among three others: one charge is lost",
    # Five tasks stepping at once: the twin has far more schedules than the tests enumerate.
    enumerable=False,
    twin_bound=2,
)
