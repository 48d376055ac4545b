"""Ready lanes: the ready callbacks of a loop that lets a scheduler pick which runs next.

The callbacks scheduled by one step (one callback run) form one *lane*, in the order they were
scheduled. The scheduler picks a lane; the lane's first callback runs. So callbacks from the
same step keep the relative order asyncio guarantees (a future's done-callbacks, the waiters
woken by ``Event.set``), while callbacks from different steps may run in any order, which
models awaits that take different amounts of real time. With ``shuffle`` every callback gets
a lane of its own.

A lane is a linked list of handles (``LaneHandle._next``); ``active`` holds the first handle
of every non-empty lane, each knowing its index there (``_pos``), so that a choice, taking the
handle and retiring an emptied lane (by swapping the last lane into its place) are all O(1),
with no allocation per lane.

Option 0 is always the callback stock asyncio would run next. The callbacks of one step are
scheduled together, so stock asyncio's FIFO queue is the lanes laid end to end in the order
they were opened, and its head is the first handle of the oldest lane. The first handles of
the lanes are also linked in the order the lanes were opened (``_older``/``_younger``, from
``oldest`` to ``youngest``); a handle that becomes its lane's first takes over its
predecessor's links, and an emptied lane is unlinked, so stock asyncio's next callback is
always ``oldest``, in O(1) and with nothing kept alive after it ran.

:class:`ReadyLanes` is the plain implementation, used wherever speed does not matter. The
loop's hot path (``SimLoop._run_batches_chosen``) inlines :meth:`take` and :meth:`add_lane`
over the same fields; ``tests/core/test_core_lanes.py`` checks that both make the same runs.
"""

from __future__ import annotations

from asyncio import events
from collections.abc import Iterator
from typing import Any


class LaneHandle(events.Handle):
    """A ready callback in lanes mode: a link in its lane, and its index in ``active``."""

    __slots__ = ("_next", "_older", "_pos", "_younger")
    _next: Any  # the next handle of the lane, or None
    _pos: int  # while first of its lane: its index in active (stale otherwise)
    _older: Any  # while first of its lane: the first handle of the lane opened before, or None
    _younger: Any  # ... and of the lane opened after, or None


class LaneTimerHandle(events.TimerHandle):
    """A timer in lanes mode: when it is due, it becomes a link in a lane like any handle."""

    __slots__ = ("_next", "_older", "_pos", "_younger")
    _next: Any
    _pos: int
    _older: Any
    _younger: Any


class ReadyLanes:
    """The ready callbacks, in lanes (see the module docstring).

    Handles are :class:`LaneHandle`/:class:`LaneTimerHandle`, typed ``Any``: the hot paths set
    and read their slots, which typeshed does not declare on asyncio's handles.
    """

    __slots__ = ("active", "oldest", "pending", "queued", "shuffle", "youngest")

    def __init__(self, *, shuffle: bool) -> None:
        #: With shuffle, every callback is a lane of its own.
        self.shuffle = shuffle
        #: The first handle of every lane.
        self.active: list[Any] = []
        #: The first handle of the oldest lane (stock asyncio's next), and of the youngest.
        self.oldest: Any = None
        self.youngest: Any = None
        #: Scheduled by the running step, not yet a lane (the step's lane, once it ends).
        self.pending: list[Any] = []
        #: Handles ever put in a lane; minus the steps taken, how many are in lanes now.
        self.queued = 0

    def add_lane(self, handles: list[Any]) -> None:
        """Make ``handles`` a new lane, in this order (with ``shuffle``: a lane each)."""
        self.queued += len(handles)
        if self.shuffle:
            for handle in handles:
                handle._next = None
                self._open(handle)
            return
        previous = handles[0]
        self._open(previous)
        for handle in handles[1:]:
            previous._next = handle
            previous = handle
        previous._next = None

    def flush_pending(self) -> None:
        """Turn the handles scheduled by the last step (or from outside the loop) into a lane."""
        pending = self.pending
        if pending:
            self.add_lane(pending)
            pending.clear()

    def _open(self, first: Any) -> None:
        """Make ``first`` (its ``_next`` already set) the first handle of the youngest lane."""
        first._pos = len(self.active)
        self.active.append(first)
        first._younger = None
        first._older = youngest = self.youngest
        if youngest is None:
            self.oldest = first
        else:
            youngest._younger = first
        self.youngest = first

    def option(self, c: int) -> Any:
        """The handle option ``c`` names: 0 is the oldest lane's; the lane at option 0's place
        in ``active`` takes the oldest's place, so options map one-to-one to lanes."""
        if c == 0:
            return self.oldest
        handle = self.active[c]
        return self.active[0] if handle is self.oldest else handle

    def take(self, c: int) -> Any:
        """Remove and return the first handle of the lane option ``c`` names."""
        handle = self.option(c)
        active = self.active
        pos = handle._pos
        successor = handle._next
        older = handle._older
        younger = handle._younger
        if successor is not None:
            # The lane goes on: its next handle takes this one's places.
            active[pos] = successor
            successor._pos = pos
            successor._older = older
            successor._younger = younger
            after_older = before_younger = successor
        else:
            last = active.pop()
            if last is not handle:
                active[pos] = last
                last._pos = pos
            after_older, before_younger = younger, older
        if older is None:
            self.oldest = after_older
        else:
            older._younger = after_older
        if younger is None:
            self.youngest = before_younger
        else:
            younger._older = before_younger
        return handle

    def option_handles(self) -> list[Any]:
        """What each option would run, in option order: :meth:`option` of each, in one pass
        (the lanes in ``active`` order, but the oldest first and the lane at its place in
        ``active`` where it was)."""
        first = self.oldest
        if first is None:
            return []
        active = self.active
        handles = list(active)
        pos = first._pos
        if pos:
            handles[pos] = active[0]
        handles[0] = first
        return handles

    def stock(self) -> Any:
        """What option 0 (stock asyncio's order) would run."""
        return self.oldest

    def __iter__(self) -> Iterator[Any]:
        """Every ready callback, lane by lane, then those of the running step."""
        for head in self.active:
            handle = head
            while handle is not None:
                yield handle
                handle = handle._next
        yield from self.pending

    def clear(self) -> None:
        self.active.clear()
        self.oldest = self.youngest = None
        self.pending.clear()
