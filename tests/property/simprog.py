"""Generated asyncio programs as plain data, an interpreter for them, and a stock reference loop.

A *program description* is JSON-compatible data, so the same program runs on any loop, in
this process or in another one::

    {
        "locks": 2,            # how many asyncio.Lock
        "queues": [0, 1],      # one asyncio.Queue per entry, with that maxsize (0: unbounded)
        "events": 1,           # how many asyncio.Event
        "tasks": [[op, ...], ...],  # one top-level task per list of ops
    }

Ops (lists, so that they survive a JSON round trip unchanged):

* ``["sleep", ms]``: ``await asyncio.sleep(ms / 1000)``
* ``["yield"]``: ``await asyncio.sleep(0)``
* ``["lock", i, [ops]]``: ``async with locks[i]:`` run the ops (only sleeps and yields)
* ``["put", q]`` / ``["get", q]``: ``await queues[q].put(item)`` / ``await queues[q].get()``
* ``["set", e]`` / ``["clear", e]`` / ``["wait", e]``: on ``events[e]``
* ``["cancel", t]``: ``tasks[t].cancel()`` (another top-level task)
* ``["group", [[ops], ...]]``: a ``TaskGroup`` with one child task per list of ops
* ``["gather", [[ops], ...]]``: ``asyncio.gather`` of one child coroutine per list of ops
* ``["raise"]``: raise :class:`ChildError` (only in children of a group or a gather)

Running a program gives an :class:`Outcome`: how it ended (``"ok"``, ``"deadlock"`` or
``"error"``), its result and its *observable log*: one ``[who, what..., time_ns]`` entry per
thing a task did, ``time_ns`` being ``loop.time()`` in integer nanoseconds. Two runs that
interleave differently give different logs.

A deadlock (nothing ready, no timer pending, the program unfinished) is a legitimate outcome:
a cancelled task never does its remaining queue puts, an event may be cleared after its last
set. SimLoop reports it with :class:`simloop.DeadlockError`; the reference loop with
:class:`ReferenceDeadlock`, at the same point (its selector would block forever). Either way
the runner then cleans up as ``asyncio.run`` does, and the log goes on with what the tasks do
while they are cancelled.

This module must not import Hypothesis: the subprocess driver (``simprog_driver.py``) imports
it, and it should start fast.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import json
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

import simloop

NS_PER_MS = 1_000_000
NS_PER_SECOND = 1_000_000_000

Op = list[Any]
Description = dict[str, Any]


class ChildError(Exception):
    """What a ``["raise"]`` op raises."""


class ReferenceDeadlock(Exception):
    """The reference loop would block forever: nothing ready and no timer pending."""


def describe(exc: BaseException) -> str:
    """A process-independent description of an exception (no addresses, no reprs)."""
    if isinstance(exc, BaseExceptionGroup):
        inner = ",".join(describe(e) for e in exc.exceptions)
        return f"{type(exc).__name__}[{inner}]"
    if isinstance(exc, ChildError):
        return f"ChildError({exc.args[0]})"
    return type(exc).__name__


def loop_time_ns(loop: asyncio.AbstractEventLoop) -> int:
    """``loop.time()`` in integer nanoseconds (exact for SimLoop's clock)."""
    return round(loop.time() * 1_000_000_000)


class ProgramRun:
    """One execution of a program description, on whatever loop runs :meth:`main`."""

    def __init__(self, desc: Description) -> None:
        self.desc = desc
        self.log: list[list[Any]] = []
        #: One ``(who, requested ns, elapsed ns)`` per completed ``["sleep", ms]`` op.
        self.sleeps: list[tuple[str, int, int]] = []
        self.workers: list[asyncio.Task[str]] = []
        self.loop: asyncio.AbstractEventLoop
        self._items = 0

    def note(self, who: str, *what: Any) -> None:
        self.log.append([who, *what, self.now_ns()])

    def now_ns(self) -> int:
        return loop_time_ns(self.loop)

    async def main(self) -> list[str]:
        desc = self.desc
        self.loop = asyncio.get_running_loop()
        self.locks = [asyncio.Lock() for _ in range(desc["locks"])]
        self.queues: list[asyncio.Queue[str]] = [asyncio.Queue(maxsize=m) for m in desc["queues"]]
        self.events = [asyncio.Event() for _ in range(desc["events"])]
        self.note("main", "start")
        for i, ops in enumerate(desc["tasks"]):
            self.workers.append(asyncio.create_task(self.worker(f"w{i}", ops)))
        results = await asyncio.gather(*self.workers, return_exceptions=True)
        self.note("main", "end")
        return [describe(r) if isinstance(r, BaseException) else r for r in results]

    async def worker(self, who: str, ops: Sequence[Op]) -> str:
        self.note(who, "start")
        try:
            for op in ops:
                await self.do(who, op)
        except asyncio.CancelledError:
            self.note(who, "cancelled")
            raise
        except Exception as exc:
            self.note(who, "raised", describe(exc))
            raise
        self.note(who, "done")
        return who

    async def do(self, who: str, op: Op) -> None:
        kind = op[0]
        if kind == "sleep":
            ms = op[1]
            start = self.now_ns()
            self.note(who, "sleep", ms)
            await asyncio.sleep(ms / 1000)
            self.sleeps.append((who, ms * NS_PER_MS, self.now_ns() - start))
            self.note(who, "woke", ms)
        elif kind == "yield":
            self.note(who, "yield")
            await asyncio.sleep(0)
        elif kind == "lock":
            lock = self.locks[op[1]]
            self.note(who, "acquire", op[1], lock.locked())
            async with lock:
                self.note(who, "locked", op[1])
                for inner in op[2]:
                    await self.do(who, inner)
                self.note(who, "release", op[1])
        elif kind == "put":
            queue = self.queues[op[1]]
            self._items += 1
            item = f"{who}#{self._items}"
            self.note(who, "put", op[1], item, queue.full())
            await queue.put(item)
            self.note(who, "put-done", op[1], item)
        elif kind == "get":
            queue = self.queues[op[1]]
            self.note(who, "get", op[1], queue.empty())
            item = await queue.get()
            self.note(who, "got", op[1], item)
        elif kind == "set":
            self.events[op[1]].set()
            self.note(who, "set", op[1])
        elif kind == "clear":
            self.events[op[1]].clear()
            self.note(who, "clear", op[1])
        elif kind == "wait":
            event = self.events[op[1]]
            self.note(who, "wait", op[1], event.is_set())
            await event.wait()
            self.note(who, "waited", op[1])
        elif kind == "cancel":
            target = self.workers[op[1]]
            done = target.done()
            self.note(who, "cancel", op[1], done, target.cancel())
        elif kind == "group":
            self.note(who, "group", len(op[1]))
            try:
                async with asyncio.TaskGroup() as group:
                    for k, child in enumerate(op[1]):
                        group.create_task(self.worker(f"{who}.{k}", child))
            except* ChildError as failure:
                self.note(who, "group-failed", describe(failure))
            else:
                self.note(who, "group-done")
        elif kind == "gather":
            self.note(who, "gather", len(op[1]))
            try:
                results = await asyncio.gather(
                    *(self.worker(f"{who}.{k}", child) for k, child in enumerate(op[1]))
                )
            except ChildError as failure:
                self.note(who, "gather-failed", describe(failure))
            else:
                self.note(who, "gather-done", results)
        elif kind == "raise":
            self.note(who, "raise")
            raise ChildError(who)
        else:  # pragma: no cover - a malformed description
            msg = f"unknown op {op!r}"
            raise ValueError(msg)


@attrs.frozen
class Outcome:
    """How one run of a program went."""

    kind: str  # "ok", "deadlock" or "error"
    result: Any
    log: list[list[Any]]
    sleeps: list[tuple[str, int, int]]
    trace: simloop.Trace | None = None

    @property
    def times(self) -> list[int]:
        """The virtual time of each log entry, in nanoseconds."""
        return [entry[-1] for entry in self.log]

    def observable(self) -> dict[str, Any]:
        """What two runs of the same program must agree on (JSON-compatible)."""
        return {"kind": self.kind, "result": self.result, "log": self.log}

    def fingerprint(self) -> str:
        assert self.trace is not None
        return self.trace.fingerprint()


def run_on_loop(
    desc: Description,
    loop: asyncio.AbstractEventLoop,
    *,
    deadlock: type[BaseException] | tuple[type[BaseException], ...] = simloop.DeadlockError,
) -> Outcome:
    """Run the program on ``loop``, clean up as ``asyncio.run`` does, then close the loop.

    Whatever ends the main task (its end, a deadlock, an error), the tasks left over are then
    cancelled in the order they were created and run to their end, so the log ends with what
    they do while being cancelled (see :func:`shut_down`).
    """
    run = ProgramRun(desc)
    try:
        main = loop.create_task(run.main())
        result: Any
        try:
            result = loop.run_until_complete(main)
            kind = "ok"
        except deadlock:
            kind, result = "deadlock", None
        except Exception as exc:
            kind, result = "error", describe(exc)
        try:
            shut_down(loop)
        except BaseException:
            abandon(loop)
            raise
        trace = loop.trace if isinstance(loop, simloop.SimLoop) else None
    finally:
        loop.close()
    return Outcome(kind, result, run.log, run.sleeps, trace)


def _creation_order(task: asyncio.Task[Any]) -> int:
    if isinstance(task, OrderedTask):
        return task.order_key
    # SimLoop names tasks "Task-<n>", counting per loop. (Stock names count per process, but
    # with a task factory Python 3.13.0 names every task "None", hence OrderedTask.order_key.)
    return int(task.get_name().rpartition("-")[2])


def abandon(loop: asyncio.AbstractEventLoop) -> None:
    """The cleanup failed (so a test fails): drop the tasks left over quietly.

    Closing their coroutines now, while the loop is open, and telling asyncio not to log them
    keeps warnings about them from surfacing later in some unrelated test.
    """
    for task in asyncio.all_tasks(loop):
        task._log_destroy_pending = False  # type: ignore[attr-defined]
        try:
            task.get_coro().close()  # type: ignore[union-attr,unused-ignore]
        except BaseException:
            pass


def shut_down(loop: asyncio.AbstractEventLoop) -> None:
    """What ``asyncio.run`` does after the main task, but cancelling in creation order.

    It cancels the tasks left over and runs them to their end, then finalizes async
    generators, which runs the loop once more: callbacks still pending when the main task
    ended (a gather's done callback that retrieves a child's exception, say) run then.
    """
    leftovers = sorted(asyncio.all_tasks(loop), key=_creation_order)
    if leftovers:
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


def run_sim(desc: Description, **loop_options: Any) -> Outcome:
    """Run the program on a fresh ``SimLoop(**loop_options)``."""
    return run_on_loop(desc, simloop.SimLoop(**loop_options))


def run_simloop_run(desc: Description, **options: Any) -> Outcome:
    """Run the program with ``simloop.run(main, **options)``, the API users call.

    Its cleanup cancels leftover tasks as :func:`run_on_loop` does, so both give the same
    outcome and log; the step counts (so the fingerprints) may differ, as ``simloop.run`` runs
    the loop once more only if there are async generators to finalize.
    """
    run = ProgramRun(desc)
    loops: list[simloop.SimLoop] = []

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, simloop.SimLoop)
        loops.append(loop)
        return await run.main()

    result: Any
    try:
        result = simloop.run(main(), **options)
        kind = "ok"
    except simloop.DeadlockError:
        kind, result = "deadlock", None
    except Exception as exc:
        kind, result = "error", describe(exc)
    return Outcome(kind, result, run.log, run.sleeps, loops[0].trace)


def assert_finished(outcome: Outcome) -> None:
    """The program ended as a program can: completed, or deadlocked (never an error)."""
    assert outcome.kind in ("ok", "deadlock"), outcome.result


def assert_same_run(first: Outcome, second: Outcome) -> None:
    """Two SimLoop runs did the same thing, as the program and as the trace saw it."""
    assert_finished(first)
    assert first.trace is not None
    assert second.trace is not None
    assert second.observable() == first.observable()
    assert second.trace.choices == first.trace.choices
    assert second.trace.options == first.trace.options
    assert second.trace.steps == first.trace.steps
    assert second.trace.start_time_ns == first.trace.start_time_ns
    assert second.trace.end_time_ns == first.trace.end_time_ns
    assert second.fingerprint() == first.fingerprint()


def jsonable(value: Any) -> Any:
    """``value`` after a JSON round trip (tuples become lists), to compare with decoded data."""
    return json.loads(json.dumps(value))


# --- the stock reference loop -----------------------------------------------------------------


class _FakeSelector:
    """Stands in for the selector: no I/O, and waiting ``timeout`` seconds takes no real time."""

    def __init__(self, loop: ReferenceLoop) -> None:
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            # Stock asyncio would block forever in the selector: nothing is ready, no timer.
            raise ReferenceDeadlock
        if timeout > 0:
            # Waiting until the next timer is due: move to its deadline exactly (adding the
            # float timeout could land a nanosecond short of it, or past a tie).
            self._loop.advance_to_next_timer(timeout)
        return []

    def close(self) -> None:
        pass


class OrderedTask(asyncio.Task):  # type: ignore[type-arg]
    """A stock task that hashes by its creation number in its loop, not by its address.

    ``TaskGroup`` keeps its children in a set and cancels them in set order when one fails, so
    with address hashes stock asyncio's order there is arbitrary (like timer ties). SimLoop
    hashes tasks by creation number (see ``simloop/_tasks.py``); hashing the reference loop's
    tasks the same way picks the same order out of the ones stock asyncio allows.
    """

    def __init__(self, coro: Any, *, loop: ReferenceLoop, **kwargs: Any) -> None:
        loop.task_keys += 1
        self.order_key = loop.task_keys  # before Task.__init__, which hashes the task
        super().__init__(coro, loop=loop, **kwargs)

    def __hash__(self) -> int:
        return self.order_key


def _ordered_task_factory(loop: Any, coro: Any, **kwargs: Any) -> OrderedTask:
    return OrderedTask(coro, loop=loop, **kwargs)


class SequencedTimer(asyncio.TimerHandle):
    """A stock timer that, among timers due at the same instant, comes after those scheduled
    before it.

    Stock asyncio orders its timer heap by deadline only, so timers due together fire in an
    order that depends on the heap's history (a *timer tie*). Breaking ties in the order the
    timers were scheduled picks one of the orders stock asyncio allows, the one SimLoop's
    ``Fifo`` promises, so that programs with ties can be compared too.
    """

    __slots__ = ("sequence", "when_ns")

    def __lt__(self, other: object) -> bool:
        if isinstance(other, SequencedTimer):
            return (self.when_ns, self.sequence) < (other.when_ns, other.sequence)
        return NotImplemented


class ReferenceLoop(asyncio.BaseEventLoop):
    """Stock asyncio's ``BaseEventLoop._run_once``, unchanged, on a fake clock.

    ``time()`` reads a fake clock in integer nanoseconds, as SimLoop's (a float clock would
    turn equal deadlines reached by different sums into different ones); the selector's
    ``select(timeout)`` moves it to the next timer's deadline and returns no events, so
    sleeping to the next timer is instant. Timers due together fire in the order they were
    scheduled (:class:`SequencedTimer`). Everything else, the ready queue, the timer heap and
    when timers become due, is stock asyncio's own code.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fake_now_ns = 0
        self.task_keys = 0
        self.timers_scheduled = 0
        self._selector = _FakeSelector(self)
        self._clock_resolution = 1e-9
        self.set_task_factory(_ordered_task_factory)

    def time(self) -> float:
        return self.fake_now_ns / NS_PER_SECOND

    def call_later(self, delay: float, callback: Any, *args: Any, context: Any = None) -> Any:
        if delay is None:
            raise TypeError("delay must not be None")
        when_ns = self.fake_now_ns + max(0, round(delay * NS_PER_SECOND))
        return self._timer_at(when_ns, callback, args, context)

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> Any:
        if when is None:
            raise TypeError("when cannot be None")
        return self._timer_at(round(when * NS_PER_SECOND), callback, args, context)

    def _timer_at(self, when_ns: int, callback: Any, args: Any, context: Any) -> Any:
        # BaseEventLoop.call_at, with a sequenced timer at an exact deadline.
        self._check_closed()
        timer = SequencedTimer(when_ns / NS_PER_SECOND, callback, args, self, context)
        self.timers_scheduled += 1
        timer.sequence = self.timers_scheduled
        timer.when_ns = when_ns
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer

    def advance_to_next_timer(self, timeout: float) -> None:
        """What the selector's wait does: the clock reaches the earliest timer's deadline
        (``_run_once`` asked to wait ``timeout``, capped at a day, until then)."""
        wait_ns = round(timeout * NS_PER_SECOND)
        pending = [t.when_ns for t in self._scheduled if not t.cancelled()]
        if pending and min(pending) - self.fake_now_ns <= wait_ns + 1:  # +1: float rounding
            self.fake_now_ns = max(self.fake_now_ns, min(pending))
        else:
            self.fake_now_ns += wait_ns  # the selector's longest wait: a day

    def _process_events(self, event_list: Any) -> None:
        pass

    def _write_to_self(self) -> None:
        pass


def run_reference(desc: Description) -> Outcome:
    """Run the program on the stock reference loop."""
    return run_on_loop(desc, ReferenceLoop(), deadlock=ReferenceDeadlock)


# --- instruments --------------------------------------------------------------------------


class ChoiceCounter(simloop.Instrument):
    """Counts the choices of each kind."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def choice_made(
        self, loop: simloop.SimLoop, point: simloop.lowlevel.ChoicePoint, choice: int
    ) -> None:
        del loop, choice  # the hook's signature
        self.counts[point.kind] += 1


class ClockChecker(simloop.Instrument):
    """Checks that virtual time only moves forward, and only between steps.

    ``loop.time()`` at the start and end of every step must equal the time the loop last
    reported (at the previous step or the last ``clock_advanced``), and ``clock_advanced`` must
    move forward from exactly that time. Violations are collected in :attr:`problems`.
    """

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.last_ns: int | None = None
        self.last_index = -1
        self.steps = 0
        self.advances = 0
        self.timers = 0

    def _now(self, loop: simloop.SimLoop) -> int:
        return round(loop.time() * 1_000_000_000)

    def _check(self, loop: simloop.SimLoop, where: str) -> None:
        now = self._now(loop)
        if self.last_ns is not None and now != self.last_ns:
            self.problems.append(f"{where}: time {now} but last known {self.last_ns}")
        self.last_ns = now

    def run_started(self, loop: simloop.SimLoop) -> None:
        self._check(loop, "run_started")

    def step_started(
        self,
        loop: simloop.SimLoop,
        index: int,
        handle: Any,
        choice: int,
        options: int,
        stock: Any = None,
    ) -> None:
        del choice, options, stock  # the hook's signature
        if index <= self.last_index:
            self.problems.append(f"step index {index} after {self.last_index}")
        self.last_index = index
        self.steps += 1
        self._check(loop, f"step {index} started")
        if isinstance(handle, asyncio.TimerHandle):
            self.timers += 1
            if loop.time() < handle.when():
                self.problems.append(f"timer due at {handle.when()} ran early at {loop.time()}")

    def step_finished(self, loop: simloop.SimLoop, index: int, handle: Any) -> None:
        del handle  # the hook's signature
        self._check(loop, f"step {index} finished")

    def clock_advanced(self, loop: simloop.SimLoop, old_ns: int, new_ns: int) -> None:
        self.advances += 1
        if self.last_ns is not None and old_ns != self.last_ns:
            self.problems.append(f"clock_advanced from {old_ns} but last known {self.last_ns}")
        if new_ns <= old_ns:
            self.problems.append(f"clock_advanced backwards or not at all: {old_ns} -> {new_ns}")
        if self._now(loop) != new_ns:
            self.problems.append(f"clock_advanced to {new_ns} but loop.time() reads otherwise")
        self.last_ns = new_ns


def iter_ops(ops: Sequence[Op]) -> Iterator[Op]:
    """Every op in ``ops``, including those nested in locks, groups and gathers."""
    for op in ops:
        yield op
        if op[0] == "lock":
            yield from iter_ops(op[2])
        elif op[0] in ("group", "gather"):
            for child in op[1]:
                yield from iter_ops(child)


def all_ops(desc: Description) -> Iterator[Op]:
    for ops in desc["tasks"]:
        yield from iter_ops(ops)


def features(outcome: Outcome) -> set[str]:
    """What interesting things happened in a run, judged from its log (for coverage checks)."""
    found = {f"outcome:{outcome.kind}"}
    previous = None
    switches = 0
    for entry in outcome.log:
        who, what = entry[0], entry[1]
        if previous is not None and who != previous:
            switches += 1
        previous = who
        if what == "acquire" and entry[3]:
            found.add("lock contended")
        elif what == "get" and entry[3]:
            found.add("get blocked")
        elif what == "put" and entry[4]:
            found.add("put blocked")
        elif what == "wait" and not entry[3]:
            found.add("event wait blocked")
        elif what == "cancel" and entry[4]:
            found.add("cancel effective")
        elif what == "cancelled":
            found.add("task cancelled")
        elif what in ("group-done", "group-failed", "gather-done", "gather-failed"):
            found.add(what)
        elif what == "woke":
            found.add("slept")
    if switches >= 6:
        found.add("interleaved")
    return found
