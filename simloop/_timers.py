"""The timer heap: timers by deadline, with a defined order for equal deadlines.

Stock asyncio orders ``TimerHandle`` objects by deadline only, so timers due at the same time
have no defined order; on a virtual clock such ties are common (two ``sleep(0.005)`` started
in the same step). Each timer's heap key is one int: its deadline in nanoseconds shifted left
by :data:`SEQUENCE_BITS`, plus a sequence number, so ties come out in the order the timers
were scheduled (option 0 of a ``"timer.tie"`` choice). Ints compare in C, and one key costs
less memory per sleeping task than a (deadline, sequence) pair.

Cancelled timers stay in the heap until they come up, as in stock asyncio, unless they make
up most of it: then the heap is rebuilt without them.
"""

from __future__ import annotations

import heapq
from heapq import heappop
from typing import Any

from simloop._clock import NEVER_NS

#: A timer's heap key is its deadline shifted left by this many bits, plus a sequence number.
SEQUENCE_BITS = 40

#: Rebuild the heap when this many cancelled timers make up more than half of it.
MIN_CANCELLED_TO_COMPACT = 64


class TimerQueue:
    """The loop's pending timers. ``heap`` holds ``(key, timer, armed)`` entries: the key (see
    the module docstring), the timer, and the loop's step count when it was scheduled (how long
    the loop has been busy since, see ``Kernel._advance_clock_while_busy``). The loop's hot
    paths read and pop its top in place, once per batch, rather than through a method call."""

    __slots__ = ("cancelled", "heap", "sequence")

    def __init__(self) -> None:
        self.heap: list[tuple[int, Any, int]] = []
        self.sequence = 0
        #: Cancelled timers still in the heap (asyncio's ``_timer_cancelled_count``).
        self.cancelled = 0

    def due_before(self, now_ns: int) -> bool:
        """Whether a timer (maybe cancelled) is due at ``now_ns`` or earlier."""
        heap = self.heap
        return bool(heap) and heap[0][0] < (now_ns + 1) << SEQUENCE_BITS

    def pop_due(self, now_ns: int) -> list[list[Any]]:
        """Take every live timer due at ``now_ns`` or earlier off the heap, grouped by
        deadline (each group in scheduling order), earliest first."""
        heap = self.heap
        if self.cancelled > MIN_CANCELLED_TO_COMPACT and self.cancelled * 2 > len(heap):
            self.compact()
        bound = (now_ns + 1) << SEQUENCE_BITS
        groups: list[list[Any]] = []
        last_deadline = -1
        while heap and heap[0][0] < bound:
            key, timer, _ = heappop(heap)
            timer._scheduled = False
            if timer._cancelled:
                self.cancelled -= 1
                continue
            deadline = key >> SEQUENCE_BITS
            if deadline != last_deadline:
                groups.append([])
                last_deadline = deadline
            groups[-1].append(timer)
        return groups

    def next_deadline(self) -> int | None:
        """The deadline of the next live timer (dropping cancelled ones from the top), or
        None if there is none that ever fires."""
        heap = self.heap
        while heap and heap[0][1]._cancelled:
            heappop(heap)[1]._scheduled = False
            self.cancelled -= 1
        if not heap or heap[0][0] >> SEQUENCE_BITS >= NEVER_NS:
            return None
        return heap[0][0] >> SEQUENCE_BITS

    def compact(self) -> None:
        live = []
        for entry in self.heap:
            if entry[1]._cancelled:
                entry[1]._scheduled = False
            else:
                live.append(entry)
        heapq.heapify(live)
        self.heap[:] = live
        self.cancelled = 0
