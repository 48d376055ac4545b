"""The kernel of a SimLoop: ready callbacks, timers, the virtual clock and the choices, and the
run loop that turns them into steps.

How a run proceeds
------------------

Stock asyncio runs in *batches*: each iteration of ``BaseEventLoop._run_once`` moves the timers
that are due into the ready queue, then runs exactly the callbacks that were ready when the
batch began; callbacks scheduled meanwhile wait for the next batch. The kernel keeps that
structure, for two reasons: ``stop()`` means "finish this batch, then return", and a timer that
is already due (``call_later(0)``) joins the queue only at a batch boundary. Both are visible
to programs, and running the all-zero schedule must give exactly stock asyncio's order. (When
the scheduler deviates, a batch is as many steps as callbacks were ready when it began, which
may include some scheduled during the batch: stock asyncio has no such order to match.)

What the kernel drops is the selector: there is no I/O to poll, and when nothing is ready the
clock jumps straight to the next timer. Time never advances while anything is ready.

Where the parts are
-------------------

The ready callbacks are kept in lanes (:mod:`simloop._lanes`), so that a scheduler can pick any
of them while callbacks scheduled by one step keep their order; the timers in a heap with a
defined order for ties (:mod:`simloop._timers`); the answers to choices in a
:class:`~simloop._choices.Schedule`. A scheduler that declares ``always_stock`` (``Fifo``) makes
no choices, so for it the kernel keeps stock asyncio's single deque and plain handles: the same
order at the lowest cost.

The run loop has three forms: :meth:`Kernel._run_batches_fifo` and
:meth:`Kernel._run_batches_chosen`, the hot paths, which inline the lane, timer and handle
operations (building and running ``Handle`` objects through their slots, see
``_stdlib.HANDLE_SLOTS``), and :meth:`Kernel._run_batch_observed`, which tells instruments about
every step and uses the plain implementations; ``tests/core/test_core_lanes.py`` checks that
they make the same runs.

:class:`~simloop.SimLoop` (in :mod:`simloop._loop`) adds asyncio's interface and policies to the
kernel. The functions of :mod:`simloop.lowlevel` that read the kernel's state live at the end
of this module.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import math
import random as _random
import sys
from asyncio import events
from collections.abc import Callable, Iterator
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from simloop import _stdlib
from simloop._choices import (
    READY,
    SLEEP_JITTER,
    TIMER_JITTER,
    TIMER_TIE,
    ChoicePoint,
    Schedule,
    bad_choice_error,
    scheduler_error,
)
from simloop._clock import NEVER_NS, NS_PER_SECOND, format_seconds, seconds_to_ns
from simloop._errors import (
    DeadlockError,
    ExtensionError,
    InvalidArgumentError,
    ReplayDivergenceError,
    SimulationError,
    StepLimitError,
    TimeLimitError,
)
from simloop._instrument import check_instrument, instrument_error
from simloop._labels import handle_label, timer_label
from simloop._lanes import LaneHandle, LaneTimerHandle, ReadyLanes
from simloop._options import LoopOptions
from simloop._scheduling import Scheduler, check_scheduler
from simloop._text import describe, shown
from simloop._timers import MIN_CANCELLED_TO_COMPACT, SEQUENCE_BITS, TimerQueue
from simloop._trace import Trace, hash_seed_description

if TYPE_CHECKING:
    from simloop._diagnosis import TaskReport
    from simloop._instrument import Instrument
    from simloop._loop import SimLoop

#: ``timer_jitter`` and ``sleep_jitter`` make a delay a choice among this many evenly spaced
#: values, from 0 (on time, option 0) to the full jitter.
JITTER_LEVELS = 8

#: While callbacks are always ready, virtual time stands still; but a real loop's clock moves
#: while it works. Once the loop has been busy, with the clock standing, since the next timer
#: was scheduled, for as many steps as that timer is nanoseconds away divided by this, the
#: clock moves to that timer, as a real clock would have by then: a program that polls with
#: ``sleep(0)`` for a timer goes on as on a stock loop. One microsecond per step is faster than
#: any real loop runs a step, so a timer fires during busy work only when it would have on a
#: real loop too.
BUSY_STEP_NS = 1_000

#: A time limit every virtual time is past: the value the hot paths compare with while
#: ``loop.time`` is replaced, so that every batch boundary takes the slow path (which follows the
#: replacement), at no cost to the common case.
_ALWAYS_PAST = -(NEVER_NS << 1)


_V = TypeVar("_V")


class _Shadowable(Generic[_V]):
    """A read-only property of the loop that a subclass may take over as an attribute of its
    own: a SimLoop subclass standing in for a project's own test loop may use the same names
    (aiostream's test loop keeps a list in ``self.steps``). On a plain SimLoop, setting it is
    refused, as for a property."""

    def __init__(self, read: Callable[[Any], _V]) -> None:
        self._read = read
        self.__doc__ = read.__doc__
        self._name = read.__name__

    @overload
    def __get__(self, loop: None, owner: type | None = None) -> _Shadowable[_V]: ...

    @overload
    def __get__(self, loop: Kernel, owner: type | None = None) -> _V: ...

    def __get__(self, loop: Kernel | None, owner: type | None = None) -> Any:
        if loop is None:
            return self
        state = loop.__dict__
        if self._name in state:
            return state[self._name]
        return self._read(loop)

    def __set__(self, loop: Kernel, value: Any) -> None:
        if type(loop).__module__.partition(".")[0] == "simloop":
            msg = (
                f"`{self._name}` is read-only on a {type(loop).__name__} (a subclass may use "
                "the name for an attribute of its own)"
            )
            raise AttributeError(msg)
        loop.__dict__[self._name] = value


class _LoopClock:
    """``loop.time``: the loop's virtual clock, in seconds.

    Stock asyncio's loop goes by ``self.time()``: ``call_later`` adds the delay to it, and a
    timer runs once it reads past the timer's deadline. Tests rely on that, replacing the clock
    with ``mock.patch.object(loop, "time", fake)`` and moving ``fake`` by hand. So does a
    SimLoop: while ``time`` is replaced on the instance (or overridden by a subclass), the
    replacement decides deadlines and which timers are due (see ``Kernel._start_batch``).
    A data descriptor, so that the replacement is noticed when it is made, not looked for on
    every step.
    """

    @overload
    def __get__(self, loop: None, owner: type | None = None) -> _LoopClock: ...

    @overload
    def __get__(self, loop: Kernel, owner: type | None = None) -> Callable[[], float]: ...

    def __get__(self, loop: Kernel | None, owner: type | None = None) -> Any:
        if loop is None:
            return self
        replacement = loop._time_replacement
        return loop._virtual_time if replacement is None else replacement

    def __set__(self, loop: Kernel, value: Callable[[], float]) -> None:
        loop._time_replacement = value
        loop._follow_replaced_time(True)

    def __delete__(self, loop: Kernel) -> None:
        if loop._time_replacement is None:
            raise AttributeError("time")
        loop._time_replacement = None
        loop._follow_replaced_time(type(loop).time is not _LOOP_CLOCK)


_new_object = object.__new__
#: The lanes of every loop in Fifo mode: always empty.
_FIFO_LANES = ReadyLanes(shuffle=False)
_copy_context = contextvars.copy_context
#: The type of a builtin's bound method, such as a random.Random's ``random``.
_BUILTIN_METHOD = type(_random.Random().random)


class Kernel(asyncio.BaseEventLoop):
    """What runs the steps of a :class:`~simloop.SimLoop` (see the module docstring)."""

    if TYPE_CHECKING:
        # BaseEventLoop's protected members that a subclass uses; typeshed leaves them out.
        _ready: collections.deque[Any]
        _stopping: bool
        _asyncgens: Any
        _closed: bool
        _debug: bool
        _current_handle: Any
        _clock_resolution: float
        _thread_id: int | None

        def _check_callback(self, callback: Any, method: str) -> None: ...
        def _check_thread(self) -> None: ...

    def __init__(self, options: LoopOptions, scheduler: Scheduler, seed: int | None) -> None:
        asyncio.BaseEventLoop.__init__(self)
        self._options = options
        self._clock_resolution = 1 / NS_PER_SECOND
        self._seed = seed
        self._shuffle = options.shuffle
        self._ready_points: list[ChoicePoint | None] = []
        self._use_scheduler(scheduler)
        self._run_scheduler = scheduler  # what the trace names (not a cleanup's)
        self._handle_class = events.Handle if self._fifo else LaneHandle
        self._timer_class = events.TimerHandle if self._fifo else LaneTimerHandle

        # Virtual clock (integer nanoseconds).
        start_ns, self._max_time_ns, jitter_ns, self._epoch_ns, sleep_jitter_ns = options.times_ns()
        self._start_ns = self._now_ns = start_ns
        #: The limit of the current run_forever call, and what the hot paths compare with
        #: (the same, unless loop.time is replaced: see _LoopClock).
        self._limit_ns = self._time_limit_ns = NEVER_NS
        self._time_replacement: Callable[[], float] | None = None
        self._time_replaced = False
        # A subclass that defines time() has replaced the clock for good.
        self._follow_replaced_time(type(self).time is not _LOOP_CLOCK)
        # The timing model (see "Timing" in docs/explanation/virtual-time-and-choices.md).
        # Fifo never deviates, so it makes no jitter choices: every timer is on time.
        self._jitter_step_ns = _jitter_step(0 if self._fifo else jitter_ns)
        self._sleep_jitter_step_ns = _jitter_step(0 if self._fifo else sleep_jitter_ns)

        # Lanes mode; Fifo uses BaseEventLoop's _ready deque and never puts a handle in lanes
        # (nor can it switch to lanes mode), so all Fifo loops share one empty ReadyLanes.
        self._lanes = _FIFO_LANES if self._fifo else ReadyLanes(shuffle=self._shuffle)
        self._timers = TimerQueue()
        self._schedule = Schedule()
        self._marks: dict[str, bool] = {}  # simloop.sometimes(): label -> condition seen true
        self._steps = 0
        #: Where the hot loops' current batch started (they keep the step count in a local).
        self._batch_start = 0
        self._max_steps = options.max_steps
        self._step_limit = -1
        # The step count when the clock last moved (set once per clock jump, not per step):
        # a limit report tells a livelock (no time passing) from an endless retry with it.
        self._clock_moved_at = 0

        self._instruments: list[Instrument] = list(options.instruments)
        self._recorder: Any = None
        if options.record_events:
            from simloop._recorder import TraceRecorder

            # Every step for True, or for more than a deque can hold (no run is that long).
            count = int(options.record_events)
            keep = None if options.record_events is True or count >= sys.maxsize else count
            self._recorder = TraceRecorder(keep=keep)
            self._instruments.append(self._recorder)
        self._extensions: dict[str, Any] = {}  # lowlevel.loop_local()
        self._main_future: asyncio.Future[Any] | None = None
        # Errors raised outside a step (another thread, a deadline timer, lowlevel.fail) that
        # must end the run: raised at the next batch boundary.
        self._pending_errors: list[BaseException] = []
        # A scheduler or instrument that broke its contract (see _extension_failed).
        self._extension_error: ExtensionError | None = None

    # --- what the loop exposes ------------------------------------------------------------

    @_Shadowable
    def seed(self) -> int | None:
        """The run's seed (``None`` for an unseeded ``Fifo`` run)."""
        return self._seed

    @_Shadowable
    def scheduler(self) -> Scheduler:
        """The scheduler that makes this loop's choices."""
        return self._scheduler

    @_Shadowable
    def steps(self) -> int:
        """How many callbacks (task steps, timer callbacks...) have run so far."""
        return self._steps

    @_Shadowable
    def trace(self) -> Trace:
        """A snapshot of the run so far: its schedule and, with ``record_events``, its events."""
        schedule = self._schedule
        settings = self._options.recorded()
        del settings["seed"]
        return Trace(
            choices=list(schedule.choices),
            options=list(schedule.options),
            kinds=schedule.kind_list(),
            steps=self._steps,
            start_time_ns=self._start_ns,
            end_time_ns=self._now_ns,
            seed=self._seed,
            scheduler=repr(self._run_scheduler),
            settings=settings,
            hash_seed=hash_seed_description(),
            events=None if self._recorder is None else list(self._recorder.events),
            marks=dict(self._marks) or None,
        )

    time = _LoopClock()

    def _virtual_time(self) -> float:
        """The virtual time, in seconds."""
        return self._now_ns / NS_PER_SECOND

    def _follow_replaced_time(self, replaced: bool) -> None:
        """Go by ``self.time()`` (a replacement of the clock) or by the virtual clock."""
        self._time_replaced = replaced
        self._time_limit_ns = _ALWAYS_PAST if replaced else self._limit_ns

    def _set_time_limit(self, limit_ns: int) -> None:
        """The virtual time a run_forever call may not go past."""
        self._limit_ns = limit_ns
        self._time_limit_ns = _ALWAYS_PAST if self._time_replaced else limit_ns

    def _replaced_now_ns(self) -> int:
        """What the replaced ``loop.time()`` reads, in nanoseconds."""
        reading = self.time()
        if isinstance(reading, bool) or not isinstance(reading, (int, float)):
            msg = (
                "`loop.time` was replaced by a function that returns "
                f"{type(reading).__name__} {reading!r}, not a number of seconds"
            )
            raise InvalidArgumentError(msg)
        return seconds_to_ns(reading, name="loop.time()")

    def _use_scheduler(self, scheduler: Scheduler) -> None:
        """Make ``scheduler`` answer the choices (see lowlevel.set_scheduler)."""
        self._scheduler = scheduler
        self._choose = scheduler.choose
        self._fifo = bool(getattr(scheduler, "always_stock", False))
        uniform = getattr(scheduler, "uniform_random", None)
        self._uniform_random = self._checked_uniform(uniform) if callable(uniform) else None

    def _checked_uniform(self, uniform: Callable[[], float]) -> Callable[[], float]:
        """``uniform`` as the hot path may call it: a ``random.Random``'s own ``random``
        method is used as it is; any other function is checked to return floats in
        ``[0, 1)``, since the hot path picks ``int(draw * n)`` without looking."""
        if (
            type(uniform) is _BUILTIN_METHOD
            and getattr(uniform, "__name__", None) == "random"
            and isinstance(getattr(uniform, "__self__", None), _random.Random)
        ):
            return uniform
        scheduler = self._scheduler

        def checked() -> float:
            draw = uniform()
            if draw.__class__ is float and 0.0 <= draw < 1.0:
                return draw
            msg = (
                f"scheduler {shown(scheduler)}: its uniform_random() returned {shown(draw)}; "
                "it must return floats in [0, 1)"
            )
            raise self._extension_failed(ExtensionError(msg))

        return checked

    # --- extensions that break their contract -----------------------------------------------

    def _extension_failed(self, error: ExtensionError) -> ExtensionError:
        """Remember that a scheduler or instrument broke its contract; returns ``error`` to
        raise. It is also raised at the next batch boundary, and out of ``run_forever``
        whatever else happens, so that a step that catches it cannot hide it."""
        if self._extension_error is None:
            self._extension_error = error
            self._pending_errors.append(error)
        return error

    def _take_extension_error(self) -> ExtensionError | None:
        """The contract broken during this run, if any, now being raised (forgotten here)."""
        error = self._extension_error
        if error is not None:
            self._extension_error = None
            if error in self._pending_errors:
                self._pending_errors.remove(error)
        return error

    def _scheduler_failed(self, point: ChoicePoint, exc: Exception) -> BaseException:
        """What to raise when the scheduler raised ``exc`` answering ``point``: a replay's
        divergence (or another broken contract) as it is, anything else as a bug in the
        scheduler (with ``exc`` as its cause)."""
        if isinstance(exc, (ReplayDivergenceError, ExtensionError)):
            return exc
        error = scheduler_error(self._scheduler, point, exc)
        error.__cause__ = exc
        return self._extension_failed(error)

    def _check_hook_error(self, instrument: Instrument, hook: str, exc: Exception) -> None:
        """An instrument's hook raised ``exc``. An ``AssertionError`` or a simloop error is
        how an instrument fails the run (simloop.invariant does), so the caller re-raises it;
        anything else is a bug in the instrument, raised as such."""
        if not isinstance(exc, (AssertionError, SimulationError)):
            error = instrument_error(instrument, hook, exc)
            error.__cause__ = exc
            raise self._extension_failed(error)

    def add_instrument(self, instrument: Instrument, *, first: bool = False) -> None:
        """Attach an observer that is told about every step and choice (see ``Instrument``),
        from the next hook on; ``first=True`` puts it ahead of those already attached.

        Safe from inside an instrument's hook: the instruments being told about the current
        event are those attached when it happened (the list is replaced, never changed).
        """
        check_instrument(instrument, "add_instrument()")
        if first:
            self._instruments = [instrument, *self._instruments]
        else:
            self._instruments = [*self._instruments, instrument]

    def remove_instrument(self, instrument: Instrument) -> None:
        """Detach an observer attached with :meth:`add_instrument` (also from inside a hook,
        its own included: no other instrument misses the current event)."""
        remaining = [other for other in self._instruments if other is not instrument]
        if len(remaining) == len(self._instruments):
            msg = f"remove_instrument(): {shown(instrument)} is not attached to this loop"
            raise ValueError(msg)
        self._instruments = remaining

    def has_instrument(self, instrument: Instrument) -> bool:
        """Whether ``instrument`` is attached."""
        return any(other is instrument for other in self._instruments)

    # --- timers ----------------------------------------------------------------------------

    def _call_later_ns(
        self, delay_ns: int, callback: Callable[..., object], *args: Any
    ) -> events.TimerHandle:
        """An internal timer: exact, never jittered."""
        now_ns = self._replaced_now_ns() if self._time_replaced else self._now_ns
        when_ns = min(now_ns + delay_ns, NEVER_NS)
        when = when_ns / NS_PER_SECOND if when_ns < NEVER_NS else math.inf
        return self._new_timer(when_ns, when, callback, args, None, False)

    def _new_timer(
        self,
        when_ns: int,
        when: float,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        context: contextvars.Context | None,
        jitter: bool,
    ) -> events.TimerHandle:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        timer: Any
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
            timer = self._timer_class(when, callback, args, self, context)
            if timer._source_traceback:
                del timer._source_traceback[-2:]
        else:
            # What TimerHandle.__init__ does, without its call overhead.
            timer = _new_object(self._timer_class)
            timer._callback = callback
            timer._args = args
            timer._cancelled = False
            timer._loop = self
            timer._source_traceback = None
            timer._repr = None
            timer._context = _copy_context() if context is None else context
            timer._when = when
        step_ns = self._sleep_jitter_step_ns
        if jitter and step_ns and when_ns < NEVER_NS and _stdlib.is_sleep_wakeup(timer):
            # An operation modelled by a sleep takes longer: this one timer ends later, maybe
            # after timers due later (the only way a timer overtakes an earlier deadline).
            point = ChoicePoint(
                SLEEP_JITTER,
                JITTER_LEVELS,
                subject=timer,
                labels=lambda k: f"slept {format_seconds(k * step_ns)} longer (sleep jitter)",
            )
            when_ns += step_ns * self._make_choice(point)
            timer._when = when_ns / NS_PER_SECOND
        # TimerQueue.push, inlined (a timer per sleep).
        timers = self._timers
        timers.sequence = sequence = timers.sequence + 1
        heappush(
            timers.heap,
            (
                (min(when_ns, NEVER_NS) << SEQUENCE_BITS) | sequence,
                timer,
                # The steps run so far (to the start of the batch: the hot loops count theirs
                # in a local, and store where each batch starts).
                max(self._steps, self._batch_start),
            ),
        )
        timer._scheduled = True
        return timer  # type: ignore[no-any-return]

    def _timer_handle_cancelled(self, handle: Any) -> None:
        if handle._scheduled:
            self._timers.cancelled += 1

    # --- the run loop -------------------------------------------------------------------

    def _run_once(self) -> None:
        """Run batches until ``stop()`` has been called (checked between batches).

        ``BaseEventLoop.run_forever`` calls this once per iteration and then checks
        ``_stopping``; running many iterations per call avoids its overhead per batch. Called
        directly, outside ``run_forever`` (as some tests of asyncio itself do), it runs one
        iteration, as stock asyncio's does.
        """
        if self._thread_id is None:
            self._run_one_iteration()
            return
        while True:
            ntodo = self._start_batch()
            if ntodo:
                if self._instruments or self._debug:
                    self._run_batch_observed(ntodo)
                elif self._fifo:
                    self._run_batches_fifo(ntodo)
                else:
                    self._run_batches_chosen(ntodo)
            if self._stopping:
                if self._pending_errors:
                    # A failure from the batch that stopped the loop (say, a callback that
                    # ran beside the main task's done callback): the run ends with it, not
                    # the next one.
                    raise self._pending_errors.pop(0)
                return

    def _run_one_iteration(self) -> None:
        """One iteration of stock asyncio's loop: the timers due join the ready callbacks (if
        none is ready, the clock moves to the next timer first, where stock asyncio would wait
        in its selector), then the callbacks ready now run."""
        if self._lanes.pending:
            self._lanes.flush_pending()
        now_ns = self._replaced_now_ns() if self._time_replaced else self._now_ns
        if not self._ready_count() and not self._timers.due_before(now_ns):
            when = self._timers.next_deadline()
            if when is None:
                return
            if not self._time_replaced:
                self._now_ns = now_ns = max(when, self._now_ns)
        self._collect_due_timers(now_ns)
        ntodo = self._ready_count()
        if ntodo:
            self._run_batch_observed(ntodo)

    def _ready_count(self) -> int:
        if self._fifo:
            return len(self._ready)
        lanes = self._lanes
        return lanes.queued - self._steps + len(lanes.pending)

    def _ready_handles(self) -> Iterator[events.Handle]:
        """Every ready callback (for reports), lane by lane."""
        if self._fifo:
            return iter(self._ready)
        return iter(self._lanes)

    def _start_batch(self) -> int:
        """The work between two batches; returns how many callbacks the next batch runs."""
        if self._time_replaced:
            return self._start_batch_by_replaced_time()
        if self._pending_errors:
            raise self._pending_errors.pop(0)
        lanes = self._lanes
        if lanes.pending:
            lanes.flush_pending()  # scheduled from outside the loop, before the due timers
        heap = self._timers.heap
        if heap and heap[0][0] < (self._now_ns + 1) << SEQUENCE_BITS:
            self._collect_due_timers()
        ntodo = self._ready_count()
        if not ntodo and not self._stopping:
            self._advance_clock()
            ntodo = self._ready_count()
        elif heap and not self._stopping:
            self._advance_clock_while_busy()
            ntodo = self._ready_count()
        if ntodo and self._now_ns > self._time_limit_ns:
            raise self._limit_error(TimeLimitError)
        return ntodo

    def _start_batch_by_replaced_time(self) -> int:
        """:meth:`_start_batch` while ``loop.time`` is replaced: timers are due by the
        replacement's clock, as in stock asyncio's ``_run_once``. When nothing is ready, a real
        loop sleeps until the next timer is due by that clock; here the virtual clock moves by
        that much instead, and if the replacement does not follow it, nothing ever could be
        due: a deadlock, reported as such."""
        if self._pending_errors:
            raise self._pending_errors.pop(0)
        lanes = self._lanes
        if lanes.pending:
            lanes.flush_pending()
        now_ns = self._replaced_now_ns()
        if self._timers.due_before(now_ns):
            self._collect_due_timers(now_ns)
        ntodo = self._ready_count()
        if ntodo or self._stopping:
            return ntodo
        when = self._timers.next_deadline()
        if when is None:
            raise self._deadlock_error()
        target = self._now_ns + (when - now_ns)
        if target > self._limit_ns:
            raise self._limit_error(TimeLimitError, next_timer_ns=target)
        if target > self._now_ns:
            old = self._now_ns
            self._now_ns = target
            self._clock_moved_at = self._steps
            for instrument in self._instruments:
                instrument.clock_advanced(_as_simloop(self), old, target)
        later_ns = self._replaced_now_ns()
        if later_ns < when:
            raise self._deadlock_error(
                "nothing is ready, and no timer is due by the replaced loop.time(), which "
                f"reads {later_ns / NS_PER_SECOND!r} (the next timer is due at "
                f"{when / NS_PER_SECOND!r}) and did not move when virtual time did: a real "
                "loop would wait for it forever."
            )
        self._collect_due_timers(later_ns)
        return self._ready_count()

    def _batch_boundary_needs_work(self, steps: int) -> bool:
        """Whether the next batch must go through :meth:`_start_batch` first (``steps``: the
        steps run so far, which the caller counts)."""
        heap = self._timers.heap
        return bool(
            self._stopping
            or (
                heap
                and (heap[0][0] >> SEQUENCE_BITS) - self._now_ns
                <= (steps - max(self._clock_moved_at, heap[0][2])) * BUSY_STEP_NS
            )
            or self._pending_errors
            or self._instruments
            or self._now_ns > self._time_limit_ns
        )

    def _simple_next_instant(self) -> int | None:
        """Nothing is ready: the time of the next timer if moving the clock there is all the
        batch boundary has to do (no stop, error, instrument, cancelled timer or limit to deal
        with), else None."""
        timers = self._timers
        heap = timers.heap
        if (
            not heap
            or self._stopping
            or self._pending_errors
            or self._instruments
            or self._jitter_step_ns
            or timers.cancelled > MIN_CANCELLED_TO_COMPACT
        ):
            return None
        key, timer, _ = heap[0]
        when: int = key >> SEQUENCE_BITS
        if timer._cancelled or when >= NEVER_NS or when > self._time_limit_ns:
            return None
        return when

    def _run_batches_fifo(self, ntodo: int) -> None:
        """Run batches in stock order for as long as no batch boundary needs work."""
        ready = self._ready
        popleft = ready.popleft
        steps = self._steps
        limit = self._step_limit
        done = 0
        try:
            while True:
                self._batch_start = steps  # the step count timers are scheduled at
                over = 0 <= limit < steps + ntodo
                if over:
                    ntodo = max(0, limit - steps)
                for done in range(1, ntodo + 1):  # noqa: B007 - `done` counts for the finally
                    handle = popleft()
                    if handle._cancelled:
                        continue
                    # Handle._run, inlined (see _stdlib.HANDLE_SLOTS).
                    try:
                        handle._context.run(handle._callback, *handle._args)
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:  # noqa: BLE001 - reported as asyncio does
                        self.call_exception_handler(_stdlib.callback_error_context(handle, exc))
                steps += ntodo
                done = 0
                if over:
                    raise self._limit_error(StepLimitError)
                if ready:
                    if self._batch_boundary_needs_work(steps):
                        return
                else:
                    # Nothing is ready: move the clock to the next timer if that is all the
                    # boundary has to do.
                    when = self._simple_next_instant()
                    if when is None:
                        return
                    if when > self._now_ns:
                        self._now_ns = when
                        self._clock_moved_at = steps
                    # The due timers join the queue (TimerQueue.pop_due without its groups).
                    timers = self._timers
                    heap = timers.heap
                    bound = (when + 1) << SEQUENCE_BITS
                    while heap and heap[0][0] < bound:
                        timer = heappop(heap)[1]
                        timer._scheduled = False
                        if timer._cancelled:
                            timers.cancelled -= 1
                        else:
                            ready.append(timer)
                ntodo = len(ready)
        finally:
            self._steps = steps + done
            handle = None  # break reference cycles through a failed callback

    def _lone_next_timer(self) -> Any:
        """Nothing is ready: if the batch boundary has nothing to do but move the clock to the
        next timer, and no other timer is due at that instant (no tie to choose), move it and
        return that timer, taken off the heap; else None, for the full treatment.
        """
        when = self._simple_next_instant()
        if when is None:
            return None
        # Another timer due then would be the heap's second smallest entry: at index 1 or 2.
        heap = self._timers.heap
        bound = (when + 1) << SEQUENCE_BITS
        n = len(heap)
        if (n > 1 and heap[1][0] < bound) or (n > 2 and heap[2][0] < bound):
            return None
        timer = heappop(heap)[1]
        timer._scheduled = False
        if when > self._now_ns:
            self._now_ns = when
            self._clock_moved_at = -1  # the caller, which counts steps, fills it in
        return timer

    def _ready_point(self, n: int) -> ChoicePoint:
        """The "ready" choice point with ``n`` options (one per lane). Its fields depend on
        ``n`` only (the handles are read when asked for), so there is one per ``n``."""
        points = self._ready_points
        while len(points) <= n:
            points.append(None)
        point = points[n]
        if point is None:
            lanes = self._lanes
            point = points[n] = ChoicePoint(
                READY,
                n,
                labels=self._ran_ahead_of,
                handles=lanes.option_handles,
                stock=lanes.stock,
            )
        return point

    def _ran_ahead_of(self, option: int) -> str:
        if option == 0:
            return "ran in asyncio's order"
        return f"ran ahead of {handle_label(self._lanes.oldest)}"

    def _run_batches_chosen(self, ntodo: int) -> None:
        """Run batches, the scheduler choosing each callback, while no boundary needs work.

        The bodies of :meth:`ReadyLanes.take` and :meth:`ReadyLanes.add_lane`, inlined: this
        loop is where a seeded run spends its time, so everything it touches is a local.
        """
        lanes = self._lanes
        active = lanes.active
        oldest = lanes.oldest
        youngest = lanes.youngest
        pending = lanes.pending
        shuffle = self._shuffle
        choose = self._choose
        # A scheduler that declares a uniform random source: its answer to a "ready" choice
        # is one random() call, made here rather than through a method call, which would cost
        # as much as the rest of the choice.
        random = self._uniform_random
        points = self._ready_points
        schedule = self._schedule
        record_choice = schedule.choices.append
        record_options = schedule.options.append
        steps = self._steps
        limit = self._step_limit
        queued = lanes.queued
        done = 0
        try:
            while True:
                self._batch_start = steps  # the step count timers are scheduled at
                over = 0 <= limit < steps + ntodo
                if over:
                    ntodo = max(0, limit - steps)
                for done in range(1, ntodo + 1):
                    k = len(active)
                    if k == 1:
                        handle = active[0]
                    else:
                        if random is not None:
                            try:
                                c = int(random() * k)
                            except Exception as exc:  # noqa: BLE001 - a bug of the scheduler
                                done -= 1  # the step being chosen never ran
                                raise self._scheduler_failed(self._ready_point(k), exc)
                        else:
                            # The scheduler may look at the options (point.option_handles()).
                            lanes.oldest = oldest
                            lanes.youngest = youngest
                            point = points[k] if k < len(points) else None
                            if point is None:
                                point = self._ready_point(k)
                            try:
                                c = choose(point)
                            except Exception as exc:  # noqa: BLE001 - a bug of the scheduler
                                done -= 1  # the step being chosen never ran
                                raise self._scheduler_failed(point, exc)
                            except BaseException:
                                done -= 1
                                raise
                            if c.__class__ is not int or not 0 <= c < k:
                                done -= 1
                                error = bad_choice_error(self._scheduler, point, c)
                                raise self._extension_failed(error)
                        record_choice(c)
                        record_options(k)
                        # Option 0 is stock asyncio's next callback; the lane at its place in
                        # active takes option 0's place, so options map one-to-one to lanes.
                        if c == 0:
                            handle = oldest
                        else:
                            handle = active[c]
                            if handle is oldest:
                                handle = active[0]
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
                        if older is None:
                            oldest = successor
                        else:
                            older._younger = successor
                        if younger is None:
                            youngest = successor
                        else:
                            younger._older = successor
                    else:
                        last = active.pop()
                        if last is not handle:
                            active[pos] = last
                            last._pos = pos
                        if older is None:
                            oldest = younger
                        else:
                            older._younger = younger
                        if younger is None:
                            youngest = older
                        else:
                            younger._older = older
                    if not handle._cancelled:
                        try:
                            handle._context.run(handle._callback, *handle._args)
                        except (SystemExit, KeyboardInterrupt):
                            raise
                        except BaseException as exc:  # noqa: BLE001 - reported as asyncio does
                            self.call_exception_handler(_stdlib.callback_error_context(handle, exc))
                    if pending:
                        # The step's callbacks become a lane (one lane each with shuffle).
                        queued += len(pending)
                        if len(pending) == 1 or shuffle:
                            for new in pending:
                                new._next = None
                                new._pos = len(active)
                                active.append(new)
                                new._younger = None
                                new._older = youngest
                                if youngest is None:
                                    oldest = new
                                else:
                                    youngest._younger = new
                                youngest = new
                        else:
                            previous = pending[0]
                            previous._pos = len(active)
                            active.append(previous)
                            previous._younger = None
                            previous._older = youngest
                            if youngest is None:
                                oldest = previous
                            else:
                                youngest._younger = previous
                            youngest = previous
                            for new in pending[1:]:
                                previous._next = new
                                previous = new
                            previous._next = None
                        pending.clear()
                steps += ntodo
                done = 0
                if over:
                    raise self._limit_error(StepLimitError)
                if active:
                    if self._batch_boundary_needs_work(steps):
                        return
                else:
                    # Nothing is ready. The common case, one timer due at the next instant,
                    # is handled here: the clock moves and the timer is the only lane.
                    timer = self._lone_next_timer()
                    if timer is None:
                        return
                    if self._clock_moved_at < 0:
                        self._clock_moved_at = steps
                    timer._next = timer._older = timer._younger = None
                    timer._pos = 0
                    active.append(timer)
                    oldest = youngest = timer
                    queued += 1
                ntodo = queued - steps
        finally:
            self._steps = steps + done
            lanes.queued = queued
            lanes.oldest = oldest
            lanes.youngest = youngest
            lanes.flush_pending()  # a step that raised out of the loop may have left some
            handle = None  # break reference cycles through a failed callback

    def _run_batch_observed(self, ntodo: int) -> None:
        """One batch for any scheduler, telling instruments about each step; debug mode too."""
        loop = _as_simloop(self)
        limit = self._step_limit
        over = 0 <= limit < self._steps + ntodo
        if over:
            ntodo = max(0, limit - self._steps)
        handle = stock = None
        try:
            for _ in range(ntodo):
                handle, choice, options, stock = self._take()
                index = self._steps
                self._steps = index + 1
                if _stdlib.is_cancelled(handle):
                    continue
                try:
                    for instrument in self._instruments:
                        instrument.step_started(loop, index, handle, choice, options, stock)
                except Exception as exc:
                    self._check_hook_error(instrument, "step_started", exc)
                    raise
                self._current_handle = handle
                try:
                    if self._debug:
                        # Stock debug mode warns about slow callbacks; in virtual time only
                        # time.sleep and executor jobs make a callback "slow", which is still
                        # worth knowing. Inline, as in BaseEventLoop._run_once: the finished
                        # frame of a helper would keep the handle alive (see below).
                        t0 = self._now_ns
                        handle._run()
                        dt = (self._now_ns - t0) / NS_PER_SECOND
                        if dt >= self.slow_callback_duration:
                            from asyncio.log import logger

                            logger.warning("Executing %s took %.3f seconds", handle, dt)
                    else:
                        handle._run()
                finally:
                    self._current_handle = None
                    if not self._fifo:
                        self._lanes.flush_pending()
                try:
                    for instrument in self._instruments:
                        instrument.step_finished(loop, index, handle)
                except Exception as exc:
                    self._check_hook_error(instrument, "step_finished", exc)
                    raise
        finally:
            # The traceback of an exception raised in a callback keeps this frame alive (as the
            # f_back of the callback's frames), with the handle in it, and so its task and the
            # task's exception. Stock asyncio drops the handle (as Handle._run drops `self`),
            # so an unretrieved exception is logged as soon as its task is unreachable.
            handle = stock = None
        if over:
            raise self._limit_error(StepLimitError)

    def _take(self) -> tuple[events.Handle, int, int, events.Handle]:
        """Take the next callback to run: (handle, choice made, number of options, the
        handle stock asyncio would have run: the same one unless the choice deviates)."""
        if self._fifo:
            handle = self._ready.popleft()
            return handle, 0, 1, handle
        lanes = self._lanes
        k = len(lanes.active)
        c = 0
        stock = lanes.oldest
        if k > 1:
            c = self._make_choice(self._ready_point(k))
        return lanes.take(c), c, k, stock

    def _make_choice(self, point: ChoicePoint) -> int:
        """Ask the scheduler, check and record its answer (not used on the hot path)."""
        try:
            c = self._choose(point)
        except Exception as exc:  # noqa: BLE001 - a bug of the scheduler (or a divergence)
            raise self._scheduler_failed(point, exc)
        if c.__class__ is not int or not 0 <= c < point.n:
            raise self._extension_failed(bad_choice_error(self._scheduler, point, c))
        self._schedule.record(point.kind, point.n, c)
        try:
            for instrument in self._instruments:
                instrument.choice_made(_as_simloop(self), point, c)
        except Exception as exc:
            self._check_hook_error(instrument, "choice_made", exc)
            raise
        return c

    def _collect_due_timers(self, now_ns: int | None = None) -> None:
        """Move every timer due at the current time (or ``now_ns``) into the ready callbacks.

        In lanes mode the due timers form one new lane (with ``shuffle``, one lane each);
        which of several timers with the same deadline comes first is a choice, option 0
        being the order they were scheduled in.
        """
        groups = self._timers.pop_due(self._now_ns if now_ns is None else now_ns)
        if not groups:
            return
        if self._fifo:
            for group in groups:
                self._ready.extend(group)
            return
        ordered: list[Any] = []
        for group in groups:
            if self._shuffle:
                # The "ready" choice can already put these in any order; a tie choice would
                # only produce the same schedules twice.
                ordered += group
                continue
            while len(group) > 1:
                ordered.append(group.pop(self._make_choice(_tie_point(group))))
            ordered.append(group[0])
        # A lane of their own, as if scheduled by one step between batches.
        self._lanes.flush_pending()
        self._lanes.add_lane(ordered)

    def _advance_clock_while_busy(self) -> None:
        """Callbacks are ready: if the loop has been busy long enough that a real clock would
        have reached the next timer (see :data:`BUSY_STEP_NS`), move the clock there."""
        when = self._timers.next_deadline()
        if when is None:
            return
        # Busy since the clock last moved, or since the timer was scheduled if later.
        busy_steps = self._steps - max(self._clock_moved_at, self._timers.heap[0][2])
        if when - self._now_ns > busy_steps * BUSY_STEP_NS:
            return
        if when > self._time_limit_ns:
            raise self._limit_error(TimeLimitError, next_timer_ns=when)
        if when > self._now_ns:
            self._move_clock(when)
        self._collect_due_timers()

    def _move_clock(self, when: int) -> None:
        """Move the virtual clock forward to ``when``, telling the instruments."""
        old = self._now_ns
        self._now_ns = when
        self._clock_moved_at = self._steps
        try:
            for instrument in self._instruments:
                instrument.clock_advanced(_as_simloop(self), old, when)
        except Exception as exc:
            self._check_hook_error(instrument, "clock_advanced", exc)
            raise

    def _advance_clock(self) -> None:
        """Nothing is ready: jump to the next timer, or report why the run cannot go on."""
        when = self._timers.next_deadline()
        if when is None:
            raise self._deadlock_error()
        if when > self._time_limit_ns:
            raise self._limit_error(TimeLimitError, next_timer_ns=when)
        step_ns = self._jitter_step_ns
        if step_ns and when < NEVER_NS:
            # The loop wakes up late (timer_jitter): a real loop checks its timers only
            # between callbacks, and a busy one checks late. Every timer due by then fires,
            # in deadline order, as stock asyncio's _run_once moves them all at once.
            late = step_ns * self._make_choice(_lateness_point(step_ns))
            when = min(when + late, max(when, self._time_limit_ns))
        if when > self._now_ns:
            self._move_clock(when)
        self._collect_due_timers()

    # --- why a run cannot go on ----------------------------------------------------------

    def _deadlock_error(self, why: str | None = None) -> DeadlockError:
        from simloop._diagnosis import deadlock_error

        return deadlock_error(_as_simloop(self), self._main_future, why=why)

    def _limit_error(
        self,
        kind: type[StepLimitError] | type[TimeLimitError],
        next_timer_ns: int | None = None,
        *,
        blocking_sleeps: int | None = None,
    ) -> StepLimitError | TimeLimitError:
        from simloop._diagnosis import limit_error

        return limit_error(
            _as_simloop(self),
            kind,
            now_ns=self._now_ns,
            max_steps=self._max_steps,
            max_time_ns=self._max_time_ns,
            next_timer_ns=next_timer_ns,
            # The batch runners count steps in a local until they return: at a step limit,
            # the limit is the count.
            steps=self._step_limit if kind is StepLimitError else self._steps,
            clock_moved_at=self._clock_moved_at,
            main=self._main_future,
            blocking_sleeps=blocking_sleeps,
        )


_LOOP_CLOCK = Kernel.__dict__["time"]


def _as_simloop(kernel: Kernel) -> SimLoop:
    """The SimLoop a kernel is part of (itself: the class only splits the loop by idea)."""
    return kernel  # type: ignore[return-value]


def _jitter_step(jitter_ns: int) -> int:
    """The difference between two successive options of a jitter choice (0: no jitter)."""
    return max(1, jitter_ns // (JITTER_LEVELS - 1)) if jitter_ns else 0


def _lateness_point(step_ns: int) -> ChoicePoint:
    """How late the loop wakes up for its next timer (``timer_jitter``)."""
    return ChoicePoint(
        TIMER_JITTER,
        JITTER_LEVELS,
        labels=lambda k: (
            "timers on time" if k == 0 else f"the loop woke up {format_seconds(k * step_ns)} late"
        ),
    )


def _tie_point(group: list[Any]) -> ChoicePoint:
    """The choice of which of the timers ``group``, due at the same time, fires first."""
    tied = list(group)

    def handles() -> list[Any]:
        return tied

    def labels(option: int) -> str:
        if option == 0:
            return "fired in the order the timers were scheduled"
        return f"fired before {timer_label(tied[0])}, due at the same time"

    return ChoicePoint(TIMER_TIE, len(tied), handles=handles, labels=labels)


# --- simloop.lowlevel: what extensions read and do through the loop --------------------------
#
# These functions live here because they read the kernel's state; simloop.lowlevel re-exports
# them. Each takes the loop as `loop=`, defaulting to the running SimLoop.


def current_loop() -> SimLoop:
    """The running :class:`SimLoop`; :class:`~simloop.InvalidArgumentError` outside one."""
    loop = _stdlib.get_running_loop_or_none()
    if not isinstance(loop, Kernel):
        where = "outside any event loop" if loop is None else f"on {shown(loop)}"
        msg = (
            "this must be called inside a simulated run (a coroutine or callback running on a "
            f"SimLoop), not {where}"
        )
        raise InvalidArgumentError(msg)
    return _as_simloop(loop)


def _the(loop: SimLoop | None) -> SimLoop:
    if loop is None:
        return current_loop()
    if not isinstance(loop, Kernel):
        msg = f"`loop` must be a simloop.SimLoop, not {describe(loop)}"
        raise InvalidArgumentError(msg)
    return loop


def choose(point: ChoicePoint, *, loop: SimLoop | None = None) -> int:
    """Make a decision: the loop's scheduler answers ``point`` with an option in
    ``range(point.n)``; the trace records it (kind, option, number of options), a replay
    checks it, instruments hear of it (``choice_made``). The one way anything in a run makes
    a choice."""
    if not isinstance(point, ChoicePoint):
        msg = f"`point` must be a simloop.lowlevel.ChoicePoint, not {shown(point)}"
        raise InvalidArgumentError(msg)
    return _the(loop)._make_choice(point)


def now_ns(*, loop: SimLoop | None = None) -> int:
    """The loop's virtual time, in integer nanoseconds (``loop.time()``, exactly)."""
    return _the(loop)._now_ns


def call_at_ns(
    when_ns: int, callback: Callable[..., object], *args: Any, loop: SimLoop | None = None
) -> events.TimerHandle:
    """Call ``callback(*args)`` at virtual time ``when_ns`` exactly (never jittered: this is
    for a component's own timing, which it makes choices about itself)."""
    the = _the(loop)
    return the._call_later_ns(max(0, _ns(when_ns, "when_ns") - the._now_ns), callback, *args)


def call_later_ns(
    delay_ns: int, callback: Callable[..., object], *args: Any, loop: SimLoop | None = None
) -> events.TimerHandle:
    """Call ``callback(*args)`` ``delay_ns`` nanoseconds from now, exactly."""
    delay = _ns(delay_ns, "delay_ns")
    if delay < 0:
        msg = f"`delay_ns` must be non-negative, not {shown(delay_ns)}"
        raise InvalidArgumentError(msg)
    return _the(loop)._call_later_ns(delay, callback, *args)


def _ns(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"`{name}` must be an int number of nanoseconds, not {shown(value)}"
        raise InvalidArgumentError(msg)
    return value


def fail(exc: BaseException, *, loop: SimLoop | None = None) -> None:
    """End the run with ``exc``: it is raised out of ``run_until_complete`` at the next batch
    boundary (so a component can fail the run from a callback or a hook), or as the loop
    stops, if the batch running now stops it."""
    if not isinstance(exc, BaseException):
        msg = f"`exc` must be an exception, not {shown(exc)}"
        raise InvalidArgumentError(msg)
    _the(loop)._pending_errors.append(exc)


def main_task(*, loop: SimLoop | None = None) -> asyncio.Future[Any] | None:
    """The future ``run_until_complete`` is running now (the main task), if any."""
    return _the(loop)._main_future


def idle_now(*, loop: SimLoop | None = None) -> bool:
    """Whether nothing else is ready and no timer is due at the current virtual time
    (asked from inside a step: the running callback is not counted)."""
    the = _the(loop)
    if the._timers.due_before(the._now_ns):
        return False
    # Not _ready_count(): inside a step, the batch runner keeps its counts in locals.
    if the._fifo:
        return not the._ready
    return not the._lanes.active and not the._lanes.pending


def set_scheduler(loop: SimLoop, scheduler: Scheduler, *, cleanup: bool = False) -> None:
    """Make ``scheduler`` answer ``loop``'s choices from now on (the loop must not be
    running). With ``cleanup``, only for the cleanup of a failed run, which the trace does not
    count as the run's scheduler. A loop made with a scheduler that declares
    ``always_stock`` keeps asyncio's plain queue, so it can only switch to another such."""
    the = _the(loop)
    check_scheduler(scheduler)
    if not isinstance(cleanup, bool):
        msg = f"`cleanup` must be True or False, not {describe(cleanup)}"
        raise InvalidArgumentError(msg)
    if the.is_running():
        msg = "set_scheduler(): the loop is running; hand over between runs"
        raise InvalidArgumentError(msg)
    if not cleanup:
        the._run_scheduler = scheduler
    stock = bool(getattr(scheduler, "always_stock", False))
    if the._fifo and not stock:
        msg = (
            f"set_scheduler(): this loop was made with {shown(the._scheduler)}, which keeps "
            "asyncio's plain queue, so it cannot hand over to a scheduler that makes choices; "
            "make the loop with the scheduler it will use (or one that answers 0 until then)"
        )
        raise InvalidArgumentError(msg)
    the._use_scheduler(scheduler)
    # A lanes-mode loop keeps its lanes whatever the new scheduler declares.
    the._fifo = the._handle_class is events.Handle


def record_mark(label: str, reached: bool, *, loop: SimLoop | None = None) -> None:
    """Note that the reachability mark ``label`` was reached, with its condition ``reached``
    (what :func:`simloop.sometimes` records; the trace keeps, per label, whether it ever
    held)."""
    if not isinstance(label, str):
        msg = f"`label` must be a str, not {describe(label)}"
        raise InvalidArgumentError(msg)
    marks = _the(loop)._marks
    marks[label] = marks.get(label, False) or bool(reached)


def loop_local(key: str, factory: Callable[[], Any], *, loop: SimLoop | None = None) -> Any:
    """Per-loop state of an extension: ``factory()`` the first time ``key`` is asked for on
    this loop, the same object after. It lives exactly as long as the loop (a dictionary of
    loops kept by the extension would keep every loop alive, if its state holds the loop), and
    an extension imported twice still finds the loop's one copy."""
    if not isinstance(key, str):
        msg = f"`key` must be a str, not {type(key).__name__} {key!r}"
        raise InvalidArgumentError(msg)
    extensions = _the(loop)._extensions
    found = extensions.get(key)
    if found is None:
        found = extensions[key] = factory()
    return found


def runs_stock_order(*, loop: SimLoop | None = None) -> bool:
    """Whether the loop runs asyncio's own single ready queue (its scheduler declares
    ``always_stock``, as :class:`~simloop.Fifo` does): then it makes no ``"ready"`` choice."""
    return bool(_the(loop)._fifo)


def ready_handles(*, loop: SimLoop | None = None) -> list[events.Handle]:
    """Every ready callback, in lane order (stock asyncio's order when nothing deviates)."""
    return list(_the(loop)._ready_handles())


def describe_tasks(*, loop: SimLoop | None = None) -> list[TaskReport]:
    """A report on every unfinished task: where it waits in the user's code, on what, for
    whom (what deadlock and limit errors list)."""
    from simloop._diagnosis import describe_tasks as describe

    return describe(_the(loop))


def live_tasks(*, loop: SimLoop | None = None) -> list[asyncio.Task[Any]]:
    """The loop's unfinished tasks, in the order they were created."""
    return [task for task in _stdlib.tasks_of_loop(_the(loop)) if not task.done()]


def describe_task(task: asyncio.Task[Any], *, loop: SimLoop | None = None) -> TaskReport:
    """The report on one unfinished task: where it waits, on what, for whom."""
    from simloop._diagnosis import describe_task as describe

    return describe(task, _the(loop))


def detach_instruments(loop: SimLoop) -> None:
    """Detach every instrument (for the cleanup of a run that an extension broke)."""
    _the(loop)._instruments = []


def has_leftover_callbacks(loop: SimLoop) -> bool:
    """Whether callbacks are ready or async generators alive: work for a cleanup run."""
    if loop._fifo:
        ready = bool(loop._ready)
    else:
        lanes = loop._lanes
        ready = lanes.queued != loop._steps or bool(lanes.pending)
    return ready or bool(loop._asyncgens)  # BaseEventLoop's own record of them
