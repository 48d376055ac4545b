"""A timeout racing a result: a payment is retried after a timeout that fired as it settled.

The gateway settles the charges submitted to it in batches, once a second. The checkout
reserves the order's items (an await), then submits a charge and waits for it with
``asyncio.wait(..., timeout=1)``; if the charge is not settled when it looks, it cancels its
future and submits again. The first batch settles at t=1, the instant the timeout fires. In asyncio's order the gateway's batch runs first and the
checkout sees the charge settled; one deviation lets the checkout look first: it resubmits,
and the customer is charged twice (the first charge did go through).

Fix: the gateway deduplicates on the charge's idempotency key, which every retry carries: a
retry of a pending charge joins it, a retry of a settled one gets its result.
"""

from __future__ import annotations

import asyncio

from bench.races._corpus import Race


class Gateway:
    def __init__(self) -> None:
        self.settled: list[tuple[str, int]] = []
        self._pending: list[tuple[str, int, asyncio.Future[str]]] = []

    def submit(self, key: str, amount: int) -> asyncio.Future[str]:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((key, amount, future))
        return future

    def _settle(self) -> None:
        batch, self._pending = self._pending, []
        for key, amount, future in batch:
            self.settled.append((key, amount))
            if not future.done():
                future.set_result("approved")

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._settle()


class IdempotentGateway(Gateway):
    def __init__(self) -> None:
        super().__init__()
        self._results: dict[str, str] = {}
        self._waiting: dict[str, tuple[int, list[asyncio.Future[str]]]] = {}

    def submit(self, key: str, amount: int) -> asyncio.Future[str]:
        future = asyncio.get_running_loop().create_future()
        if key in self._results:
            future.set_result(self._results[key])
        elif key in self._waiting:
            self._waiting[key][1].append(future)
        else:
            self._waiting[key] = (amount, [future])
        return future

    def _settle(self) -> None:
        batch, self._waiting = self._waiting, {}
        for key, (amount, futures) in batch.items():
            self.settled.append((key, amount))
            self._results[key] = "approved"
            for future in futures:
                if not future.done():
                    future.set_result("approved")


async def pay(gateway: Gateway, key: str, amount: int, attempts: int = 3) -> str:
    for _ in range(attempts):
        charge = gateway.submit(key, amount)
        done, _ = await asyncio.wait({charge}, timeout=1.0)
        if charge in done:
            return charge.result()
        charge.cancel()  # not settled in time: give up on it and try again
    raise TimeoutError(f"payment {key} not settled")


async def _reserve_stock(inventory: dict[str, int], item: str) -> None:
    await asyncio.sleep(0)  # a round trip to the inventory service
    inventory[item] -= 1


async def _scenario(gateway: Gateway) -> None:
    settlement = asyncio.create_task(gateway.run())
    inventory = {"sku-9": 5}
    await _reserve_stock(inventory, "sku-9")
    result = await pay(gateway, "order-17", 30)
    await asyncio.sleep(2.0)  # let every batch in flight settle
    settlement.cancel()
    assert result == "approved"
    assert gateway.settled == [("order-17", 30)], f"charged {len(gateway.settled)} times"


async def buggy() -> None:
    await _scenario(Gateway())


async def fixed() -> None:
    await _scenario(IdempotentGateway())


RACE = Race(
    name="timeout_retry",
    pattern="timeout racing a result (asyncio.wait timeout)",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="the checkout times out at the instant its charge settles and charges again",
)
