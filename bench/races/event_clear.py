"""Lost wakeup with ``Event.clear``: a mailer clears its wake-up signal after sending.

The mailer waits for ``wakeup``, takes the whole outbox, sends it (an await) and then clears
``wakeup``. Mail queued while a batch is being sent sets an event that is already set, and the
``clear()`` after the send wipes that signal: the mail sits in the outbox and the mailer sleeps
until the next enqueue, maybe forever. The service also runs a once-a-second heartbeat, so
the loop never runs out of work (no deadlock): the test states the requirement as liveness,
``simloop.eventually(both mails sent, within=5)``, and the lost wakeup fails it with
``simloop.LivenessError`` at virtual time 5. In asyncio's order the second message is queued
after the mailer is back to waiting; one deviation queues it during the send.

Fix: clear the event right after waking, before taking the outbox, in the same step. Anything
queued after the take sets the event again after the clear.
"""

from __future__ import annotations

import asyncio

import simloop
from bench.races._corpus import Race


class Transport:
    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def send(self, batch: list[str]) -> None:
        await asyncio.sleep(0)  # SMTP round trip
        self.delivered.extend(batch)


class Mailer:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.outbox: list[str] = []
        self.wakeup = asyncio.Event()
        self.sent = 0
        self._watchers: list[tuple[int, asyncio.Future[None]]] = []

    def enqueue(self, message: str) -> None:
        self.outbox.append(message)
        self.wakeup.set()

    def sent_at_least(self, count: int) -> asyncio.Future[None]:
        """A future that completes once ``count`` messages have been sent."""
        future = asyncio.get_running_loop().create_future()
        self._watchers.append((count, future))
        self._notify()
        return future

    def _notify(self) -> None:
        for count, future in list(self._watchers):
            if self.sent >= count:
                self._watchers.remove((count, future))
                future.set_result(None)

    async def run(self) -> None:
        while True:
            await self.wakeup.wait()
            batch, self.outbox = self.outbox, []
            await self.transport.send(batch)
            self.sent += len(batch)
            self._notify()
            self.wakeup.clear()  # done: wait for the next enqueue


class ClearFirstMailer(Mailer):
    async def run(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()  # anything queued from now on sets it again
            batch, self.outbox = self.outbox, []
            await self.transport.send(batch)
            self.sent += len(batch)
            self._notify()


async def _render(template: str) -> str:
    await asyncio.sleep(0)  # load the template
    await asyncio.sleep(0)  # fill in the user's data
    return template.upper()


async def _heartbeat() -> None:
    while True:
        await asyncio.sleep(1)


async def _scenario(mailer_class: type[Mailer]) -> None:
    transport = Transport()
    mailer = mailer_class(transport)
    background = [asyncio.create_task(_heartbeat()), asyncio.create_task(mailer.run())]
    simloop.eventually(lambda: len(transport.delivered) == 2, within=5, name="both mails sent")
    mailer.enqueue("welcome")
    mailer.enqueue(await _render("receipt"))
    await mailer.sent_at_least(2)
    for task in background:
        task.cancel()
    assert transport.delivered == ["welcome", "RECEIPT"]


async def buggy() -> None:
    await _scenario(Mailer)


async def fixed() -> None:
    await _scenario(ClearFirstMailer)


RACE = Race(
    name="event_clear",
    pattern="lost wakeup with Event.clear",
    depth=1,
    kind="liveness",
    error=simloop.LivenessError,
    buggy=buggy,
    fixed=fixed,
    summary="mail queued during a send is never sent: clear() after the send erased its wake-up",
)
