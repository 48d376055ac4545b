"""Searches: where :func:`simloop.explore` gets one scheduler per run.

* :class:`PCT` - probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi and
  Nagarakatte, ASPLOS 2010): random task priorities plus ``depth - 1`` priority change points.
* :class:`Exhaustive` - every schedule with at most ``max_deviations`` deviations from stock
  asyncio's order (iterative context bounding, as in CHESS), depth first.
* :class:`Portfolio` - random walks and PCT of several depths, in turn (the default of the
  pytest plugin), since each finds bugs the others miss.

A search yields schedulers (:meth:`schedulers`) and hears about each finished run
(:meth:`run_finished`), so it can learn from one run before making the next scheduler.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from simloop import _stdlib
from simloop._errors import InvalidArgumentError
from simloop._scheduling import ChoiceKind, RandomWalk, Replay, Scheduler
from simloop._text import plural
from simloop._trace import Trace

if TYPE_CHECKING:
    from simloop._loop import SimLoop

_READY = ChoiceKind.READY
_TIMER_TIE = ChoiceKind.TIMER_TIE
_CANCEL = ChoiceKind.CANCEL

#: How often a random scheduler cancels a task that ``cancel_somewhere`` marked, per step.
CANCEL_PROBABILITY = 0.25


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"`{name}` must be a positive int, not {value!r}"
        raise InvalidArgumentError(msg)
    return value


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"`{name}` must be an int, not {type(value).__name__} {value!r}"
        raise InvalidArgumentError(msg)
    return value


# --- PCT -----------------------------------------------------------------------------------------


class PCTScheduler:
    """One PCT run: the highest-priority ready task runs; priorities drop at change points.

    Tasks get random distinct priorities when first seen, all above ``depth``. Before the
    ``i``-th of the ``depth - 1`` change points (steps drawn uniformly from the expected run
    length), the task about to run drops to priority ``depth - i``. Callbacks that belong to no
    task (timer callbacks, future callbacks) are plumbing and run first, as asyncio would.
    """

    def __init__(self, depth: int, seed: int, expected_steps: int) -> None:
        self.depth = depth
        self.seed = seed
        self._random = random.Random(seed)
        count = max(1, expected_steps)
        self._change_points = sorted(self._random.randint(1, count) for _ in range(depth - 1))
        self._priorities: dict[int, tuple[float, Any]] = {}
        self._steps = 0
        self._loop: SimLoop | None = None
        #: Tasks seen and steps chosen in this run (the search uses them to size the next).
        self.tasks_seen = 0

    def bind(self, loop: SimLoop) -> None:
        self._loop = loop

    def _priority(self, owner: Any) -> float:
        entry = self._priorities.get(id(owner))
        if entry is None or entry[1] is not owner:
            self.tasks_seen += 1
            # Random, distinct with probability 1, and all above the change-point priorities.
            entry = (self.depth + self._random.random(), owner)
            self._priorities[id(owner)] = entry
        return entry[0]

    def choose(self, kind: ChoiceKind, n: int) -> int:
        if kind == _CANCEL:
            return 1 if self._random.random() < CANCEL_PROBABILITY else 0
        if kind != _READY or self._loop is None:
            return self._random.randrange(n)
        self._steps += 1
        handles = self._loop.option_handles(kind)
        best, best_priority = 0, -1.0
        for option, handle in enumerate(handles):
            task = _stdlib.task_of_callback(_stdlib.callback_of(handle))
            priority = float("inf") if task is None else self._priority(task)
            if priority > best_priority:
                best, best_priority = option, priority
        while self._change_points and self._change_points[0] <= self._steps:
            self._change_points.pop(0)
            task = _stdlib.task_of_callback(_stdlib.callback_of(handles[best]))
            if task is not None:
                self._priorities[id(task)] = (len(self._change_points) + 1.0, task)
        return best

    def __repr__(self) -> str:
        return f"PCT(depth={self.depth}, seed={self.seed})"


class PCT:
    """The PCT search: one :class:`PCTScheduler` per run, seeds ``seed, seed + 1, ...``.

    Guarantee (for a program with ``n`` tasks and ``k`` steps): a bug that needs ``depth``
    ordering constraints to show is found by each run with probability at least
    ``1 / (n * k ** (depth - 1))``. ``k`` (here the number of scheduling choices of a run),
    needed to place the change points, is estimated from the runs so far (the longest),
    starting from ``expected_steps``.
    """

    def __init__(self, depth: int = 3, *, seed: int = 0, expected_steps: int = 10) -> None:
        self.depth = _positive_int(depth, "depth")
        self.seed = _int(seed, "seed")
        self.expected_steps = _positive_int(expected_steps, "expected_steps")
        self.tasks_estimate = 1
        self._last: PCTScheduler | None = None

    def schedulers(self) -> Iterator[Scheduler]:
        seed = self.seed
        while True:
            self._last = PCTScheduler(self.depth, seed, self.expected_steps)
            yield self._last
            seed += 1

    def run_finished(self, trace: Trace) -> None:
        # Change points count scheduling choices, not loop steps: size them by the choices.
        self.expected_steps = max(self.expected_steps, len(trace.choices))
        if self._last is not None:
            self.tasks_estimate = max(self.tasks_estimate, self._last.tasks_seen)

    def __repr__(self) -> str:
        return f"PCT(depth={self.depth})"


# --- Portfolio ------------------------------------------------------------------------------------


class Portfolio:
    """Random walks and PCT of depths 1 to 3, in turn; each run with a seed of its own.

    Random walks find shallow bugs fast; PCT finds bugs that need a few specific orderings,
    which random walks rarely hit. Mixing them (as Microsoft's Coyote does by default) finds
    both kinds without knowing in advance which a program has.
    """

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = _int(seed, "seed")
        self._pcts = {depth: PCT(depth, seed=seed) for depth in (1, 2, 3)}
        self._last_pct: PCT | None = None

    def schedulers(self) -> Iterator[Scheduler]:
        rotation: list[int | None] = [None, 2, None, 3, None, 1]
        seed = self.seed
        generators = {depth: pct.schedulers() for depth, pct in self._pcts.items()}
        while True:
            for depth in rotation:
                if depth is None:
                    self._last_pct = None
                    yield RandomWalk(seed)
                else:
                    self._last_pct = self._pcts[depth]
                    yield next(generators[depth])
                seed += 1

    def run_finished(self, trace: Trace) -> None:
        # Every PCT learns the run length from every run, whoever made it.
        for pct in self._pcts.values():
            pct.run_finished(trace)

    def __repr__(self) -> str:
        return "Portfolio(random walks, PCT depths 1-3)"


# --- Exhaustive -----------------------------------------------------------------------------------


class _PrefixScheduler(Replay):
    """Replays a prefix, then takes asyncio's order, noting which choices are worth branching on.

    Partial-order reduction: when every timer tied at an instant is an ``asyncio.sleep``
    wake-up, their order is not branched on (see :class:`Exhaustive`).
    """

    def __init__(self, prefix: list[int]) -> None:
        super().__init__(prefix, strict=False)
        self.no_branch: set[int] = set()
        self._loop: SimLoop | None = None
        #: A run made only to learn the tree (see Exhaustive.schedulers).
        self.probe = False

    def bind(self, loop: SimLoop) -> None:
        self._loop = loop

    def choose(self, kind: ChoiceKind, n: int) -> int:
        index = self.position
        if kind == _TIMER_TIE and self._loop is not None:
            tied = self._loop.option_handles(kind)
            if tied and all(_stdlib.is_pending_sleep_timer(timer) for timer in tied):
                self.no_branch.add(index)
        return super().choose(kind, n)

    def __repr__(self) -> str:
        shown = list(self.choices)
        return f"the exhaustive search's schedule {shown}"


class Exhaustive:
    """Every schedule with at most ``max_deviations`` deviations from asyncio's order.

    Depth first over the tree of choices: each run replays a prefix and then follows
    asyncio's order, recording how many options each later choice had; each of those options
    (within the deviation bound) becomes a new prefix to run. Every distinct schedule runs
    once. When the tree is exhausted without a failure, that is a bounded proof:
    "all N schedules with <= k deviations pass".

    Independence (partial-order reduction) that simloop can prove, and uses: the order of
    timers that fire at the same instant is not branched on when all of them are
    ``asyncio.sleep`` wake-ups. Such a timer only completes a future private to the sleeping
    task (nothing else can observe it, except by cancelling that task, which has the same
    effect on the task before or after the timer fires), and the order in which the woken
    tasks then resume is still explored, by the ready-callback choices, at the same
    deviation cost. simloop does not see which Python objects a step reads or writes, so it
    assumes that any two steps of user code may conflict: two tasks that share no asyncio
    primitive may still share a dict.
    """

    def __init__(self, max_deviations: int = 2, *, shard: tuple[int, int] = (0, 1)) -> None:
        index, count = shard
        if not (isinstance(count, int) and isinstance(index, int) and 0 <= index < count):
            msg = f"`shard` must be (index, count) with 0 <= index < count, not {shard!r}"
            raise InvalidArgumentError(msg)
        #: (index, count): this search covers only its share of the first deviations, so
        #: ``count`` searches with indices ``0 .. count - 1`` cover the tree between them.
        self.shard = (index, count)
        if isinstance(max_deviations, bool) or not isinstance(max_deviations, int):
            msg = f"`max_deviations` must be an int, not {max_deviations!r}"
            raise InvalidArgumentError(msg)
        if max_deviations < 0:
            msg = f"`max_deviations` must be at least 0, not {max_deviations!r}"
            raise InvalidArgumentError(msg)
        self.max_deviations = max_deviations
        self._stack: list[list[int]] = [[]]
        self._current: _PrefixScheduler | None = None
        #: Schedules run so far; and whether the whole bounded tree was covered.
        self.runs = 0
        self.complete = False

    def schedulers(self) -> Iterator[Scheduler]:
        # Each exploration searches the tree anew: a search used twice (for another program,
        # say) must not claim the first one's proof for the second.
        self._stack = [[]]
        self._current = None
        self.runs = 0
        self.complete = False
        while self._stack:
            prefix = self._stack.pop()
            self._current = _PrefixScheduler(prefix)
            if not prefix and self.shard[0] > 0:
                # Every shard runs asyncio's own order to learn the tree, but it is shard 0's
                # schedule: for the others it is a probe, neither counted nor reported.
                self._current.probe = True
            yield self._current
        self.complete = True

    def run_finished(self, trace: Trace) -> None:
        current = self._current
        assert current is not None
        if not current.probe:
            self.runs += 1
        prefix = current.choices
        used = sum(1 for c in prefix if c)
        children = []
        if used < self.max_deviations:
            for index in range(len(prefix), len(trace.options)):
                if index in current.no_branch:
                    continue
                for option in range(1, trace.options[index]):
                    children.append([*trace.choices[:index], option])
        if not prefix:
            # The root's subtrees are dealt out to the shards.
            shard, count = self.shard
            children = children[shard::count]
        # Depth first, in order: push in reverse so the first child runs next.
        self._stack.extend(reversed(children))
        if not self._stack:
            # That was the last schedule: the search is complete even if the caller stops
            # here (an exploration whose `runs` cap is exactly the size of the tree).
            self.complete = True

    def proof(self) -> str | None:
        """The bounded proof, once the search is complete: ``"all N schedules with <= k
        deviations pass"``."""
        if not self.complete:
            return None
        share = "" if self.shard[1] == 1 else f" (shard {self.shard[0] + 1} of {self.shard[1]})"
        bound = f"with at most {plural(self.max_deviations, 'deviation')} from asyncio's order"
        if self.runs == 1:
            return f"the one schedule {bound} passes{share}"
        return f"all {self.runs} schedules {bound} pass{share}"

    def __repr__(self) -> str:
        if self.shard[1] == 1:
            return f"Exhaustive(max_deviations={self.max_deviations})"
        return f"Exhaustive(max_deviations={self.max_deviations}, shard={self.shard})"
