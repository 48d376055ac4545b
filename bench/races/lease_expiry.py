"""A lease expiry race: a renewal that lands at the instant of expiry revives a lost lease.

A lock service grants a leader lease for ``ttl`` seconds; a candidate may take the lease once it
has expired. The leader renews every ``ttl`` seconds and the standby polls every ``ttl``
seconds, each with ``loop.call_later``: at t=1 the leader's renewal and the standby's poll are
due together. In asyncio's order the renewal (scheduled first) extends the lease and the poll
finds it held. If the poll runs first (one deviation: the order of the tied timers), the
standby takes the expired lease, and then the renewal, which does not check who holds the
lease, extends it for the old leader too: two nodes believe they lead, which the invariant
"at most one leader" catches (``simloop.InvariantError``).

Fix: ``renew()`` is a compare-and-set on the holder: it fails for a node that lost the lease,
and that node stops leading.
"""

from __future__ import annotations

import asyncio

import simloop
from bench.races._corpus import Race


class LeaseService:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.holder: str | None = None
        self.expires_at = 0.0

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def try_acquire(self, node: str) -> float | None:
        """The lease's expiry time if ``node`` now holds it, else ``None``."""
        if self.holder is not None and self._now() < self.expires_at:
            return None
        self.holder, self.expires_at = node, self._now() + self.ttl
        return self.expires_at

    def renew(self, node: str) -> float | None:
        self.expires_at = self._now() + self.ttl
        return self.expires_at


class CheckedLeaseService(LeaseService):
    def renew(self, node: str) -> float | None:
        if self.holder != node or self._now() >= self.expires_at:
            return None  # lost it: someone else may hold it now
        return super().renew(node)


class Node:
    def __init__(self, name: str, service: LeaseService) -> None:
        self.name = name
        self.service = service
        self.lease_until: float | None = None

    @property
    def leading(self) -> bool:
        loop = asyncio.get_running_loop()
        return self.lease_until is not None and loop.time() < self.lease_until

    def start(self) -> None:
        self.lease_until = self.service.try_acquire(self.name)
        self._schedule()

    def _schedule(self) -> None:
        asyncio.get_running_loop().call_later(self.service.ttl, self._tick)

    def _tick(self) -> None:
        if self.lease_until is not None:
            self.lease_until = self.service.renew(self.name)
        else:
            self.lease_until = self.service.try_acquire(self.name)
        self._schedule()


async def _scenario(service: LeaseService) -> None:
    nodes = [Node("node-a", service), Node("node-b", service)]
    simloop.invariant(lambda: sum(node.leading for node in nodes) <= 1, name="at most one leader")
    for node in nodes:
        node.start()
    await asyncio.sleep(1.5)
    assert any(node.leading for node in nodes), "nobody leads"


async def buggy() -> None:
    await _scenario(LeaseService(ttl=1.0))


async def fixed() -> None:
    await _scenario(CheckedLeaseService(ttl=1.0))


RACE = Race(
    name="lease_expiry",
    pattern="lease renewal vs expiry (virtual time)",
    depth=1,
    kind="invariant",
    error=simloop.InvariantError,
    buggy=buggy,
    fixed=fixed,
    summary="the standby takes the expired lease, then the old leader's renewal revives it",
)
