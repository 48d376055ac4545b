"""Searches: which schedules an exploration runs.

A *scheduler* decides the choices of one run; a *search* decides which schedulers an
exploration runs, one per run, and may learn from each finished run before making the next.

* :class:`RandomSearch` - random walks with successive seeds.
* :class:`PCT` - probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi and
  Nagarakatte, ASPLOS 2010): random task priorities plus ``depth - 1`` priority change points.
* :class:`Exhaustive` - every schedule with at most ``max_deviations`` deviations from stock
  asyncio's order (iterative context bounding, as in CHESS), depth first.
* :class:`Portfolio` - random walks and PCT of several depths, in turn (the default), since
  each finds bugs the others miss.

Searches are also known by name (``"portfolio"``, ``"pct:2"``...), in one registry that
:func:`simloop.explore` and the pytest plugin's marker, options and ini keys all read:
:func:`register_search` adds one.
"""

from __future__ import annotations

import copy
import inspect
import random
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from simloop._choices import TIMING_KINDS, ChoicePoint
from simloop._errors import InvalidArgumentError
from simloop._labels import task_woken_by
from simloop._scheduling import Fifo, RandomWalk, Replay, Scheduler, weighted_option
from simloop._stdlib import is_pending_sleep_timer, tasks_of_handles
from simloop._text import describe, plural, shown
from simloop._trace import Trace

if TYPE_CHECKING:
    pass


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"`{name}` must be a positive int, not {shown(value)}"
        raise InvalidArgumentError(msg)
    return value


def _seed(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        msg = f"`seed` must be an int or None, not {describe(value)}"
        raise InvalidArgumentError(msg)
    return value


class Search:
    """Base class of searches: where :func:`simloop.explore` gets a scheduler for each run.

    Subclasses implement :meth:`schedulers`; the other hooks have defaults that do nothing,
    as :class:`~simloop.Instrument`'s do.
    """

    #: The seed of a search that draws random numbers (None: not seeded yet, so 0 when it
    #: runs, or a search without randomness).
    seed: int | None = None

    def schedulers(self) -> Iterator[Scheduler]:
        """A fresh scheduler for each run; the iterator may stop early (a search that has
        covered everything). Each call starts the search anew."""
        raise NotImplementedError

    def run_finished(self, trace: Trace) -> None:
        """The run of the last scheduler yielded has finished, with this trace."""

    def proof(self) -> str | None:
        """What a complete search proves, once it is complete (e.g. "all 37 schedules with at
        most 2 deviations from asyncio's order pass"), else None."""
        return None

    def seeded(self, seed: int) -> Search:
        """This search seeded with ``seed`` (a copy); a search made with another seed refuses
        it, rather than silently run one of the two."""
        if self.seed is not None and self.seed != seed:
            msg = (
                f"the search {shown(self)} was made with seed={self.seed}, and another seed "
                f"({seed}) was given beside it: give the seed in one place"
            )
            raise InvalidArgumentError(msg)
        seeded = copy.copy(self)
        seeded.seed = seed
        return seeded

    def for_shard(self, index: int, count: int) -> Search | None:
        """A search covering share ``index`` of ``count`` disjoint shares of this one, or None
        if it shards by seeds (each share then gets its own range of seeds)."""
        return None


class SeedSearch(Search):
    """One scheduler per run from ``factory(seed)``, with seeds ``seed, seed + 1, ...``."""

    def __init__(self, factory: Callable[[int], Scheduler], *, seed: int | None = None) -> None:
        self.factory = factory
        self.seed = _seed(seed)

    def schedulers(self) -> Iterator[Scheduler]:
        seed = self.seed or 0
        while True:
            yield self.factory(seed)
            seed += 1

    def __repr__(self) -> str:
        name = getattr(self.factory, "__name__", repr(self.factory))
        return f"{name} with seeds from {self.seed or 0}"


class RandomSearch(SeedSearch):
    """Random walks (:class:`~simloop.RandomWalk`), seeded ``seed, seed + 1, ...``."""

    def __init__(self, *, seed: int | None = None) -> None:
        super().__init__(RandomWalk, seed=seed)

    def __repr__(self) -> str:
        return f"RandomSearch(seed={self.seed or 0})"


class _StockOrderOnce(Search):
    """asyncio's own order, once: running it again would only repeat it."""

    def schedulers(self) -> Iterator[Scheduler]:
        yield Fifo()

    def __repr__(self) -> str:
        return "Fifo()"


# --- PCT -----------------------------------------------------------------------------------------


class PCTScheduler:
    """One PCT run: the highest-priority task runs; priorities drop at change points.

    Tasks get random distinct priorities when first seen, all above ``depth``. Before the
    ``i``-th of the ``depth - 1`` change points (choices drawn uniformly from the expected run
    length), the task about to run drops to priority ``depth - i``. A choice among callbacks
    (a point with option handles) goes to the option whose task has the highest priority;
    callbacks that belong to no task (timer callbacks, future callbacks) are plumbing and run
    first, as asyncio would. Among timers due together, each sleep's timer stands for the task
    it wakes. Any other choice is made at random, by the point's weights.

    Strict priorities would let a task that never blocks (one polling with ``sleep(0)``) starve
    the others forever, which no real loop does (asyncio runs every ready callback within an
    iteration): a task that wins :data:`MAX_STREAK` choices in a row against others drops below
    every priority, as at a change point.
    """

    def __init__(self, depth: int, seed: int, expected_steps: int) -> None:
        self.depth = depth
        self.seed = seed
        self._random = random.Random(seed)
        count = max(1, expected_steps)
        self._change_points = sorted(self._random.randint(1, count) for _ in range(depth - 1))
        # id(task) -> (priority, a weak reference to the task). Weak: the loop holds this
        # scheduler, and a task holds its loop, so a strong one would make every run's tasks,
        # loop and frames a cycle that only the garbage collector frees; the reference tells a
        # task from a later one given the same id.
        self._priorities: dict[int, tuple[float, weakref.ref[Any]]] = {}
        self._steps = 0
        #: Tasks seen in this run (the search uses them to size the next).
        self.tasks_seen = 0
        # The task that won the latest contested choices (by id), how many in a row, and how
        # many tasks were dropped for winning too long (each below the one before).
        self._streak_owner = 0
        self._streak = 0
        self._dropped = 0

    def _priority(self, owner: Any) -> float:
        entry = self._priorities.get(id(owner))
        if entry is None or entry[1]() is not owner:
            self.tasks_seen += 1
            # Random, distinct with probability 1, and all above the change-point priorities.
            entry = (self.depth + self._random.random(), weakref.ref(owner))
            self._priorities[id(owner)] = entry
        return entry[0]

    def _highest(self, owners: list[Any]) -> int:
        """The option whose owner has the highest priority (no owner: plumbing, first).
        Every owner gets its priority, in option order, even after plumbing was found: the
        random draws for tasks seen first must not depend on what else is ready."""
        best, best_priority = 0, -1.0
        priorities = self._priorities
        for option, owner in enumerate(owners):
            if owner is None:
                priority = _PLUMBING
            else:
                # _priority(owner), inlined for the tasks already seen (most of them).
                entry = priorities.get(id(owner))
                if entry is None or entry[1]() is not owner:
                    priority = self._priority(owner)
                else:
                    priority = entry[0]
            if priority > best_priority:
                best, best_priority = option, priority
        return best

    def choose(self, point: ChoicePoint) -> int:
        handles = point.option_handles()
        owners = tasks_of_handles(handles)
        if not any(owners):
            # Tied timers: each stands for the task its sleep wakes, if any.
            owners = [task_woken_by(h) for h in handles]
        if not any(owners):
            if point.weights is not None:
                return weighted_option(self._random.random(), point.weights)
            return self._random.randrange(point.n)
        self._steps += 1
        best = self._highest(owners)
        winner = owners[best]
        if winner is not None:
            if id(winner) == self._streak_owner:
                self._streak += 1
            else:
                self._streak_owner, self._streak = id(winner), 1
            if self._streak > MAX_STREAK and any(o is not None and o is not winner for o in owners):
                # Starving the others for longer than a real loop ever could: drop below all.
                self._dropped += 1
                self._priorities[id(winner)] = (1.0 / (1 + self._dropped), weakref.ref(winner))
                self._streak = 0
                return self._highest(owners)
        while self._change_points and self._change_points[0] <= self._steps:
            self._change_points.pop(0)
            owner = owners[best]
            if owner is not None:
                self._priorities[id(owner)] = (len(self._change_points) + 1.0, weakref.ref(owner))
        return best

    def __repr__(self) -> str:
        return f"PCT(depth={self.depth}, seed={self.seed})"


#: The priority of a callback that belongs to no task (timer and future callbacks): above
#: every task's, so that it runs first, as asyncio would.
_PLUMBING = float("inf")

#: A task that wins this many contested PCT choices in a row drops below every other (see
#: :class:`PCTScheduler`): far beyond the starvation a real bug needs (the bug family's deepest
#: loses 20 picks in a row), far short of the step limit.
MAX_STREAK = 1_000

#: The deepest PCT search: a bug needing more ordering constraints than this is beyond any
#: number of runs (each run finds a bug of depth d with probability about 1/(n k^(d-1))).
MAX_PCT_DEPTH = 1000


class PCT(Search):
    """The PCT search: one :class:`PCTScheduler` per run, seeds ``seed, seed + 1, ...``.

    Guarantee (for a program with ``n`` tasks and ``k`` steps): a bug that needs ``depth``
    ordering constraints to show is found by each run with probability at least
    ``1 / (n * k ** (depth - 1))``. ``k`` (here the number of scheduling choices of a run),
    needed to place the change points, is estimated from the runs so far (the longest),
    starting from ``expected_steps``.
    """

    def __init__(
        self, depth: int = 3, *, seed: int | None = None, expected_steps: int = 10
    ) -> None:
        self.depth = _positive_int(depth, "depth")
        if depth > MAX_PCT_DEPTH:
            # Each run draws depth - 1 change points: a huge depth would never start.
            msg = f"`depth` must be at most {MAX_PCT_DEPTH}, not {shown(depth)}"
            raise InvalidArgumentError(msg)
        self.seed = _seed(seed)
        self.expected_steps = _positive_int(expected_steps, "expected_steps")
        self.tasks_estimate = 1
        self._last: PCTScheduler | None = None

    def schedulers(self) -> Iterator[Scheduler]:
        seed = self.seed or 0
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
        return f"PCT(depth={self.depth}, seed={self.seed or 0})"


# --- Portfolio ------------------------------------------------------------------------------------


class Portfolio(Search):
    """Random walks and PCT of depths 1 to 3, in turn; each run with a seed of its own.

    Random walks find shallow bugs fast; PCT finds bugs that need a few specific orderings,
    which random walks rarely hit. Mixing them (as Microsoft's Coyote does by default) finds
    both kinds without knowing in advance which a program has.
    """

    def __init__(self, *, seed: int | None = None) -> None:
        self.seed = _seed(seed)

    def schedulers(self) -> Iterator[Scheduler]:
        first = self.seed or 0
        pcts = {depth: PCT(depth, seed=first) for depth in (1, 2, 3)}
        self._pcts = pcts
        rotation: list[int | None] = [None, 2, None, 3, None, 1]
        seed = first
        generators = {depth: pct.schedulers() for depth, pct in pcts.items()}
        while True:
            for depth in rotation:
                if depth is None:
                    yield RandomWalk(seed)
                else:
                    yield next(generators[depth])
                seed += 1

    def run_finished(self, trace: Trace) -> None:
        # Every PCT learns the run length from every run, whoever made it.
        for pct in getattr(self, "_pcts", {}).values():
            pct.run_finished(trace)

    def __repr__(self) -> str:
        return f"Portfolio(seed={self.seed or 0})"


# --- Exhaustive -----------------------------------------------------------------------------------


class _PrefixScheduler(Replay):
    """Replays a prefix, then takes asyncio's order, noting which choices are worth branching on.

    Partial-order reduction: when every timer tied at an instant is an ``asyncio.sleep``
    wake-up, their order is not branched on (see :class:`Exhaustive`).
    """

    def __init__(self, prefix: list[int], seed: int | None) -> None:
        super().__init__(prefix, strict=False)
        self.seed = seed
        self.no_branch: set[int] = set()
        #: A run made only to learn the tree (see Exhaustive.schedulers).
        self.probe = False

    def choose(self, point: ChoicePoint) -> int:
        index = self.position
        tied = point.option_handles()
        if tied and all(is_pending_sleep_timer(timer) for timer in tied):
            self.no_branch.add(index)
        return super().choose(point)

    def __repr__(self) -> str:
        return f"the exhaustive search's schedule {list(self.choices)}"


class Exhaustive(Search):
    """Every schedule with at most ``max_deviations`` deviations from asyncio's order.

    Depth first over the tree of choices: each run replays a prefix and then follows
    asyncio's order, recording how many options each later choice had; each of those options
    (within the deviation bound) becomes a new prefix to run. Every distinct schedule runs
    once. When the tree is exhausted without a failure, that is a bounded proof:
    "all N schedules with <= k deviations pass", which says what it held fixed ("timers
    firing on time" unless ``timer_jitter`` or ``sleep_jitter`` made timing a choice).
    ``timing`` bounds timing deviations (a late timer, a longer sleep) apart from the others:
    ``Exhaustive(2, timing=1)`` runs every schedule with at most two deviations from asyncio's
    order and at most one timer late; None (the default) counts them like any deviation.
    ``seed`` seeds the runs' ``random``, ``os.urandom`` and ``uuid`` (the same in every run).

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

    def __init__(
        self,
        max_deviations: int = 2,
        *,
        timing: int | None = None,
        shard: tuple[int, int] = (0, 1),
        seed: int | None = None,
    ) -> None:
        index: object
        count: object
        try:
            index, count = shard
        except (TypeError, ValueError):
            index = count = None
        if not (
            isinstance(count, int)
            and isinstance(index, int)
            and not isinstance(count, bool)
            and not isinstance(index, bool)
            and 0 <= index < count
        ):
            msg = f"`shard` must be (index, count) with 0 <= index < count, not {shown(shard)}"
            raise InvalidArgumentError(msg)
        #: (index, count): this search covers only its share of the first deviations, so
        #: ``count`` searches with indices ``0 .. count - 1`` cover the tree between them.
        self.shard = (index, count)
        if isinstance(max_deviations, bool) or not isinstance(max_deviations, int):
            msg = f"`max_deviations` must be an int, not {shown(max_deviations)}"
            raise InvalidArgumentError(msg)
        if max_deviations < 0:
            msg = f"`max_deviations` must be at least 0, not {shown(max_deviations)}"
            raise InvalidArgumentError(msg)
        self.max_deviations = max_deviations
        if timing is not None and (
            isinstance(timing, bool) or not isinstance(timing, int) or timing < 0
        ):
            msg = f"`timing` must be a non-negative int or None, not {timing!r}"
            raise InvalidArgumentError(msg)
        #: The bound on timing deviations (late timers, longer sleeps: the kinds in
        #: ``lowlevel.TIMING_KINDS``), counted apart from ``max_deviations``; None counts them
        #: with the others.
        self.timing = timing
        self.seed = _seed(seed)
        self._stack: list[list[int]] = [[]]
        self._current: _PrefixScheduler | None = None
        #: Schedules run so far; and whether the whole bounded tree was covered.
        self.runs = 0
        self.complete = False
        #: What the runs showed about timing, for the proof: whether the clock ever moved (a
        #: timer fired), and whether any run could make a timing choice.
        self._timers_fired = False
        self._timing_choices = False

    def schedulers(self) -> Iterator[Scheduler]:
        # Each exploration searches the tree anew: a search used twice (for another program,
        # say) must not claim the first one's proof for the second.
        self._stack = [[]]
        self._current = None
        self.runs = 0
        self.complete = False
        self._timers_fired = self._timing_choices = False
        while self._stack:
            prefix = self._stack.pop()
            self._current = _PrefixScheduler(prefix, self.seed)
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
        kinds = trace.kinds or [""] * len(trace.choices)
        self._timers_fired = self._timers_fired or trace.end_time_ns > trace.start_time_ns
        self._timing_choices = self._timing_choices or not TIMING_KINDS.isdisjoint(kinds)
        timing_bound = self.timing
        if timing_bound is None:
            ordering = sum(1 for c in prefix if c)
            timing = 0
        else:
            ordering = sum(
                1 for c, k in zip(prefix, kinds, strict=False) if c and k not in TIMING_KINDS
            )
            timing = sum(1 for c, k in zip(prefix, kinds, strict=False) if c and k in TIMING_KINDS)
        children = []
        for index in range(len(prefix), len(trace.options)):
            if index in current.no_branch:
                continue
            if timing_bound is not None and kinds[index] in TIMING_KINDS:
                if timing >= timing_bound:
                    continue
            elif ordering >= self.max_deviations:
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
        if self.timing is not None and self.timing > 0 and self._timing_choices:
            bound += f" and at most {plural(self.timing, 'timing deviation')}"
        held = self._held_fixed()
        if self.runs == 1:
            return f"the one schedule {bound} passes{held}{share}"
        return f"all {self.runs} schedules {bound} pass{held}{share}"

    def _held_fixed(self) -> str:
        """What the proof held fixed about timing (empty if it covered what there was)."""
        if not self._timers_fired:
            return ""  # no timer fired: there was no timing to hold fixed
        if not self._timing_choices:
            return ", timers firing on time (timer_jitter and sleep_jitter are off)"
        if self.timing == 0:
            return ", timers firing on time"
        if self.timing is None:
            return " (late timers and longer sleeps counted as deviations)"
        return ""

    def for_shard(self, index: int, count: int) -> Search:
        return Exhaustive(
            self.max_deviations, timing=self.timing, shard=(index, count), seed=self.seed
        )

    def __repr__(self) -> str:
        timing = "" if self.timing is None else f", timing={self.timing}"
        if self.shard[1] == 1:
            return f"Exhaustive(max_deviations={self.max_deviations}{timing})"
        return f"Exhaustive(max_deviations={self.max_deviations}{timing}, shard={self.shard})"


# --- the registry ---------------------------------------------------------------------------------


@attrs.frozen
class SearchName:
    """A search known by name: ``factory(parameter)`` makes it (``parameter`` is the number
    after a colon, ``"pct:2"``, or None); ``parameter`` names that number in help texts."""

    name: str
    factory: Callable[[int | None], Search]
    summary: str
    parameter: str | None = None
    #: The smallest value the parameter may take.
    minimum: int = 0

    @property
    def spelling(self) -> str:
        """How the name is written in help texts: ``"pct[:DEPTH]"``."""
        return self.name if self.parameter is None else f"{self.name}[:{self.parameter}]"


SEARCHES: dict[str, SearchName] = {}


def register_search(
    name: str,
    factory: Callable[[int | None], Search],
    *,
    summary: str,
    parameter: str | None = None,
    minimum: int = 0,
) -> None:
    """Make a search known by ``name`` to :func:`simloop.explore` and the pytest plugin."""
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        msg = f"`name` must be a lowercase identifier, not {shown(name)}"
        raise InvalidArgumentError(msg)
    if not callable(factory):
        msg = f"`factory` must be a function of the parameter, not {describe(factory)}"
        raise InvalidArgumentError(msg)
    for argument, text in (("summary", summary), ("parameter", parameter)):
        if not isinstance(text, str) and not (argument == "parameter" and text is None):
            msg = f"`{argument}` must be a str, not {describe(text)}"
            raise InvalidArgumentError(msg)
    if isinstance(minimum, bool) or not isinstance(minimum, int):
        msg = f"`minimum` must be an int, not {describe(minimum)}"
        raise InvalidArgumentError(msg)
    SEARCHES[name] = SearchName(name, factory, summary, parameter, minimum)


def search_names() -> str:
    """The registered names, as a help text lists them: ``"portfolio, random, pct[:DEPTH]..."``."""
    return ", ".join(entry.spelling for entry in SEARCHES.values())


def parse_search_name(spec: str) -> tuple[SearchName, int | None]:
    """``"pct:2"`` -> (the "pct" entry, 2); :class:`~simloop.InvalidArgumentError` naming
    the known searches for anything else."""
    if not isinstance(spec, str):
        msg = f"`spec` must be a search's name, not {describe(spec)}"
        raise InvalidArgumentError(msg)
    name, colon, number = spec.strip().lower().partition(":")
    entry = SEARCHES.get(name)
    if entry is None or (colon and entry.parameter is None):
        msg = f"unknown search {shown(spec)}; use one of {search_names()}"
        raise InvalidArgumentError(msg)
    if not colon:
        return entry, None
    # ASCII digits only: int() would also read "+2", " 2", "2_0" and other scripts' digits.
    value = int(number) if number.isascii() and number.isdigit() else entry.minimum - 1
    if value < entry.minimum:
        wanted = {0: "non-negative", 1: "positive"}.get(entry.minimum, f"at least {entry.minimum}")
        msg = f"{entry.name} needs a {wanted} int after ':', not {shown(number)}"
        raise InvalidArgumentError(msg)
    return entry, value


def make_search(spec: object, *, seed: int | None = None) -> Search:
    """The search ``spec`` stands for, seeded with ``seed`` if given: a registered name
    (``"pct:2"``), a :class:`Search`, or a function from a seed to a scheduler (such as
    :class:`~simloop.RandomWalk`)."""
    _seed(seed)
    if isinstance(spec, str):
        entry, parameter = parse_search_name(spec)
        search = entry.factory(parameter)
    elif isinstance(spec, type) and issubclass(spec, Search):
        msg = (
            f"`search` must be a search object, not the class {spec.__name__}: pass "
            f"simloop.{spec.__name__}(...)"
        )
        raise InvalidArgumentError(msg)
    elif isinstance(spec, Search):
        search = spec
    elif callable(getattr(spec, "schedulers", None)):
        msg = (
            f"`search` {shown(spec)} has schedulers() but is not a simloop.lowlevel.Search: "
            "subclass Search (its other hooks default to doing nothing)"
        )
        raise InvalidArgumentError(msg)
    elif callable(spec):
        try:
            inspect.signature(spec).bind(0)
        except TypeError:
            msg = (
                "`search` must be a search, a search's name, or a callable taking a seed and "
                f"returning a scheduler (like simloop.RandomWalk); {shown(spec)} does not take "
                "a seed"
            )
            raise InvalidArgumentError(msg) from None
        except ValueError:
            pass  # no signature to check (some builtins): find out when it is called
        search = SeedSearch(spec)
    else:
        msg = (
            f"`search` must be a search (such as simloop.PCT(2)), a search's name "
            f"({search_names()}), or a callable taking a seed and returning a scheduler, "
            f"not {shown(spec)}"
        )
        raise InvalidArgumentError(msg)
    return search if seed is None else search.seeded(seed)


register_search(
    "portfolio",
    lambda _: Portfolio(),
    summary="random walks and PCT of depths 1-3, in turn (the default)",
)
register_search("random", lambda _: RandomSearch(), summary="random walks")
register_search(
    "pct",
    lambda depth: PCT(3 if depth is None else depth),
    summary="probabilistic concurrency testing, of the given depth (default 3)",
    parameter="DEPTH",
    minimum=1,
)
register_search(
    "exhaustive",
    lambda bound: Exhaustive(2 if bound is None else bound),
    summary="every schedule with at most the given number of deviations (default 2)",
    parameter="DEVIATIONS",
)
register_search("fifo", lambda _: _StockOrderOnce(), summary="asyncio's own order, once")
