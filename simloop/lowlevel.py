"""The extension surface of simloop: what checks, recorders, debuggers, a simulated network and
the pytest and Hypothesis plugins are built on.

Everything simloop ships beyond the loop itself (``simloop.invariant``, ``eventually``,
``sometimes``, ``cancel_somewhere``, the trace recorder, both plugins) is written against
this module and :mod:`simloop`, with no access to the loop's private state, so anything they
do, an extension can do too. A test in simloop's own suite keeps it that way.

Decisions
    :class:`ChoicePoint`, :func:`choose`: every decision a run makes (which callback runs, a
    timer's lateness, a packet's fate...) is a choice point of some *kind*, answered by the
    loop's scheduler, recorded in the trace, checked on replay. :class:`Scheduler` answers
    one run's choices; :class:`Search` picks the schedulers of an exploration;
    :func:`register_search` gives a search a name.
Time
    :func:`now_ns`, :func:`call_at_ns`, :func:`call_later_ns`: the virtual clock, in integer
    nanoseconds, and exact timers; :func:`seconds_to_ns`, :func:`format_seconds`.
Observing and failing a run
    :class:`~simloop.Instrument` (hooks), :func:`fail`, :func:`describe_tasks`,
    :func:`task_of`, the labels a trace uses, :func:`main_task`, :func:`idle_now`,
    :func:`ready_handles`, :func:`record_mark`, :func:`set_scheduler`.
Options
    :class:`LoopOptions`: every option of a loop, declared once.
Programs and runs
    :class:`Program` and the functions that run one under a schedule, explore it and replay
    it, for integrations that run something other than a plain ``async def main()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TextIO

from simloop._choices import (
    CANCEL,
    READY,
    SLEEP_JITTER,
    TIMER_JITTER,
    TIMER_TIE,
    TIMING_KINDS,
    ChoicePoint,
)
from simloop._clock import format_seconds, seconds_to_ns
from simloop._determinism import DeterminismCheck
from simloop._diagnosis import ChainLink, TaskReport, await_chain
from simloop._exceptions import ExceptionWatch
from simloop._explore import (
    AsyncProgram,
    PairsSeen,
    Program,
    explore_program,
    make_failure,
    replay_program,
    run_coroutine,
)
from simloop._guards import real_time_functions
from simloop._instrument import Instrument
from simloop._kernel import (
    call_at_ns,
    call_later_ns,
    choose,
    current_loop,
    describe_task,
    describe_tasks,
    fail,
    idle_now,
    live_tasks,
    loop_local,
    main_task,
    now_ns,
    ready_handles,
    record_mark,
    runs_stock_order,
    set_scheduler,
)
from simloop._labels import (
    callback_label,
    handle_label,
    suspension_point,
    task_label,
    task_of,
    task_woken_by,
    timer_label,
)
from simloop._loop import use_harness_defaults
from simloop._options import (
    DEFAULTS as LOOP_OPTION_DEFAULTS,
)
from simloop._options import (
    PLUGIN_OPTIONS,
    RECORDED,
    LoopOptions,
    check_recorded,
    option_doc,
)
from simloop._report import format_failure
from simloop._runner import abandon, shut_down
from simloop._scheduling import Scheduler, check_scheduler, weighted_option
from simloop._searches import (
    SEARCHES,
    Search,
    SearchName,
    make_search,
    parse_search_name,
    register_search,
    search_names,
)
from simloop._stdlib import (
    add_library_dir,
    exception_of,
    get_running_loop_or_none,
    is_library_frame,
)
from simloop._text import describe
from simloop._watching import watched_values

if TYPE_CHECKING:
    from simloop._trace import Trace


def debug_program(
    program: Program,
    schedule: Trace,
    *,
    stop_at: int | str | Callable[[], object] = "failure",
    commands: Iterable[str] | Callable[[], str | None] | None = None,
    out: TextIO | None = None,
) -> None:
    """:func:`simloop.debug` for any :class:`Program`: re-execute ``program`` under
    ``schedule`` and stop it at ``stop_at`` with the loop alive, taking debugger commands
    (from ``commands``, else the terminal) and writing to ``out`` (default ``sys.stdout``).
    The pytest plugin's ``--simloop-debug`` runs a test's replay through it."""
    import sys

    from simloop._debug import Console, Debugger

    console = Console(commands, sys.stdout if out is None else out)
    Debugger(program, schedule, console=console).run(stop_at)


__all__ = [
    "CANCEL",
    "LOOP_OPTION_DEFAULTS",
    "PLUGIN_OPTIONS",
    "READY",
    "RECORDED",
    "SEARCHES",
    "SLEEP_JITTER",
    "TIMER_JITTER",
    "TIMER_TIE",
    "TIMING_KINDS",
    "AsyncProgram",
    "ChainLink",
    "ChoicePoint",
    "DeterminismCheck",
    "ExceptionWatch",
    "Instrument",
    "LoopOptions",
    "PairsSeen",
    "Program",
    "Scheduler",
    "Search",
    "SearchName",
    "TaskReport",
    "abandon",
    "add_library_dir",
    "await_chain",
    "call_at_ns",
    "call_later_ns",
    "callback_label",
    "check_recorded",
    "check_scheduler",
    "choose",
    "current_loop",
    "debug_program",
    "describe",
    "describe_task",
    "describe_tasks",
    "exception_of",
    "explore_program",
    "fail",
    "format_failure",
    "format_seconds",
    "get_running_loop_or_none",
    "handle_label",
    "idle_now",
    "is_library_frame",
    "live_tasks",
    "loop_local",
    "main_task",
    "make_failure",
    "make_search",
    "now_ns",
    "option_doc",
    "parse_search_name",
    "ready_handles",
    "real_time_functions",
    "record_mark",
    "register_search",
    "replay_program",
    "run_coroutine",
    "runs_stock_order",
    "search_names",
    "seconds_to_ns",
    "set_scheduler",
    "shut_down",
    "suspension_point",
    "task_label",
    "task_of",
    "task_woken_by",
    "timer_label",
    "use_harness_defaults",
    "watched_values",
    "weighted_option",
]
# Public names say "simloop.lowlevel.X" in reprs and tracebacks, not the private module.
for _name in (
    "ChainLink",
    "ChoicePoint",
    "DeterminismCheck",
    "ExceptionWatch",
    "LoopOptions",
    "SearchName",
):
    globals()[_name].__module__ = "simloop.lowlevel"
del _name
