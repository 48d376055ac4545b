"""``simloop.run``: the ``asyncio.run`` of the simulation."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from simloop import _stdlib
from simloop._errors import ExtensionError, InvalidArgumentError, ReplayDivergenceError
from simloop._kernel import detach_instruments, has_leftover_callbacks, set_scheduler
from simloop._loop import (
    SimLoop,
    enter_session,
    exit_session,
    finish_run,
    note_failure,
    raise_unhandled,
    use_harness_defaults,
)
from simloop._options import check_recorded
from simloop._scheduling import Fifo, RandomWalk, Scheduler
from simloop._text import describe, plural, shown
from simloop._token import as_recording
from simloop._trace import Trace

_T = TypeVar("_T")


def run(
    main: Coroutine[Any, Any, _T],
    *,
    seed: int | None = None,
    scheduler: Scheduler | None = None,
    replay: Trace | str | os.PathLike[str] | None = None,
    debug: bool | None = None,
    **loop_options: Any,
) -> _T:
    """Run the coroutine ``main`` on a fresh :class:`SimLoop` and return its result.

    Like :func:`asyncio.run`: it creates the loop, runs ``main`` as a task in a copy of the
    current context, then cancels the tasks left over (in the order they were created, so that
    cleanup is deterministic too), finalizes async generators and closes the loop. ``seed``,
    ``scheduler`` and ``loop_options`` go to :class:`SimLoop`.

    ``replay`` re-runs a recorded schedule exactly: a :class:`~simloop.Trace`, a replay token
    (``"sl2-..."``, from a failure's note) or a trace file; it fixes the seed, the scheduler and
    the loop settings that shape the schedule.

    If the run fails, the exception carries a note saying which schedule failed and how to
    replay it.
    """
    check_not_in_loop("simloop.run")
    if not asyncio.iscoroutine(main):
        msg = f"`main` must be a coroutine, not {describe(main)}"
        raise InvalidArgumentError(msg)
    try:
        if debug is not None and not isinstance(debug, bool):
            msg = f"`debug` must be True, False or None, not {describe(debug)}"
            raise InvalidArgumentError(msg)
        if replay is not None:
            if seed is not None or scheduler is not None:
                msg = "pass either `replay` or `seed`/`scheduler`: a replay fixes both"
                raise InvalidArgumentError(msg)
            recording = as_recording(replay)
            check_recorded(recording.recorded_options(), loop_options, "simloop.run(replay=...)")
            loop_options = {**loop_options, **recording.loop_options()}
        else:
            loop_options = {**loop_options, "seed": seed, "scheduler": scheduler}
        loop = SimLoop(**loop_options)
    except BaseException:
        main.close()  # it will never run; closing it avoids "coroutine was never awaited"
        raise
    if debug is not None:
        loop.set_debug(debug)
    return run_on(loop, main)


def check_not_in_loop(what: str) -> None:
    """Refuse to start a simulation from inside a running event loop, as asyncio.run does."""
    if _stdlib.get_running_loop_or_none() is not None:
        msg = f"{what}() cannot be called from a running event loop"
        raise RuntimeError(msg)


def run_on(
    loop: SimLoop,
    main: Coroutine[Any, Any, _T],
    *,
    on_failure: Callable[[BaseException], None] | None = None,
    name: str | None = None,
) -> _T:
    """Run ``main`` to completion on ``loop``, clean up as asyncio.run does, close the loop;
    the loop's options left to ``None`` take the harness's values (``use_harness_defaults``).

    A failure (an ``Exception``, or the main task cancelled) gets the replay note; both it and
    ``on_failure`` see the loop as it was when the run failed, before cleanup adds steps of
    its own. Anything else that interrupts the run (``KeyboardInterrupt``, ``SystemExit``, a
    test framework's own control flow) propagates at once, with no cleanup run, which could
    only be interrupted again.
    """
    use_harness_defaults(loop)
    # One session for the whole run, cleanup included: the guards go on and off once.
    enter_session(loop)
    try:
        try:
            task = loop.create_task(main, name=name, context=contextvars.copy_context())
            result = loop.run_until_complete(task)
        except ExtensionError:
            _clean_up_quietly(loop)
            raise
        except (Exception, asyncio.CancelledError) as exc:
            _fail(loop, exc, on_failure, cleanup=True)
            raise
        except BaseException:
            abandon(loop)
            raise
        try:
            shut_down(loop)
            raise_unhandled(loop, final=True)
            finish_run(loop)
        except ExtensionError:
            _clean_up_quietly(loop)
            raise
        except (Exception, asyncio.CancelledError) as exc:
            # The cleanup itself failed: finish it in asyncio's order (a failed cleanup
            # must not leave tasks pending, their ``finally`` blocks never run).
            _fail(loop, exc, on_failure, cleanup=True)
            raise
        except BaseException:
            abandon(loop)
            raise
        return result
    finally:
        exit_session(loop)
        loop.close()


def _fail(
    loop: SimLoop,
    exc: BaseException,
    on_failure: Callable[[BaseException], None] | None,
    *,
    cleanup: bool,
) -> None:
    if on_failure is not None:
        on_failure(exc)
    note = replay_note(loop, exc)
    note_failure(loop, exc)
    # Clean up in asyncio's own order: the run's scheduler may not be able to answer any more
    # (a replay that diverged, Hypothesis data that is frozen), and the cleanup of a failed
    # run is not worth exploring.
    set_scheduler(loop, Fifo(), cleanup=True)
    if cleanup:
        try:
            shut_down(loop)
        except (Exception, asyncio.CancelledError) as cleanup_error:  # noqa: BLE001 - as a note
            exc.add_note(
                f"simloop: cleaning up after the failure also failed: {shown(cleanup_error)}"
            )
        except BaseException:
            abandon(loop)
            raise
    # Whatever the cleanup could not finish is left without "Task was destroyed but it is
    # pending!" when it is collected: the failure is what the run reports.
    abandon(loop)
    exc.add_note(note)


def _clean_up_quietly(loop: SimLoop) -> None:
    """A scheduler or instrument broke its contract: not a failure of the program, so no
    replay note; the leftover tasks are still cancelled (in asyncio's order, without the
    instruments: the broken one may be among them), so that none is left pending."""
    set_scheduler(loop, Fifo(), cleanup=True)
    detach_instruments(loop)
    try:
        shut_down(loop)
    except (Exception, asyncio.CancelledError):  # noqa: BLE001 - the error being raised says it
        pass
    except BaseException:
        abandon(loop)
        raise
    abandon(loop)


def abandon(loop: SimLoop) -> None:
    """Leave the loop's unfinished tasks without a cleanup run, and without asyncio logging
    "Task was destroyed but it is pending!" for each when they are collected."""
    _check_loop(loop)
    for task in asyncio.all_tasks(loop):
        _stdlib.silence_pending_destroy(task)
        coro = task.get_coro()
        if inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            coro.close()  # it never ran: no "coroutine was never awaited" either


def shut_down(loop: SimLoop) -> None:
    """What ``asyncio.run`` does after the main task: cancel leftovers, finalize generators."""
    _check_loop(loop)
    leftovers = _stdlib.tasks_of_loop(loop, _stdlib.is_pending)  # in creation order
    if leftovers:
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        for task in leftovers:
            if not task.cancelled() and task.exception() is not None:
                loop.call_exception_handler(
                    {
                        "message": "unhandled exception during simloop.run() shutdown",
                        "exception": task.exception(),
                        "task": task,
                    }
                )
    if has_leftover_callbacks(loop):
        # As asyncio.run does. This also runs callbacks still pending from the main run (a
        # gather() retrieving the exception of a task that failed last).
        loop.run_until_complete(loop.shutdown_asyncgens())
    else:
        _stdlib.mark_async_generators_shut_down(loop)  # all that running it would do


def _check_loop(loop: object) -> None:
    if not isinstance(loop, SimLoop):
        msg = f"`loop` must be a simloop.SimLoop, not {describe(loop)}"
        raise InvalidArgumentError(msg)


def replay_note(loop: SimLoop, exc: BaseException | None = None) -> str:
    """The note attached to a failure: which schedule failed and how to run it again."""
    scheduler = loop.scheduler
    trace = loop.trace
    where = f"after {plural(trace.steps, 'step')} at virtual time {trace.end_time:g}s"
    if isinstance(exc, ReplayDivergenceError):
        return (
            f"simloop: the run left its recorded schedule {where}; the recording does not "
            "match this program, so there is nothing to replay."
        )
    custom = getattr(scheduler, "replay_note", None)
    if callable(custom):
        # A scheduler that knows better how its schedules are replayed (Hypothesis's).
        return f"simloop: failed {where}. {custom()}"
    if getattr(scheduler, "always_stock", False):
        text = (
            f"simloop: failed in stock asyncio's order (Fifo scheduler) {where}. No other "
            "interleaving was involved: it fails the same way on every run."
        )
    elif isinstance(scheduler, RandomWalk) and loop.seed == scheduler.seed and _plain(trace):
        text = (
            f"simloop: failed under RandomWalk(seed={scheduler.seed}) {where}, "
            f"{plural(trace.deviations, 'deviation')} from asyncio's order. Replay it exactly "
            f"with seed={scheduler.seed} and the same program."
        )
    else:
        text = (
            f"simloop: failed under {shown(scheduler)} {where}, "
            f"{plural(trace.deviations, 'deviation')} from asyncio's order. Replay it exactly "
            f"with simloop.run(..., replay={shown(trace.token)}) and the same program."
        )
    if trace.hash_seed == "random":
        text += (
            " (PYTHONHASHSEED is random in this process: if a replay differs, the program may "
            "depend on the order of a set of strings; pin it, e.g. PYTHONHASHSEED=0.)"
        )
    return text


def _plain(trace: Trace) -> bool:
    """Whether the seed alone replays the run: no recorded loop option to repeat."""
    return not trace.settings
