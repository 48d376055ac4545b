"""What a network may do: per-link latency and the variations a search may choose.

Everything here is declarative and frozen: a :class:`Link` says which choices the network
offers the scheduler on a link; option 0 of each is always the ideal loopback's behaviour
(no delay, writes delivered whole, every datagram once, in order).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from simloop import InvalidArgumentError

_NS = 1_000_000_000


def _seconds_to_ns(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        kind = type(value).__name__
        msg = f"`{name}` must be a non-negative number of seconds, not {kind} {value!r}"
        raise InvalidArgumentError(msg)
    if value == float("inf"):
        msg = f"`{name}` must be a finite number of seconds, not {value!r}"
        raise InvalidArgumentError(msg)
    return round(value * _NS)


def format_duration(ns: int) -> str:
    """``120000000`` -> ``"120 ms"``: how reports write a delay."""
    if ns == 0:
        return "0 ms"
    if ns % _NS == 0:
        return f"{ns // _NS} s"
    if ns >= _NS:
        return f"{ns / _NS:g} s"
    if ns % 1_000_000 == 0 or ns >= 1_000_000:
        return f"{ns / 1_000_000:g} ms"
    return f"{ns / 1_000:g} µs"


def _levels(values: Iterable[int]) -> tuple[int, ...]:
    levels = tuple(sorted(set(values)))
    if not levels:
        msg = "a latency needs at least one value"
        raise InvalidArgumentError(msg)
    return levels


@attrs.frozen
class Latency:
    """How long a packet takes on a link: a choice among ``levels_ns``, option 0 the smallest.

    Build one with :meth:`fixed`, :meth:`uniform` or :meth:`of`. A latency with one level
    makes no choice at all.
    """

    #: The possible one-way delays, in nanoseconds, smallest first.
    levels_ns: tuple[int, ...] = attrs.field(converter=_levels, default=(0,))

    @classmethod
    def fixed(cls, seconds: float) -> Latency:
        """Every packet takes exactly ``seconds``."""
        return cls((_seconds_to_ns(seconds, "seconds"),))

    @classmethod
    def uniform(cls, low: float, high: float, *, levels: int = 8) -> Latency:
        """``levels`` evenly spaced delays from ``low`` (option 0) to ``high``."""
        lo = _seconds_to_ns(low, "low")
        hi = _seconds_to_ns(high, "high")
        if hi < lo:
            msg = f"`high` ({high!r}) must be >= `low` ({low!r})"
            raise InvalidArgumentError(msg)
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            msg = f"`levels` must be a positive int, not {type(levels).__name__} {levels!r}"
            raise InvalidArgumentError(msg)
        if levels == 1 or hi == lo:
            return cls((lo,))
        return cls(lo + (hi - lo) * k // (levels - 1) for k in range(levels))

    @classmethod
    def of(cls, *seconds: float) -> Latency:
        """Exactly these delays (sorted; the smallest is option 0)."""
        return cls(_seconds_to_ns(s, "seconds") for s in seconds)

    @property
    def choices(self) -> int:
        """How many options a packet's delay has (1: no choice)."""
        return len(self.levels_ns)


@attrs.frozen
class Link:
    """What may happen to traffic on a link (by default: nothing, an ideal loopback).

    Each enabled variation is a choice the scheduler makes per packet, option 0 being the
    ideal behaviour, so ``Fifo`` still runs an ideal network. Faults that lose data
    (``drop``, ``duplicate``, ``reset``) count against the network's ``fault_budget``.
    """

    #: The one-way delay of each packet (a choice when it has several levels).
    latency: Latency = attrs.field(factory=Latency)
    #: A TCP write may arrive split in two reads.
    split: bool = False
    #: A TCP write may be held back to arrive together with the next one (Nagle).
    coalesce: bool = False
    #: A datagram may be lost.
    drop: bool = False
    #: A datagram may arrive twice.
    duplicate: bool = False
    #: A datagram may arrive after datagrams sent later.
    reorder: bool = False
    #: The search may reset a TCP connection (both ends see ``ConnectionResetError``).
    reset: bool = False

    @property
    def segment_options(self) -> int:
        """How many ways a TCP write may arrive: whole, split, held back."""
        return 1 + self.split + self.coalesce

    @property
    def datagram_options(self) -> int:
        """How many fates a datagram has: delivered, lost, duplicated, late."""
        return 1 + self.drop + self.duplicate + self.reorder


#: A link with nothing enabled: what every link is unless told otherwise.
IDEAL = Link()

#: How often a fault (a lost datagram, a reset, an injected partition) strikes a packet under
#: a random scheduler (``ChoicePoint.weights``): rarely, so that a run meets one at a random
#: moment rather than at its first packet.
FAULT_WEIGHT = 0.05


def fault_weights(n: int) -> tuple[float, ...]:
    """Option 0 (no fault) most of the time; the ``n - 1`` faults share the rest."""
    return (1.0 - FAULT_WEIGHT, *([FAULT_WEIGHT / (n - 1)] * (n - 1)))


#: How long a write may be held back to coalesce with the next (about Linux's delayed ACK).
COALESCE_HOLD_NS = 40_000_000
#: How much later than the next datagram a reordered one arrives.
REORDER_DELAY_NS = 1_000_000
