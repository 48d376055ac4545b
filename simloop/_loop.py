"""SimLoop: an asyncio event loop with virtual time, where a scheduler makes every decision.

:class:`SimLoop` is asyncio's interface on top of the kernel (:mod:`simloop._kernel`), which
runs the steps: scheduling callbacks and timers, creating tasks, running executor jobs as steps
of their own, and ``run_until_complete``/``run_forever`` with their limits and determinism
guards. Its policies are here too: what happens to exceptions nobody retrieved
(:mod:`simloop._unhandled`), the guard sessions (:mod:`simloop._guards`), and the options it
takes (:class:`~simloop.lowlevel.LoopOptions`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import gc
import math
import re
import sys
import threading
from asyncio import events
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, TypeVar

from simloop import _stdlib
from simloop._clock import NEVER_NS, NS_PER_SECOND, seconds_to_ns
from simloop._errors import (
    EscapedSimulationError,
    ExtensionError,
    InvalidArgumentError,
    ReplayDivergenceError,
    StepLimitError,
    TimeLimitError,
)
from simloop._executor import SimulatedExecutor
from simloop._guards import RunGuards, escape_message
from simloop._kernel import Kernel
from simloop._noio import NoRealIO
from simloop._options import LoopOptions
from simloop._scheduling import scheduler_for
from simloop._tasks import EAGER_FACTORY, STOCK_EAGER_FACTORY, Task
from simloop._timers import SEQUENCE_BITS
from simloop._unhandled import UnhandledPolicy

_T = TypeVar("_T")

#: The name stock asyncio gives a task created without one (numbered process-wide).
_DEFAULT_TASK_NAME = re.compile(r"Task-\d+")

_new_object = object.__new__
_copy_context = contextvars.copy_context


# NoRealIO's methods all raise, so their signatures are looser than AbstractEventLoop's.
class SimLoop(NoRealIO, Kernel):  # type: ignore[misc]
    """An asyncio event loop with virtual time, where a scheduler makes every decision.

    Takes the options of :class:`simloop.lowlevel.LoopOptions` as keyword arguments (or
    ``options=``, a ``LoopOptions``, with keyword arguments overriding it):

    Args:
        seed: Seeds the run. Without ``scheduler``, an int seed means ``RandomWalk(seed)``
            and ``None`` means ``Fifo`` (stock asyncio's order). It also seeds ``random``,
            ``os.urandom`` and ``uuid`` inside the run (``None`` seeds them with the
            scheduler's ``seed`` if it declares one, else 0).
        scheduler: Decides every choice point; overrides the default chosen from ``seed``.
        start_time: The virtual time (seconds) ``loop.time()`` reads when the loop starts.
        max_steps: Each ``run_until_complete``/``run_forever`` call may run at most this many
            callbacks, then raises :class:`~simloop.StepLimitError` (livelock protection).
            ``None`` for no limit.
        max_time: Each call may advance virtual time by at most this many seconds, then
            raises :class:`~simloop.TimeLimitError`. ``None`` (the default) for no limit.
        timer_jitter: If positive, the loop may wake up late for its timers, by up to this
            many seconds (a choice each time the clock moves; option 0: on time), to model a
            busy real loop. Timers due by then fire in deadline order.
        sleep_jitter: If positive, every ``asyncio.sleep`` may last up to this many seconds
            longer (a choice per sleep; option 0: as asked), to model an operation that takes
            longer; such a sleep may end after a timer due later.
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
            loop starts a thread or a subprocess, connects or binds a real socket, or installs
            a signal handler. (The loop's own network methods run on the simulated network,
            :mod:`simloop.net`, whatever this says.)
        fail_on_unhandled: Raise :class:`~simloop.UnhandledExceptionsError` at the end of
            ``run_until_complete`` for exceptions nobody retrieved (crashed background tasks,
            failing callbacks, errors reported to the exception handler), instead of logging
            them as asyncio does. ``None`` (the default): ``True`` when simloop's harness runs
            the loop (:func:`simloop.run`, :func:`~simloop.explore`, the pytest marker and
            fixture), ``False`` for a bare loop handed to another runner.
        warn: Warn about calls that behave differently in virtual time (``time.sleep`` in a
            coroutine, a clock or a wait that is still real). ``None`` (the default): as for
            ``fail_on_unhandled``; a bare loop stays as quiet as asyncio's own.
        track_locks: Record which task holds each ``asyncio.Lock``, for deadlock reports.
        epoch: The wall-clock time ``time.time()`` reads at virtual time 0.
        instruments: Observers to attach from the start (see :class:`~simloop.Instrument`).
    """

    if TYPE_CHECKING:
        # BaseEventLoop's protected members that a subclass uses; typeshed leaves them out.
        _thread_id: int | None
        _task_factory: Any
        _executor_shutdown_called: bool

        def _check_closed(self) -> None: ...
        def _check_running(self) -> None: ...
        def _check_default_executor(self) -> None: ...

    # Until BaseEventLoop.__init__ has run, a loop that rejected its arguments must look closed
    # to BaseEventLoop.__del__ (which would otherwise complain when it is collected), and have
    # what its repr reads: class attributes, so that this holds even when the call itself
    # fails, before __init__ runs.
    _closed = True
    _thread_id = None
    _debug = False

    def __init__(self, *, options: LoopOptions | None = None, **kwargs: Any) -> None:
        opts = LoopOptions.build(options, **kwargs)
        scheduler = scheduler_for(opts.seed, opts.scheduler)
        seed = opts.seed
        if seed is None:
            declared = getattr(scheduler, "seed", None)
            if isinstance(declared, int) and not isinstance(declared, bool):
                seed = declared
        Kernel.__init__(self, opts, scheduler, seed)
        self._unhandled = UnhandledPolicy(enabled=opts.fail_on_unhandled is True)
        #: time.sleep() calls in the current run_forever call (they count towards max_steps).
        self._blocking_sleeps = 0
        self._task_keys = 0
        #: The order async generators started in, by id (see shutdown_asyncgens): an entry
        #: outlives its generator only until the id is reused, which overwrites it.
        self._asyncgen_numbers: dict[int, int] = {}
        self._asyncgens_started = 0
        #: Async generators the garbage collector freed while open, kept for shutdown.
        self._collected_asyncgens: list[Any] = []
        self._executor = SimulatedExecutor(self, self._call_later_ns)
        self._guards = RunGuards(
            seed=0 if seed is None else seed,
            patch_time=opts.patch_time,
            patch_random=opts.patch_random,
            forbid_escapes=opts.forbid_escapes,
            track_locks=opts.track_locks,
            epoch_ns=self._epoch_ns,
            clock_ns=self._clock_in_step_ns,
            block=self._block_for,
            warn=opts.warn is True,
        )
        self._bound = False
        self._finished = False
        #: The next run_forever runs only the loop's own idle cleanup: no guards needed.
        self._guardless_run = False

    # --- what the loop exposes ------------------------------------------------------------

    @property
    def options(self) -> LoopOptions:
        """The options the loop was made with."""
        return self._options

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
            self._lanes.pending.append(handle)
        return handle  # type: ignore[no-any-return]

    def _call_soon(
        self, callback: Callable[..., object], args: Any, context: contextvars.Context | None
    ) -> events.Handle:
        # BaseEventLoop's internal entry point; some asyncio code paths call it directly.
        return self.call_soon(callback, *args, context=context)

    def _add_callback(self, handle: events.Handle) -> None:
        # Used by BaseEventLoop machinery with handles it made; lanes need our own handles.
        if not _stdlib.is_cancelled(handle):
            self.call_soon(_run_unless_cancelled, handle, context=_stdlib.context_of(handle))

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
        if self._time_replaced:
            # As stock asyncio: the deadline is the replaced clock's reading plus the delay.
            return self.call_at(self.time() + delay, callback, *args, context=context)
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

    # --- running --------------------------------------------------------------------------

    def run_forever(self) -> None:
        if not self._bound:
            self._bound = True
            self._call_scheduler_hook("bind")
        # Limits count from the start of each run_forever/run_until_complete call, so the
        # cleanup run after a limit error has a budget of its own.
        if self._max_steps is not None:
            self._step_limit = self._steps + self._max_steps
        self._blocking_sleeps = 0
        self._set_time_limit(
            NEVER_NS if self._max_time_ns is None else self._now_ns + self._max_time_ns
        )
        guarded = not self._guardless_run
        self._guardless_run = False
        if guarded:
            self._guards.enter()
        try:
            try:
                self._tell_instruments("run_started")
                try:
                    super().run_forever()
                finally:
                    self._tell_instruments("run_stopped")
            except BaseException as exc:
                # A scheduler or instrument that broke its contract ends the run with that,
                # whatever the step that met it did with the error.
                error = self._take_extension_error()
                if error is not None and error is not exc:
                    raise error  # its cause is the extension's own exception
                raise
            error = self._take_extension_error()
            if error is not None:
                raise error
        finally:
            if guarded:
                self._guards.exit()

    def _tell_instruments(self, hook: str) -> None:
        """Call ``run_started`` or ``run_stopped`` on every instrument."""
        try:
            for instrument in self._instruments:
                getattr(instrument, hook)(self)
        except Exception as exc:
            self._check_hook_error(instrument, hook, exc)
            raise

    def _call_scheduler_hook(self, hook: str) -> None:
        """Call the scheduler's optional ``bind(loop)`` or ``finish(loop)``. A replay's
        divergence is the run's outcome; any other exception, a bug in the scheduler."""
        method = getattr(self._scheduler, hook, None)
        if method is None:
            return
        try:
            method(self)
        except (ReplayDivergenceError, ExtensionError):
            raise
        except Exception as exc:
            msg = (
                f"scheduler {self._scheduler!r} raised {type(exc).__name__}: {exc} in its "
                f"{hook}(loop) hook; that is a bug in the scheduler, not a failure of the program"
            )
            raise ExtensionError(msg) from exc

    def _finish_run(self, *, check: bool = True) -> None:
        """The run is over: let the scheduler check it did what it expected (a strict
        ``Replay`` that was not followed to its end raises ``ReplayDivergenceError``).
        Once per loop, and only if it ran; never with ``check=False``."""
        # No line here runs only when a run fails: Hypothesis's explain phase would list it
        # in the reports of failing tests.
        check = check and self._bound and not self._finished
        self._finished = True
        if check:
            self._call_scheduler_hook("finish")

    def run_until_complete(self, future: Coroutine[Any, Any, _T] | asyncio.Future[_T]) -> _T:  # type: ignore[override]
        self._check_closed()
        self._check_running()
        new_task = not asyncio.isfuture(future)
        guardless = new_task and self._is_idle_cleanup(future)
        task = asyncio.ensure_future(future, loop=self)
        if new_task:
            # An exception is raised if the future didn't complete, so there is no need to
            # log the "destroy pending task" message.
            _stdlib.silence_pending_destroy(task)
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
            raise
        self._raise_unhandled()
        self._unhandled.last_failure = None
        return result

    def _is_idle_cleanup(self, coro: object) -> bool:
        """Whether ``coro`` is the loop's own ``shutdown_asyncgens()`` or
        ``shutdown_default_executor()`` (what ``asyncio.Runner`` runs after the main task)
        with nothing to do and nothing else that could run meanwhile: then no user code runs,
        and the determinism guards (a fifth of a fresh loop's cost) can stay off."""
        if getattr(coro, "cr_code", None) not in _IDLE_CLEANUP_CODES:
            return False
        heap = self._timers.heap
        return not (
            self._ready_count()
            or self._lanes.pending
            or self._pending_errors
            or self._instruments
            or self._debug
            or (heap and heap[0][0] < (self._now_ns + 1) << SEQUENCE_BITS)
            or _stdlib.has_async_generators(self)
        )

    # --- time that passes inside a step (time.sleep, executor jobs) -------------------------

    def _block_for(self, ns: int) -> bool:
        """``time.sleep`` inside the loop: True if an executor job absorbed the time.

        The limits hold inside a step too: a coroutine polling with ``time.sleep`` (which no
        other task can interrupt) would otherwise run forever. Past a limit, the sleep raises
        the limit's error at its call site, and the run ends at the next batch boundary even
        if the program catches it.
        """
        absorbed = self._executor.block(ns)
        if not absorbed:
            self._now_ns += ns
        self._blocking_sleeps += 1
        error: StepLimitError | TimeLimitError | None = None
        if self._now_ns + self._executor.offset_ns() > self._limit_ns:
            error = self._limit_error(TimeLimitError)
        elif self._max_steps is not None and self._blocking_sleeps > self._max_steps:
            error = self._limit_error(StepLimitError, blocking_sleeps=self._blocking_sleeps)
        if error is not None:
            self._pending_errors.append(error)
            raise error
        return absorbed

    def _clock_in_step_ns(self) -> int:
        """The time the clocks read inside a step: an executor job's is ahead of the loop's
        by what it spent in ``time.sleep``."""
        return self._now_ns + self._executor.offset_ns()

    # --- failures ---------------------------------------------------------------------------

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        # Record while the loop is open, to judge at the end of run_until_complete (or of the
        # run); once it is closed nobody would raise it, so log it as stock asyncio does.
        if not self._unhandled.record(context, open=not self._closed):
            super().default_exception_handler(context)

    def _collect_unhandled(self, *, final: bool) -> list[BaseException]:
        return self._unhandled.collect(
            self, final=final, main=self._main_future, ready_handles=self._ready_handles
        )

    def _raise_unhandled(self, *, final: bool = False) -> None:
        """Fail with the exceptions nobody retrieved (see :mod:`simloop._unhandled`)."""
        policy = self._unhandled
        if policy.enabled:
            if final and policy.judged_clean_at == self._steps and policy.nothing_recorded():
                # A final look found nothing, and nothing has run or been reported since
                # (close() after the harness's own final look): it would find nothing again.
                return
            found = policy.collect(
                self, final=final, main=self._main_future, ready_handles=self._ready_handles
            )
            if found:
                policy.raise_found(found)
            elif final:
                policy.judged_clean_at = self._steps

    def _note_unhandled(self, exc: BaseException) -> None:
        self._unhandled.last_failure = exc
        self._unhandled.note_on(exc, self._collect_unhandled(final=False))

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
            if self._debug:
                _stdlib.drop_last_source_frame(task)
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
        return self._executor.submit(func, args)

    def set_default_executor(self, executor: Any) -> None:
        # Kept for API compatibility only: executor calls never use a real executor. It still
        # refuses what stock asyncio refuses.
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor instance")
        self._executor.configured = executor

    # --- async generators -------------------------------------------------------------------

    def _asyncgen_firstiter_hook(self, agen: Any) -> None:
        super()._asyncgen_firstiter_hook(agen)  # type: ignore[misc]
        self._asyncgens_started += 1
        self._asyncgen_numbers[id(agen)] = self._asyncgens_started

    def _asyncgen_finalizer_hook(self, agen: Any) -> None:
        # An open async generator that is freed: stock asyncio schedules its aclose() at
        # once. Freed by its last reference going away, that moment is part of the run, and
        # so it is here; freed by the garbage collector (it was in a reference cycle), the
        # moment is whenever the collector ran, which no schedule controls: during a step, or
        # between two calls of a loop driven by hand or by asyncio.Runner. Such a generator is
        # kept (it was about to be freed) and closed at a moment the program defines: with the
        # ones still open, by shutdown_asyncgens(), in the order they started (simloop.run,
        # explore and asyncio.Runner call it; a loop driven by hand must, as in asyncio). One
        # freed once the loop is closed cannot be closed any more: it is left as it is.
        if self.is_closed():
            self._asyncgen_numbers.pop(id(agen), None)
            return
        if _collector.running:
            self._collected_asyncgens.append(agen)
            _stdlib.keep_async_generator(self, agen)  # the collector dropped it from there
            return
        self._asyncgen_numbers.pop(id(agen), None)
        super()._asyncgen_finalizer_hook(agen)  # type: ignore[misc]

    async def shutdown_asyncgens(self) -> None:
        """Close the async generators still open, as stock asyncio does, but in the order
        they started: stock asyncio closes them in the order of a ``WeakSet``, which is
        that of their memory addresses, different in every process."""
        # Again while there are any: the collector may free more while these close.
        while generators := _stdlib.take_async_generators(self):
            self._collected_asyncgens.clear()  # they are among the generators now
            numbers = self._asyncgen_numbers
            generators.sort(key=lambda agen: numbers.get(id(agen), -1))
            results = await asyncio.gather(
                *[agen.aclose() for agen in generators], return_exceptions=True
            )
            for result, agen in zip(results, generators, strict=True):
                if isinstance(result, Exception):
                    self.call_exception_handler(
                        {
                            "message": "an error occurred during closing of asynchronous "
                            f"generator {agen!r}",
                            "exception": result,
                            "asyncgen": agen,
                        }
                    )

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        self._executor_shutdown_called = True

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        try:
            try:
                # Closed while a failure propagates (asyncio.Runner's cleanup after the main
                # task failed), the failure is what the run reports.
                self._finish_run(check=sys.exc_info()[1] is None)
            finally:
                self._raise_unhandled(final=True)
        finally:
            super().close()
            if not self._fifo:
                self._lanes.clear()
            self._timers.heap.clear()

    # --- there is no I/O in a simulation (the rest is in NoRealIO) ------------------------------

    def _process_events(self, event_list: Any) -> None:
        pass

    def _write_to_self(self) -> None:
        pass


# asyncio.Runner cancels a SimLoop's leftover tasks in creation order, as simloop.run does.
_stdlib.cancel_leftovers_in_creation_order(SimLoop)

#: The code of the cleanups :meth:`SimLoop._is_idle_cleanup` recognises.
_IDLE_CLEANUP_CODES = (
    SimLoop.shutdown_asyncgens.__code__,
    SimLoop.shutdown_default_executor.__code__,
)


class _Collector:
    """Whether the cyclic garbage collector is running now (in any thread)."""

    running = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        self.running = phase == "start"


_collector = _Collector()
gc.callbacks.append(_collector)


def _stop_loop_when_done(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and isinstance(future.exception(), (SystemExit, KeyboardInterrupt)):
        # The exception already propagated out of run_forever(): nothing to stop.
        return
    future.get_loop().stop()


def _run_unless_cancelled(handle: events.Handle) -> None:
    if not _stdlib.is_cancelled(handle):
        _stdlib.run_handle(handle)


# --- for simloop's own runner (simloop.run, explore) ------------------------------------------


def enter_session(loop: SimLoop) -> None:
    """Turn the determinism guards on for ``loop``'s whole run, cleanup included, so they go
    on and off once rather than per ``run_until_complete`` call."""
    loop._guards.enter()


def exit_session(loop: SimLoop) -> None:
    loop._guards.exit()


def raise_unhandled(loop: SimLoop, *, final: bool) -> None:
    """Fail with the exceptions nobody retrieved so far (``final``: the loop will not run
    again, so no suspect can still be retrieved)."""
    loop._raise_unhandled(final=final)


def use_harness_defaults(loop: SimLoop) -> None:
    """simloop's harness (``simloop.run``, ``explore``, the pytest plugin) runs ``loop``: the
    options left to ``None`` take the harness's values, so exceptions nobody retrieved fail
    the run and calls that behave differently in virtual time are reported with a warning.
    (A bare SimLoop handed to another runner behaves like asyncio's own loop instead.)"""
    if not isinstance(loop, SimLoop):
        msg = f"`loop` must be a simloop.SimLoop, not {type(loop).__name__} {loop!r}"
        raise InvalidArgumentError(msg)
    options = loop.options
    if options.fail_on_unhandled is None:
        loop._unhandled.enabled = True
    if options.warn is None:
        loop._guards.warn = True


def finish_run(loop: SimLoop) -> None:
    """The run is over (its main task and cleanup done): the scheduler's ``finish`` hook
    checks it, at most once per loop (``close()`` calls it too)."""
    loop._finish_run()


def note_failure(loop: SimLoop, exc: BaseException) -> None:
    """Remember that the run failed with ``exc``: a cleanup adds what it finds to it."""
    loop._unhandled.last_failure = exc
