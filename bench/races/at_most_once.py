"""At-most-once handler running twice: a webhook deduplicated after the side effect.

The payment provider delivers each event at least once: it redelivers an event it did not
see acknowledged in time. The receiver skips event ids it has processed; but it marks an id
processed only after the handler's side effect (emailing the receipt, an await). A redelivery
that arrives while the first delivery is sending the email passes the check and emails the
receipt again. In asyncio's order the first delivery finishes first; one deviation lets the
redelivery in during the send.

Fix: claim the event id before the await (and give it back if the handler fails), so the check
and the claim happen in one step.
"""

from __future__ import annotations

import asyncio

from bench.races._corpus import Race


class Mailer:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_receipt(self, address: str) -> None:
        await asyncio.sleep(0)
        self.sent.append(address)


class WebhookReceiver:
    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self.processed: set[str] = set()

    async def handle(self, event_id: str, address: str) -> str:
        if event_id in self.processed:
            return "duplicate"
        await self.mailer.send_receipt(address)
        self.processed.add(event_id)
        return "ok"


class ClaimingReceiver(WebhookReceiver):
    async def handle(self, event_id: str, address: str) -> str:
        if event_id in self.processed:
            return "duplicate"
        self.processed.add(event_id)  # claimed: a redelivery from now on is a duplicate
        try:
            await self.mailer.send_receipt(address)
        except BaseException:
            self.processed.discard(event_id)  # let a redelivery try again
            raise
        return "ok"


async def _redeliver(receiver: WebhookReceiver, event_id: str, address: str) -> str:
    await asyncio.sleep(0)  # the provider's retry timer
    return await receiver.handle(event_id, address)


async def _scenario(receiver: WebhookReceiver) -> None:
    results = await asyncio.gather(
        receiver.handle("evt_42", "ann@example.com"),
        _redeliver(receiver, "evt_42", "ann@example.com"),
    )
    assert sorted(results) == ["duplicate", "ok"], results
    assert receiver.mailer.sent == ["ann@example.com"], f"sent {receiver.mailer.sent}"


async def buggy() -> None:
    await _scenario(WebhookReceiver(Mailer()))


async def fixed() -> None:
    await _scenario(ClaimingReceiver(Mailer()))


RACE = Race(
    name="at_most_once",
    pattern="at-most-once handler running twice",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="a redelivered webhook passes the dedup check while the first is still sending",
)
