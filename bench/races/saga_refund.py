"""A booking saga and a cancellation that reads its progress once: a charge is never refunded.

A trip booking saga holds the flight, holds the hotel, then charges the card, an await each.
A cancellation arriving meanwhile reads how far the saga got, then (after notifying the
customer) compensates what it saw: releases the holds, refunds the charge *if it saw one*.
The saga does not look for a cancellation between its steps. The customer ends up cancelled
and charged only if the cancellation reads the saga's progress before the charge and
compensates after it: the saga must overtake the cancellation twice in a row at the right
moments (a deep saga, depth 2).

Fix: the saga checks for a cancellation before the charge, and the cancellation re-reads the
progress when it compensates.
"""

from __future__ import annotations

import asyncio

from bench.races._corpus import Race


class Booking:
    def __init__(self) -> None:
        self.flight = self.hotel = self.charged = self.cancelled = False
        self.refunded = False

    async def step(self) -> None:
        await asyncio.sleep(0)  # a call to a partner's API

    async def saga(self) -> None:
        await self.step()
        self.flight = True
        await self.step()
        self.hotel = True
        await self.step()
        self.charged = True

    async def cancel(self) -> None:
        self.cancelled = True
        was_charged = self.charged
        await self.step()  # tell the customer
        await self.step()
        self.flight = self.hotel = False
        if was_charged:
            self.refunded = True


class CarefulBooking(Booking):
    async def saga(self) -> None:
        await self.step()
        self.flight = True
        await self.step()
        self.hotel = True
        await self.step()
        if not self.cancelled:
            self.charged = True

    async def cancel(self) -> None:
        self.cancelled = True
        await self.step()
        await self.step()
        self.flight = self.hotel = False
        if self.charged:
            self.refunded = True


async def _scenario(booking: Booking) -> None:
    async def customer() -> None:
        for _ in range(4):
            await booking.step()  # browse, find the cancel button, confirm, re-confirm
        await booking.cancel()

    await asyncio.gather(booking.saga(), customer())
    if booking.cancelled:
        assert not booking.charged or booking.refunded, "cancelled, charged and never refunded"


async def buggy() -> None:
    await _scenario(Booking())


async def fixed() -> None:
    await _scenario(CarefulBooking())


RACE = Race(
    name="saga_refund",
    pattern="deep saga: cancellation compensates a stale view",
    depth=2,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="a cancellation reads the saga before its charge and compensates after it",
)
