"""SimLoop: an asyncio event loop with a virtual clock and a recorded choice at every decision.

How a run proceeds
------------------

Stock asyncio runs in *batches*: each iteration of ``BaseEventLoop._run_once`` moves the timers
that are due into the ready queue, then runs exactly the callbacks that were ready when the
batch began; callbacks scheduled meanwhile wait for the next batch. ``SimLoop`` keeps that
structure, for two reasons: ``stop()`` means "finish this batch, then return", and a timer that
is already due (``call_later(0)``) joins the queue only at a batch boundary. Both are visible
to programs, and running the all-zero schedule must give exactly stock asyncio's order. (When
the scheduler deviates, a batch is as many steps as callbacks were ready when it began, which
may include some scheduled during the batch: stock asyncio has no such order to match.)

What ``SimLoop`` drops is the selector: there is no I/O to poll, and when nothing is ready the
clock jumps straight to the next timer. Time never advances while anything is ready.

Choices and lanes
-----------------

Ready callbacks are kept in *lanes*: the callbacks scheduled by one step (one callback run)
form one lane, in the order they were scheduled. The scheduler picks a lane; the lane's first
callback runs. So callbacks from the same step keep the relative order asyncio guarantees (a
future's done-callbacks, the waiters woken by ``Event.set``), while callbacks from different
steps may run in any order, which models awaits that take different amounts of real time. With
``shuffle=True`` every callback gets a lane of its own.

A lane is a linked list of handles (``_LaneHandle._next``); ``_active`` holds the first handle
of every non-empty lane, each knowing its index there (``_pos``), so that a choice, taking the
handle and retiring an emptied lane (by swapping the last lane into its place) are all O(1),
with no allocation per lane.

Option 0 is always the callback stock asyncio would run next. The callbacks of one step are
scheduled together, so stock asyncio's FIFO queue is the lanes laid end to end in the order
they were opened, and its head is the first handle of the oldest lane. The first handles of
the lanes are also linked in the order the lanes were opened (``_older``/``_younger``, from
``_oldest`` to ``_youngest``); a handle that becomes its lane's first takes over its
predecessor's links, and an emptied lane is unlinked, so stock asyncio's next callback is
always ``_oldest``, in O(1) and with nothing kept alive after it ran.

The ``Fifo`` scheduler always answers 0, so for it the loop keeps stock asyncio's single deque
and plain handles: the same order at the lowest cost.

The hot path builds and runs ``Handle`` objects through their slots (see
``_stdlib.HANDLE_SLOTS``); everything else about asyncio's internals is in ``_stdlib``.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import heapq
import math
import re
import sys
import threading
from asyncio import events
from collections.abc import Callable, Coroutine, Generator, Iterator, Sequence
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any, TypeVar

from simloop import _stdlib
from simloop._clock import NEVER_NS, NS_PER_SECOND, format_seconds, seconds_to_ns
from simloop._errors import (
    DeadlockError,
    EscapedSimulationError,
    InvalidArgumentError,
    StepLimitError,
    TimeLimitError,
    UnhandledExceptionsError,
)
from simloop._executor import ExecutorJob
from simloop._guards import RunGuards, escape_message
from simloop._noio import NoRealIO
from simloop._scheduling import (
    ChoiceKind,
    Fifo,
    RandomWalk,
    Scheduler,
    bind_scheduler,
    scheduler_for,
)
from simloop._tasks import EAGER_FACTORY, STOCK_EAGER_FACTORY, Task
from simloop._trace import Trace, hash_seed_description

if TYPE_CHECKING:
    from simloop._instrument import Instrument

_T = TypeVar("_T")

_READY = ChoiceKind.READY
_TIMER_TIE = ChoiceKind.TIMER_TIE
_JITTER = ChoiceKind.JITTER

#: ``timer_jitter`` makes each timer's lateness a choice among this many evenly spaced values,
#: from 0 (on time, option 0) to the full jitter.
JITTER_LEVELS = 8

#: A timer's heap key is its deadline shifted left by this many bits, plus a sequence number.
_SEQUENCE_BITS = 40

#: Rebuild the timer heap when this many cancelled timers make up more than half of it.
_MIN_CANCELLED_TO_COMPACT = 64

#: A run that takes this many steps is taken for a livelock (it costs about a second).
DEFAULT_MAX_STEPS = 500_000

#: ``time.time()`` inside a simulation reads this wall-clock time at virtual time 0:
#: 2000-01-01T00:00:00Z.
DEFAULT_EPOCH = 946_684_800.0


class _LaneHandle(events.Handle):
    """A ready callback in lanes mode: a link in its lane, and its index in ``_active``."""

    __slots__ = ("_next", "_older", "_pos", "_younger")
    _next: Any  # the next handle of the lane, or None
    _pos: int  # while first of its lane: its index in _active (stale otherwise)
    _older: Any  # while first of its lane: the first handle of the lane opened before, or None
    _younger: Any  # ... and of the lane opened after, or None


class _LaneTimerHandle(events.TimerHandle):
    """A timer in lanes mode: when it is due, it becomes a link in a lane like any handle."""

    __slots__ = ("_next", "_older", "_pos", "_younger")
    _next: Any
    _pos: int
    _older: Any
    _younger: Any


#: The name stock asyncio gives a task created without one (numbered process-wide).
_DEFAULT_TASK_NAME = re.compile(r"Task-\d+")

_new_object = object.__new__
_copy_context = contextvars.copy_context


# NoRealIO's methods all raise, so their signatures are looser than AbstractEventLoop's.
class SimLoop(NoRealIO, asyncio.BaseEventLoop):  # type: ignore[misc]
    """An asyncio event loop with virtual time, where a scheduler makes every decision.

    Args:
        seed: Seeds the run. Without ``scheduler``, an int seed means ``RandomWalk(seed)``
            and ``None`` means ``Fifo`` (stock asyncio's order). It also seeds ``random``,
            ``os.urandom`` and ``uuid`` inside the run (``None`` seeds them with 0).
        scheduler: Decides every choice point; overrides the default chosen from ``seed``.
        start_time: The virtual time (seconds) ``loop.time()`` reads when the loop starts.
        max_steps: Each ``run_until_complete``/``run_forever`` call may run at most this many
            callbacks, then raises :class:`~simloop.StepLimitError` (livelock protection).
            ``None`` for no limit.
        max_time: Each call may advance virtual time by at most this many seconds, then
            raises :class:`~simloop.TimeLimitError`. ``None`` (the default) for no limit.
        timer_jitter: If positive, every timer fires up to this many seconds late, the
            lateness being a choice point (option 0: on time), to model a busy real loop.
        shuffle: If true, every ready callback can run before any other, even callbacks
            scheduled by the same step in an order asyncio guarantees.
        record_events: Record a full event per step (what ran, where it resumed and
            suspended), not just the choices. Replays of failures use it. An int keeps only
            that many of the latest steps (a livelock runs for hundreds of thousands).
        patch_time: Make ``time.time``/``monotonic``/``perf_counter`` read virtual time and
            ``time.sleep`` advance it, while the loop runs.
        patch_random: Seed ``random``, ``os.urandom``, ``uuid`` from the run's seed, while the
            loop runs.
        forbid_escapes: Raise :class:`~simloop.EscapedSimulationError` when code running in the
            loop starts a thread or a subprocess, opens a socket, or installs a signal handler.
        fail_on_unhandled: Raise :class:`~simloop.UnhandledExceptionsError` at the end of
            ``run_until_complete`` for exceptions nobody retrieved (crashed background tasks,
            failing callbacks), instead of only logging them.
        track_locks: Record which task holds each ``asyncio.Lock``, for deadlock reports.
        epoch: The wall-clock time ``time.time()`` reads at virtual time 0.
        instruments: Observers to attach from the start (see :class:`~simloop.Instrument`).
    """

    if TYPE_CHECKING:
        # BaseEventLoop's protected members that a subclass uses; typeshed leaves them out.
        _ready: collections.deque[Any]
        _stopping: bool
        _closed: bool
        _debug: bool
        _thread_id: int | None
        _timer_cancelled_count: int
        _task_factory: Any
        _current_handle: Any
        _executor_shutdown_called: bool
        _clock_resolution: float
        _asyncgens: Any
        _asyncgens_shutdown_called: bool

        def _check_closed(self) -> None: ...
        def _check_callback(self, callback: Any, method: str) -> None: ...
        def _check_thread(self) -> None: ...
        def _check_running(self) -> None: ...
        def _check_default_executor(self) -> None: ...

    def __init__(
        self,
        *,
        seed: int | None = None,
        scheduler: Scheduler | None = None,
        start_time: float = 0.0,
        max_steps: int | None = DEFAULT_MAX_STEPS,
        max_time: float | None = None,
        timer_jitter: float = 0.0,
        shuffle: bool = False,
        record_events: bool | int = False,
        patch_time: bool = True,
        patch_random: bool = True,
        forbid_escapes: bool = True,
        fail_on_unhandled: bool = True,
        track_locks: bool = True,
        epoch: float = DEFAULT_EPOCH,
        instruments: Sequence[Instrument] = (),
    ) -> None:
        # Until BaseEventLoop.__init__ has run, a loop that rejected its arguments must look
        # closed to BaseEventLoop.__del__ (which would otherwise complain when it is
        # collected), and have what its repr reads.
        self._closed = True
        self._thread_id = None
        self._debug = False
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            msg = f"`seed` must be an int or None, not {type(seed).__name__} {seed!r}"
            raise InvalidArgumentError(msg)
        if max_steps is not None and (
            isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1
        ):
            msg = f"`max_steps` must be a positive int or None, not {max_steps!r}"
            raise InvalidArgumentError(msg)
        start_ns = seconds_to_ns(start_time, name="start_time")
        if not -NEVER_NS < start_ns < NEVER_NS:
            msg = f"`start_time` must be a finite number of seconds, not {start_time!r}"
            raise InvalidArgumentError(msg)
        max_time_ns = None if max_time is None else seconds_to_ns(max_time, name="max_time")
        if max_time_ns is not None and max_time_ns < 0:
            msg = f"`max_time` must be a non-negative number of seconds or None, not {max_time!r}"
            raise InvalidArgumentError(msg)
        jitter_ns = seconds_to_ns(timer_jitter, name="timer_jitter")
        if not 0 <= jitter_ns < NEVER_NS:
            msg = f"`timer_jitter` must be a non-negative number of seconds, not {timer_jitter!r}"
            raise InvalidArgumentError(msg)
        chosen_scheduler = scheduler_for(seed, scheduler)
        guard_epoch_ns = seconds_to_ns(epoch, name="epoch")

        super().__init__()
        self._clock_resolution = 1 / NS_PER_SECOND
        self._scheduler = chosen_scheduler
        self._run_scheduler = chosen_scheduler  # what the trace names (not a cleanup's)
        self._choose = self._scheduler.choose
        if seed is None and isinstance(self._scheduler, RandomWalk):
            seed = self._scheduler.seed
        self._seed = seed
        self._fifo = isinstance(self._scheduler, Fifo)
        self._shuffle = bool(shuffle)
        self._handle_class = events.Handle if self._fifo else _LaneHandle
        self._timer_class = events.TimerHandle if self._fifo else _LaneTimerHandle

        # Virtual clock (integer nanoseconds).
        self._start_ns = start_ns
        self._now_ns = start_ns
        self._max_time_ns = max_time_ns
        self._time_limit_ns = NEVER_NS
        # Fifo never deviates, so it makes no jitter choices: every timer is on time.
        self._jitter_ns = jitter_ns
        self._jitter_step_ns = (
            0 if self._fifo or not jitter_ns else max(1, jitter_ns // (JITTER_LEVELS - 1))
        )

        # Ready callbacks in lanes mode (Fifo mode uses BaseEventLoop's _ready deque).
        # Handles here are _LaneHandle/_LaneTimerHandle; typed Any, as the hot paths set and
        # read their slots, which typeshed does not declare on asyncio's handles.
        self._active: list[Any] = []
        self._oldest: Any = None  # first handle of the oldest lane: stock asyncio's next
        self._youngest: Any = None  # first handle of the lane opened last
        self._pending: list[Any] = []  # scheduled by the running step, not yet a lane
        self._queued_total = 0  # handles ever put in a lane; minus steps, the ready count

        # Timers: a heap of (deadline_ns << _SEQUENCE_BITS | sequence, handle).
        self._timers: list[tuple[int, Any]] = []
        self._timer_sequence = 0
        self._tie_group: list[Any] = []  # while a TIMER_TIE choice is made
        self._choice_subject: object = None  # the timer or task a JITTER/CANCEL choice is about

        # The schedule: one entry per choice point with two or more options.
        self._choices: list[int] = []
        self._options: list[int] = []
        self._marks: dict[str, bool] = {}  # simloop.sometimes(): label -> condition seen true
        self._steps = 0
        self._max_steps = max_steps
        self._step_limit = -1

        self._instruments: list[Instrument] = list(instruments)
        self._recorder: Any = None
        if record_events:
            from simloop._trace import TraceRecorder

            keep = None if record_events is True else int(record_events)
            self._recorder = TraceRecorder(keep=keep)
            self._instruments.append(self._recorder)

        self._fail_on_unhandled = bool(fail_on_unhandled)
        self._unhandled: list[dict[str, Any]] = []
        self._suspects: list[asyncio.Task[Any]] = []
        self._last_failure: BaseException | None = None
        self._track_locks = bool(track_locks)
        self._task_keys = 0
        self._job: ExecutorJob | None = None
        self._simulated_executor: Any = None
        self._main_future: asyncio.Future[Any] | None = None
        # Errors raised outside a step (another thread, a deadline timer) that must end the
        # run: raised at the next batch boundary.
        self._pending_errors: list[BaseException] = []
        self._guards = RunGuards(
            self,
            seed=0 if seed is None else seed,
            patch_time=bool(patch_time),
            patch_random=bool(patch_random),
            forbid_escapes=bool(forbid_escapes),
            epoch_ns=guard_epoch_ns,
        )
        self._bound = False
        self._session_depth = 0
        #: The next run_forever runs only the loop's own idle cleanup: no guards needed.
        self._guardless_run = False

    # --- what the loop exposes ------------------------------------------------------------

    @property
    def seed(self) -> int | None:
        """The run's seed (``None`` for an unseeded ``Fifo`` run)."""
        return self._seed

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler that makes this loop's choices."""
        return self._scheduler

    @property
    def steps(self) -> int:
        """How many callbacks (task steps, timer callbacks...) have run so far."""
        return self._steps

    @property
    def trace(self) -> Trace:
        """A snapshot of the run so far: its schedule and, with ``record_events``, its events."""
        return Trace(
            choices=list(self._choices),
            options=list(self._options),
            steps=self._steps,
            start_time_ns=self._start_ns,
            end_time_ns=self._now_ns,
            seed=self._seed,
            scheduler=repr(self._run_scheduler),
            shuffle=self._shuffle,
            timer_jitter_ns=self._jitter_ns,
            hash_seed=hash_seed_description(),
            events=None if self._recorder is None else list(self._recorder.events),
            marks=dict(self._marks) or None,
        )

    def time(self) -> float:
        """The virtual time, in seconds."""
        return self._now_ns / NS_PER_SECOND

    def _set_scheduler(self, scheduler: Scheduler, *, cleanup: bool = False) -> None:
        """Make ``scheduler`` decide from now on. With ``cleanup``, only for the cleanup of a
        failed run (``Fifo``: the run's scheduler may not be able to answer any more), which
        the trace does not count as the run's scheduler."""
        if not cleanup:
            self._run_scheduler = scheduler
        self._scheduler = scheduler
        self._choose = scheduler.choose

    def add_instrument(self, instrument: Instrument, *, first: bool = False) -> None:
        """Attach an observer that is told about every step and choice (see ``Instrument``),
        from the next hook on; ``first=True`` puts it ahead of those already attached.

        Safe from inside an instrument's hook: the instruments being told about the current
        event are those attached when it happened (the list is replaced, never changed).
        """
        if first:
            self._instruments = [instrument, *self._instruments]
        else:
            self._instruments = [*self._instruments, instrument]

    def remove_instrument(self, instrument: Instrument) -> None:
        """Detach an observer attached with :meth:`add_instrument` (also from inside a hook,
        its own included: no other instrument misses the current event)."""
        remaining = [other for other in self._instruments if other is not instrument]
        if len(remaining) == len(self._instruments):
            msg = f"remove_instrument(): {instrument!r} is not attached to this loop"
            raise ValueError(msg)
        self._instruments = remaining

    # --- scheduling callbacks -------------------------------------------------------------

    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> events.Handle:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        handle: Any
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_soon")
            handle = self._handle_class(callback, args, self, context)
            if handle._source_traceback:
                del handle._source_traceback[-1]
        else:
            # What Handle.__init__ does, without its call overhead (see _stdlib.HANDLE_SLOTS).
            handle = _new_object(self._handle_class)
            handle._callback = callback
            handle._args = args
            handle._cancelled = False
            handle._loop = self
            handle._source_traceback = None
            handle._repr = None
            handle._context = _copy_context() if context is None else context
        if self._fifo:
            self._ready.append(handle)
        else:
            # Lanes mode: the handles a step schedules become its lane when the step ends.
            self._pending.append(handle)
        return handle  # type: ignore[no-any-return]

    def _call_soon(
        self, callback: Callable[..., object], args: Any, context: contextvars.Context | None
    ) -> events.Handle:
        # BaseEventLoop's internal entry point; some asyncio code paths call it directly.
        return self.call_soon(callback, *args, context=context)

    def _add_callback(self, handle: events.Handle) -> None:
        # Used by BaseEventLoop machinery with handles it made; lanes need our own handles.
        if not handle._cancelled:
            self.call_soon(_run_unless_cancelled, handle, context=_context_of(handle))

    def call_soon_threadsafe(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> events.Handle:
        owner = self._thread_id
        if owner is not None and owner != threading.get_ident():
            error = EscapedSimulationError(
                escape_message(
                    "loop.call_soon_threadsafe() from another thread",
                    "that thread runs outside simloop's control, and when its callback arrives "
                    "depends on real-world timing",
                    "Run the work with `asyncio.to_thread(...)` inside the simulation instead.",
                )
            )
            self._pending_errors.append(error)
            raise error
        self._check_closed()
        if self._debug:
            self._check_callback(callback, "call_soon_threadsafe")
        handle: Any = self.call_soon(callback, *args, context=context)
        if handle._source_traceback:
            del handle._source_traceback[-1]  # this frame: the handle was created by the caller
        return handle  # type: ignore[no-any-return]

    def call_later(  # type: ignore[override]
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> events.TimerHandle:
        if delay is None:
            raise TypeError("delay must not be None")
        kind = delay.__class__
        if kind is float or kind is int:
            try:
                delay_ns = round(delay * NS_PER_SECOND)
                if delay_ns / NS_PER_SECOND < delay:
                    delay_ns = seconds_to_ns(delay, name="delay")
            except (ValueError, OverflowError):
                delay_ns = seconds_to_ns(delay, name="delay")  # raises, or makes it NEVER_NS
        else:
            delay_ns = seconds_to_ns(delay, name="delay")
        when_ns = self._now_ns + delay_ns
        when = when_ns / NS_PER_SECOND if when_ns < NEVER_NS else math.inf
        return self._new_timer(when_ns, when, callback, args, context, True)

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> events.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        when_ns = seconds_to_ns(when, name="when")
        return self._new_timer(when_ns, when, callback, args, context, True)

    def _call_later_ns(self, delay_ns: int, callback: Callable[..., object], *args: Any) -> None:
        """An internal timer: exact, never jittered."""
        when_ns = self._now_ns + delay_ns
        self._new_timer(when_ns, when_ns / NS_PER_SECOND, callback, args, None, False)

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
        if jitter and self._jitter_step_ns and when_ns < NEVER_NS:
            self._choice_subject = timer
            when_ns += self._jitter_step_ns * self._make_choice(_JITTER, JITTER_LEVELS)
            self._choice_subject = None
        if when_ns > NEVER_NS:
            when_ns = NEVER_NS
        # One int key per timer: the deadline, then a sequence number that makes equal
        # deadlines FIFO (stock asyncio leaves their order undefined). Ints compare in C, and
        # one key costs less memory per sleeping task than a (deadline, sequence) pair.
        self._timer_sequence = sequence = self._timer_sequence + 1
        heappush(self._timers, ((when_ns << _SEQUENCE_BITS) | sequence, timer))
        timer._scheduled = True
        return timer  # type: ignore[no-any-return]

    def _timer_handle_cancelled(self, handle: Any) -> None:
        if handle._scheduled:
            self._timer_cancelled_count += 1

    # --- the run loop ---------------------------------------------------------------------

    def run_forever(self) -> None:
        if not self._bound:
            self._bound = True
            bind_scheduler(self._scheduler, self)
        # Limits count from the start of each run_forever/run_until_complete call, so the
        # cleanup run after a limit error has a budget of its own.
        if self._max_steps is not None:
            self._step_limit = self._steps + self._max_steps
        self._time_limit_ns = (
            NEVER_NS if self._max_time_ns is None else self._now_ns + self._max_time_ns
        )
        guarded = not self._guardless_run
        self._guardless_run = False
        if guarded:
            self._enter_session()
        try:
            for instrument in self._instruments:
                instrument.run_started(self)
            try:
                super().run_forever()
            finally:
                for instrument in self._instruments:
                    instrument.run_stopped(self)
        finally:
            if guarded:
                self._exit_session()

    def _enter_session(self) -> None:
        """Turn on the determinism guards (and lock tracking) for this thread; nests.

        ``run_forever`` opens a session for its duration. ``simloop.run`` opens one around the
        whole run, cleanup included, so the guards go on and off once rather than per call.
        """
        if self._session_depth == 0:
            self._guards.enter()
            if self._track_locks:
                _stdlib.start_tracking_lock_owners()
        self._session_depth += 1

    def _exit_session(self) -> None:
        """Close a session."""
        self._session_depth -= 1
        if self._session_depth == 0:
            try:
                if self._track_locks:
                    _stdlib.stop_tracking_lock_owners()
            finally:
                self._guards.exit()

    def run_until_complete(self, future: Coroutine[Any, Any, _T] | asyncio.Future[_T]) -> _T:  # type: ignore[override]
        self._check_closed()
        self._check_running()
        new_task = not asyncio.isfuture(future)
        guardless = new_task and self._is_idle_cleanup(future)
        task = asyncio.ensure_future(future, loop=self)
        if new_task:
            # An exception is raised if the future didn't complete, so there is no need to
            # log the "destroy pending task" message.
            task._log_destroy_pending = False  # type: ignore[attr-defined]
        task.add_done_callback(_stop_loop_when_done)
        outer_main = self._main_future
        self._main_future = task
        self._guardless_run = guardless
        try:
            self.run_forever()
        except BaseException as exc:
            if new_task and task.done() and not task.cancelled():
                # The coroutine raised a BaseException. Consume the exception to not log a
                # warning: the caller doesn't have access to the local task.
                task.exception()
            self._note_unhandled(exc)
            self._last_failure = exc
            raise
        finally:
            task.remove_done_callback(_stop_loop_when_done)
            self._main_future = outer_main
        if not task.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        try:
            result = task.result()
        except BaseException as exc:
            self._note_unhandled(exc)
            self._last_failure = exc
            raise
        self._raise_unhandled()
        self._last_failure = None
        return result

    def _is_idle_cleanup(self, coro: object) -> bool:
        """Whether ``coro`` is the loop's own ``shutdown_asyncgens()`` or
        ``shutdown_default_executor()`` (what ``asyncio.Runner`` runs after the main task)
        with nothing to do and nothing else that could run meanwhile: then no user code runs,
        and the determinism guards (a fifth of a fresh loop's cost) can stay off."""
        if getattr(coro, "cr_code", None) not in _IDLE_CLEANUP_CODES or self._asyncgens:
            return False
        timers = self._timers
        return not (
            self._ready_count()
            or self._pending
            or self._pending_errors
            or self._instruments
            or self._debug
            or (timers and timers[0][0] < (self._now_ns + 1) << _SEQUENCE_BITS)
        )

    def _run_once(self) -> None:
        """Run batches until ``stop()`` has been called (checked between batches).

        ``BaseEventLoop.run_forever`` calls this once per iteration and then checks
        ``_stopping``; running many iterations per call avoids its overhead per batch.
        """
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
                return

    def _idle_now(self) -> bool:
        """Whether nothing else is ready and no timer is due at the current virtual time
        (asked from inside a step: the running callback is not counted)."""
        timers = self._timers
        if timers and timers[0][0] < (self._now_ns + 1) << _SEQUENCE_BITS:
            return False
        # Not _ready_count(): inside a step, the batch runner keeps its counts in locals.
        if self._fifo:
            return not self._ready
        return not self._active and not self._pending

    def _ready_count(self) -> int:
        if self._fifo:
            return len(self._ready)
        return self._queued_total - self._steps + len(self._pending)

    def _flush_pending(self) -> None:
        """Turn the handles scheduled by the last step (or from outside the loop) into a lane."""
        pending = self._pending
        if pending:
            self._add_lane(pending)
            pending.clear()

    def _add_lane(self, handles: list[Any]) -> None:
        """Make ``handles`` a new lane, in this order (with ``shuffle``: a lane each)."""
        self._queued_total += len(handles)
        if self._shuffle:
            for handle in handles:
                handle._next = None
                self._open_lane(handle)
            return
        previous = handles[0]
        self._open_lane(previous)
        for handle in handles[1:]:
            previous._next = handle
            previous = handle
        previous._next = None

    def _open_lane(self, first: Any) -> None:
        """Make ``first`` (its ``_next`` already set) the first handle of the youngest lane."""
        first._pos = len(self._active)
        self._active.append(first)
        first._younger = None
        first._older = youngest = self._youngest
        if youngest is None:
            self._oldest = first
        else:
            youngest._younger = first
        self._youngest = first

    def _start_batch(self) -> int:
        """The work between two batches; returns how many callbacks the next batch runs."""
        if self._pending_errors:
            raise self._pending_errors.pop(0)
        if self._pending:
            self._flush_pending()  # scheduled from outside the loop, before the due timers
        timers = self._timers
        if timers and timers[0][0] < (self._now_ns + 1) << _SEQUENCE_BITS:
            self._collect_due_timers()
        ntodo = self._ready_count()
        if not ntodo and not self._stopping:
            self._advance_clock()
            ntodo = self._ready_count()
        if ntodo and self._now_ns > self._time_limit_ns:
            raise self._limit_error(TimeLimitError)
        return ntodo

    def _batch_boundary_needs_work(self) -> bool:
        """Whether the next batch must go through :meth:`_start_batch` first."""
        timers = self._timers
        return bool(
            self._stopping
            or (timers and timers[0][0] < (self._now_ns + 1) << _SEQUENCE_BITS)
            or self._pending_errors
            or self._instruments
            or self._now_ns > self._time_limit_ns
        )

    def _run_batches_fifo(self, ntodo: int) -> None:
        """Run batches in stock order for as long as no batch boundary needs work."""
        ready = self._ready
        popleft = ready.popleft
        steps = self._steps
        limit = self._step_limit
        done = 0
        try:
            while True:
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
                    if self._batch_boundary_needs_work():
                        return
                elif not self._advance_clock_inline():
                    return
                ntodo = len(ready)
        finally:
            self._steps = steps + done
            handle = None  # break reference cycles through a failed callback

    def _simple_next_instant(self) -> int | None:
        """Nothing is ready: the time of the next timer if moving the clock there is all the
        batch boundary has to do (no stop, error, instrument, cancelled timer or limit to deal
        with), else None."""
        timers = self._timers
        if (
            not timers
            or self._stopping
            or self._pending_errors
            or self._instruments
            or self._timer_cancelled_count > _MIN_CANCELLED_TO_COMPACT
        ):
            return None
        key, timer = timers[0]
        when: int = key >> _SEQUENCE_BITS
        if timer._cancelled or when >= NEVER_NS or when > self._time_limit_ns:
            return None
        return when

    def _advance_clock_inline(self) -> bool:
        """Nothing is ready: in Fifo mode, move the clock to the next timer if that is all the
        batch boundary has to do, and return True; else return False for the full treatment.
        """
        when = self._simple_next_instant()
        if when is None:
            return False
        timers = self._timers
        if when > self._now_ns:
            self._now_ns = when
        bound = (when + 1) << _SEQUENCE_BITS
        ready = self._ready
        while timers and timers[0][0] < bound:
            timer = heappop(timers)[1]
            timer._scheduled = False
            if timer._cancelled:
                self._timer_cancelled_count -= 1
            else:
                ready.append(timer)
        return True

    def _lone_next_timer(self) -> Any:
        """Nothing is ready: if the batch boundary has nothing to do but move the clock to the
        next timer, and no other timer is due at that instant (no tie to choose), move it and
        return that timer, taken off the heap; else None, for the full treatment.
        """
        when = self._simple_next_instant()
        if when is None:
            return None
        # The heap's second smallest entry is at index 1 or 2.
        timers = self._timers
        bound = (when + 1) << _SEQUENCE_BITS
        n = len(timers)
        if (n > 1 and timers[1][0] < bound) or (n > 2 and timers[2][0] < bound):
            return None
        timer = heappop(timers)[1]
        timer._scheduled = False
        if when > self._now_ns:
            self._now_ns = when
        return timer

    def _run_batches_chosen(self, ntodo: int) -> None:
        """Run batches, the scheduler choosing each callback, while no boundary needs work.

        The bodies of :meth:`_take` and :meth:`_flush_pending`, inlined: this loop is where a
        seeded run spends its time, so everything it touches is a local.
        """
        active = self._active
        oldest = self._oldest
        youngest = self._youngest
        pending = self._pending
        shuffle = self._shuffle
        choose = self._choose
        # RandomWalk's choose() is one random() call; make it inline rather than through a
        # method call, which would cost as much as the rest of the choice.
        scheduler = self._scheduler
        random = scheduler._random if type(scheduler) is RandomWalk else None
        record_choice = self._choices.append
        record_options = self._options.append
        steps = self._steps
        limit = self._step_limit
        queued = self._queued_total
        done = 0
        try:
            while True:
                over = 0 <= limit < steps + ntodo
                if over:
                    ntodo = max(0, limit - steps)
                for done in range(1, ntodo + 1):
                    k = len(active)
                    if k == 1:
                        handle = active[0]
                    else:
                        if random is not None:
                            c = int(random() * k)
                        else:
                            # The scheduler may look at the options (option_handles).
                            self._oldest = oldest
                            self._youngest = youngest
                            try:
                                c = choose(_READY, k)
                                if c.__class__ is not int or not 0 <= c < k:
                                    self._bad_choice(_READY, c, k)
                            except BaseException:
                                done -= 1  # the step being chosen never ran
                                raise
                        record_choice(c)
                        record_options(k)
                        # Option 0 is stock asyncio's next callback; the lane at its place in
                        # _active takes option 0's place, so options map one-to-one to lanes.
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
                    if self._batch_boundary_needs_work():
                        return
                else:
                    # Nothing is ready. The common case, one timer due at the next instant,
                    # is handled here: the clock moves and the timer is the only lane.
                    timer = self._lone_next_timer()
                    if timer is None:
                        return
                    timer._next = timer._older = timer._younger = None
                    timer._pos = 0
                    active.append(timer)
                    oldest = youngest = timer
                    queued += 1
                ntodo = queued - steps
        finally:
            self._steps = steps + done
            self._queued_total = queued
            self._oldest = oldest
            self._youngest = youngest
            self._flush_pending()  # a step that raised out of the loop may have left some
            handle = None  # break reference cycles through a failed callback

    def _run_batch_observed(self, ntodo: int) -> None:
        """One batch for any scheduler, telling instruments about each step; debug mode too."""
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
                if handle._cancelled:
                    continue
                for instrument in self._instruments:
                    instrument.step_started(self, index, handle, choice, options, stock)
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
                        self._flush_pending()
                for instrument in self._instruments:
                    instrument.step_finished(self, index, handle)
        finally:
            # The traceback of an exception raised in a callback keeps this frame alive (as the
            # f_back of the callback's frames), with the handle in it, and so its task and the
            # task's exception. Stock asyncio drops the handle (as Handle._run drops `self`),
            # so an unretrieved exception is logged as soon as its task is unreachable.
            handle = stock = None
        if over:
            raise self._limit_error(StepLimitError)

    def _take(self) -> tuple[events.Handle, int, int, events.Handle]:
        """Take the next callback to run.

        Returns (handle, choice made, number of options, the handle stock asyncio would have
        run: the same one unless the choice deviates).
        """
        if self._fifo:
            handle = self._ready.popleft()
            return handle, 0, 1, handle
        active = self._active
        k = len(active)
        c = 0
        if k == 1:
            handle = stock = active[0]
        else:
            c = self._make_choice(_READY, k)
            stock = self._oldest
            if c == 0:
                handle = stock
            else:
                handle = active[c]
                if handle is stock:
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
            after_older = before_younger = successor
        else:
            last = active.pop()
            if last is not handle:
                active[pos] = last
                last._pos = pos
            after_older, before_younger = younger, older
        if older is None:
            self._oldest = after_older
        else:
            older._younger = after_older
        if younger is None:
            self._youngest = before_younger
        else:
            younger._older = before_younger
        return handle, c, k, stock

    def option_handles(self, kind: ChoiceKind) -> list[events.Handle]:
        """What each option of the choice being made would run, in option order.

        For schedulers that look before they choose (PCT, exhaustive search), and only while
        the loop is asking them: for ``READY``, the first callback of each ready lane; for
        ``TIMER_TIE``, the tied timers. Costs O(options).
        """
        if kind == _TIMER_TIE:
            return list(self._tie_group)
        if kind != _READY or self._fifo:
            return []
        active = self._active
        first = self._oldest
        if first is None:
            return []
        return [first] + [
            active[0] if active[c] is first else active[c] for c in range(1, len(active))
        ]

    def stock_option_handle(self, kind: ChoiceKind) -> events.Handle | None:
        """What option 0 (stock asyncio's order) of the choice being made would run, like
        ``option_handles(kind)[0]`` in O(1); None if the choice has no callbacks to name."""
        if kind == _TIMER_TIE:
            return self._tie_group[0] if self._tie_group else None
        if kind != _READY or self._fifo:
            return None
        first: events.Handle | None = self._oldest
        return first

    def _ready_handles(self) -> Iterator[events.Handle]:
        """Every ready callback (for reports), lane by lane."""
        if self._fifo:
            yield from self._ready
            return
        for head in self._active:
            handle: _LaneHandle | None = head
            while handle is not None:
                yield handle
                handle = handle._next
        yield from self._pending

    def _make_choice(self, kind: ChoiceKind, n: int) -> int:
        """Ask the scheduler, check and record its answer (not used on the hot path)."""
        c = self._choose(kind, n)
        if c.__class__ is not int or not 0 <= c < n:
            self._bad_choice(kind, c, n)
        self._choices.append(c)
        self._options.append(n)
        for instrument in self._instruments:
            instrument.choice_made(self, kind, n, c)
        return c

    def _bad_choice(self, kind: ChoiceKind, c: object, n: int) -> None:
        msg = (
            f"scheduler {self._scheduler!r} answered {c!r} to a {kind.name} choice among {n} "
            f"options; it must answer an int in range({n})"
        )
        raise InvalidArgumentError(msg)

    def _collect_due_timers(self) -> None:
        """Move every timer due at the current time into the ready callbacks.

        In lanes mode the due timers form one new lane (with ``shuffle``, one lane each);
        which of several timers with the same deadline comes first is a choice, option 0
        being the order they were scheduled in.
        """
        timers = self._timers
        if (
            self._timer_cancelled_count > _MIN_CANCELLED_TO_COMPACT
            and self._timer_cancelled_count * 2 > len(timers)
        ):
            self._compact_timers()
        bound = (self._now_ns + 1) << _SEQUENCE_BITS
        due: list[tuple[int, events.TimerHandle]] = []
        while timers and timers[0][0] < bound:
            entry = heappop(timers)
            timer = entry[1]
            timer._scheduled = False
            if timer._cancelled:
                self._timer_cancelled_count -= 1
                continue
            due.append(entry)
        if not due:
            return
        if self._fifo:
            self._ready.extend(entry[1] for entry in due)
            return
        ordered: list[Any] = []
        if self._shuffle:
            # The READY choice can already put these in any order; a tie choice would only
            # produce the same schedules twice.
            ordered = [entry[1] for entry in due]
        else:
            i = 0
            while i < len(due):
                deadline = due[i][0] >> _SEQUENCE_BITS
                j = i + 1
                while j < len(due) and due[j][0] >> _SEQUENCE_BITS == deadline:
                    j += 1
                group = [entry[1] for entry in due[i:j]]
                while len(group) > 1:
                    self._tie_group = group
                    ordered.append(group.pop(self._make_choice(_TIMER_TIE, len(group))))
                self._tie_group = []
                ordered.append(group[0])
                i = j
        # A lane of their own, as if scheduled by one step between batches.
        self._flush_pending()
        self._add_lane(ordered)

    def _compact_timers(self) -> None:
        live = []
        for entry in self._timers:
            if entry[1]._cancelled:
                entry[1]._scheduled = False
            else:
                live.append(entry)
        heapq.heapify(live)
        self._timers[:] = live
        self._timer_cancelled_count = 0

    def _advance_clock(self) -> None:
        """Nothing is ready: jump to the next timer, or report why the run cannot go on."""
        timers = self._timers
        while timers and timers[0][1]._cancelled:
            heappop(timers)[1]._scheduled = False
            self._timer_cancelled_count -= 1
        if not timers or timers[0][0] >> _SEQUENCE_BITS >= NEVER_NS:
            raise self._deadlock_error()
        when = timers[0][0] >> _SEQUENCE_BITS
        if when > self._time_limit_ns:
            raise self._limit_error(TimeLimitError, next_timer_ns=when)
        if when > self._now_ns:
            old = self._now_ns
            self._now_ns = when
            for instrument in self._instruments:
                instrument.clock_advanced(self, old, when)
        self._collect_due_timers()

    # --- time that passes inside a step (time.sleep, executor jobs) -------------------------

    def _block_for(self, ns: int) -> bool:
        """``time.sleep`` inside the loop: True if an executor job absorbed the time."""
        if self._job is not None:
            self._job.elapsed_ns += ns
            return True
        self._now_ns += ns
        return False

    def _blocking_offset_ns(self) -> int:
        return 0 if self._job is None else self._job.elapsed_ns

    # --- failures ---------------------------------------------------------------------------

    def _deadlock_error(self) -> DeadlockError:
        from simloop._diagnosis import deadlock_error

        return deadlock_error(self, self._main_future)

    def _limit_error(
        self, kind: type[StepLimitError] | type[TimeLimitError], next_timer_ns: int | None = None
    ) -> StepLimitError | TimeLimitError:
        from simloop._diagnosis import describe_tasks, format_task_reports

        reports = describe_tasks(self)
        if kind is StepLimitError:
            head = (
                f"step limit reached: {self._max_steps} steps ran without the run finishing "
                f"(virtual time {format_seconds(self._now_ns)}). A livelock (tasks that keep "
                "waking each other) looks like this; if the program really needs more steps, "
                "raise max_steps."
            )
        else:
            assert self._max_time_ns is not None
            when = self._now_ns if next_timer_ns is None else next_timer_ns
            head = (
                f"time limit reached: the run would advance virtual time to "
                f"{format_seconds(when)}, past max_time={format_seconds(self._max_time_ns)}. "
                "A task that waits or retries forever looks like this; if the program really "
                "needs more virtual time, raise max_time."
            )
        return kind(head + format_task_reports(reports), reports)

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        # Record while running, to raise at the end of run_until_complete; once the loop has
        # stopped nobody would raise it, so log it as stock asyncio does.
        if (
            self._fail_on_unhandled
            and context.get("exception") is not None
            and self._thread_id is not None
        ):
            self._unhandled.append(context)
            return
        super().default_exception_handler(context)

    def _collect_unhandled(self, *, final: bool) -> list[BaseException]:
        """Exceptions nobody retrieved, each with a note saying where it came from.

        Two sources. What reached the default exception handler (a failing callback, a task
        collected with its exception unretrieved) is certain. A finished task that still holds
        an unretrieved exception may yet be retrieved: its done-callbacks (a ``gather``
        collecting results, say) may not have run when the loop stopped, and stock asyncio
        runs them in the cleanup that follows. Such a task is a suspect until the end of the
        next run of the loop, or until ``final`` (the loop will not run again). A task whose
        done-callbacks are still ready is never judged: see below.
        """
        if not self._fail_on_unhandled:
            return []
        found: list[BaseException] = []
        for context in self._unhandled:
            exc = context["exception"]
            message = context.get("message") or "unhandled exception"
            source = context.get("task") or context.get("future")
            if isinstance(source, asyncio.Task):
                message = f"from task {source.get_name()!r} ({message[:1].lower()}{message[1:]})"
            exc.add_note(f"simloop: {message}")
            found.append(exc)
        self._unhandled.clear()
        earlier = self._suspects
        self._suspects = []
        awaited: set[int] | None = None
        for task in _stdlib.tasks_of_loop(self, _stdlib.holds_unretrieved_exception):
            if task is self._main_future:
                continue
            if awaited is None:
                # Tasks whose done-callbacks are still ready: the scheduler let the loop's
                # stop overtake them, which stock asyncio never does (a ready callback runs
                # ahead of everything scheduled after it). They are not judged on that.
                awaited = {
                    id(argument)
                    for handle in self._ready_handles()
                    if not handle._cancelled
                    for argument in _stdlib.arguments_of(handle)[:1]
                }
            if id(task) in awaited:
                if not final:
                    self._suspects.append(task)
                continue
            if not final and not any(task is t for t in earlier):
                self._suspects.append(task)
                continue
            exc = task.exception()
            _stdlib.mark_exception_retrieved(task)
            if exc is not None:
                exc.add_note(f"simloop: from task {task.get_name()!r} (exception never retrieved)")
                found.append(exc)
        return found

    def _raise_unhandled(self, *, final: bool = False) -> None:
        """Fail with the exceptions nobody retrieved; while another exception is being handled,
        or after a run failed (a cleanup), add them to that one as notes instead of hiding it."""
        found = self._collect_unhandled(final=final)
        if not found:
            return
        # A cleanup after a failure (asyncio.Runner's, which runs in __exit__ where
        # sys.exc_info() is empty) must not replace the failure.
        handling = sys.exc_info()[1] or self._last_failure
        if handling is not None:
            for exc in found:
                handling.add_note(f"simloop: also unhandled during this run: {exc!r}")
            return
        summary = "; ".join(_origin(e) for e in found)
        count = "1 exception" if len(found) == 1 else f"{len(found)} exceptions"
        msg = (
            f"{count} nobody retrieved: {summary}. A crash in a background task or a callback "
            "is only logged by asyncio; simloop fails the run (fail_on_unhandled=False to "
            "only log)."
        )
        raise UnhandledExceptionsError(msg, [_as_exception(e) for e in found])

    def _note_unhandled(self, exc: BaseException) -> None:
        for other in self._collect_unhandled(final=False):
            if other is not exc:
                exc.add_note(f"simloop: also unhandled during this run: {other!r}")

    # --- tasks and executors -----------------------------------------------------------------

    def create_task(  # type: ignore[override]
        self,
        coro: Coroutine[Any, Any, _T] | Generator[Any, None, _T],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
        **kwargs: Any,
    ) -> asyncio.Task[_T]:
        self._check_closed()
        factory = self._task_factory
        if factory is None:
            # Our Task names itself "Task-<number in this loop>" unless given a name: stock
            # asyncio numbers tasks across the whole process, so names would differ by run.
            task: asyncio.Task[_T] = Task(coro, loop=self, name=name, context=context, **kwargs)
            if task._source_traceback:  # type: ignore[attr-defined]
                del task._source_traceback[-1]  # type: ignore[attr-defined]
            return task
        if factory is STOCK_EAGER_FACTORY:
            assert EAGER_FACTORY is not None
            return EAGER_FACTORY(self, coro, name=name, context=context, **kwargs)  # type: ignore[no-any-return]
        if context is None:
            task = factory(self, coro, **kwargs)
        else:
            task = factory(self, coro, context=context, **kwargs)
        # As stock asyncio: a name given here overrides the factory's; without one, the task
        # keeps the name its factory chose, unless that is the process-wide default.
        if name is not None:
            task.set_name(name)
        elif not isinstance(task, Task) and _DEFAULT_TASK_NAME.fullmatch(
            str(getattr(task, "get_name", str)())  # a duck-typed task may have no get_name
        ):
            self._task_keys += 1
            task.set_name(f"Task-{self._task_keys}")
        return task

    def _next_task_key(self) -> int:
        self._task_keys += 1
        return self._task_keys

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        """Run ``func(*args)`` as if in a worker thread, but in the loop's thread.

        The function runs as a step of its own, which the scheduler places among the other
        ready callbacks; no real thread is started, whatever ``executor`` is.
        """
        self._check_closed()
        if self._debug:
            self._check_callback(func, "run_in_executor")
        if executor is None:
            self._check_default_executor()
        future = self.create_future()
        job = ExecutorJob(self, future, func, args)
        # A timer due now: the job joins the ready callbacks at the next batch, in a lane of
        # its own, as a worker thread's result would arrive from outside the current step.
        self._call_later_ns(0, job.run)
        return future

    def set_default_executor(self, executor: Any) -> None:
        # Kept for API compatibility only: executor calls never use a real executor. It still
        # refuses what stock asyncio refuses.
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor instance")
        self._simulated_executor = executor

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        self._executor_shutdown_called = True

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        try:
            self._raise_unhandled(final=True)
        finally:
            super().close()
            self._active.clear()
            self._oldest = self._youngest = None
            self._pending.clear()
            self._timers.clear()

    # --- there is no I/O in a simulation (the rest is in NoRealIO) ------------------------------

    def _process_events(self, event_list: Any) -> None:
        pass

    def _write_to_self(self) -> None:
        pass


#: The code of the cleanups :meth:`SimLoop._is_idle_cleanup` recognises.
_IDLE_CLEANUP_CODES = (
    asyncio.BaseEventLoop.shutdown_asyncgens.__code__,
    SimLoop.shutdown_default_executor.__code__,
)


def _stop_loop_when_done(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and isinstance(future.exception(), (SystemExit, KeyboardInterrupt)):
        # The exception already propagated out of run_forever(): nothing to stop.
        return
    future.get_loop().stop()


def _context_of(handle: Any) -> contextvars.Context:
    context: contextvars.Context = handle._context
    return context


def _run_unless_cancelled(handle: events.Handle) -> None:
    if not handle._cancelled:
        handle._run()


def _origin(exc: BaseException) -> str:
    notes = [n for n in getattr(exc, "__notes__", ()) if n.startswith("simloop: ")]
    where = notes[-1].removeprefix("simloop: ") if notes else "unhandled"
    return f"{exc!r} ({where})"


def _as_exception(exc: BaseException) -> Exception:
    if isinstance(exc, Exception):
        return exc
    wrapped = RuntimeError(f"a background task raised {exc!r}")
    wrapped.__cause__ = exc
    return wrapped
