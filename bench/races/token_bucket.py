"""A rate limiter that checks, then awaits, then takes a token: two requests share one.

An API client allows one request per window. ``acquire()`` checks that a token is left, awaits
the audit log's write, then takes the token: two requests that both check before either takes
it are both let through. In asyncio's order the first request takes the token before the
second checks; one deviation lets the second check in between.

Fix: take the token in the same step as the check, and give it back if the audit write fails.
"""

from __future__ import annotations

import asyncio

from bench.races._corpus import Race


class Limiter:
    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.audit: list[str] = []

    async def write_audit(self, who: str) -> None:
        await asyncio.sleep(0)
        self.audit.append(who)

    async def acquire(self, who: str) -> bool:
        if self.tokens <= 0:
            return False
        await self.write_audit(who)
        self.tokens -= 1
        return True


class AtomicLimiter(Limiter):
    async def acquire(self, who: str) -> bool:
        if self.tokens <= 0:
            return False
        self.tokens -= 1
        try:
            await self.write_audit(who)
        except BaseException:
            self.tokens += 1
            raise
        return True


async def _scenario(limiter: Limiter) -> None:
    async def later(who: str) -> bool:
        await asyncio.sleep(0)  # arrives a moment later
        return await limiter.acquire(who)

    allowed = await asyncio.gather(limiter.acquire("alice"), later("bob"))
    assert sum(allowed) == 1, f"a limit of 1 let {sum(allowed)} requests through"
    assert limiter.tokens == 0


async def buggy() -> None:
    await _scenario(Limiter(tokens=1))


async def fixed() -> None:
    await _scenario(AtomicLimiter(tokens=1))


RACE = Race(
    name="token_bucket",
    pattern="rate limiter: check, await, then take",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="two requests both see the last token before either takes it",
)
