"""What every unfinished task is doing: the body of deadlock and limit reports.

For each task we follow its ``await`` chain down to the innermost frame, find the line of the
user's code it is suspended at, recognise the asyncio primitive it waits on (from the code
object of the asyncio method on the chain, whose ``self`` is the primitive), and, where that
is knowable, which other tasks it waits for: the holder of a Lock, an awaited task, the
children of ``gather``, the tasks of a ``TaskGroup``. Those edges give the wait-for cycle.
"""

from __future__ import annotations

import asyncio
import functools
import linecache
import math
from collections.abc import Iterable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

import attrs

from simloop import _stdlib
from simloop._clock import format_seconds
from simloop._errors import DeadlockError, StepLimitError, TimeLimitError
from simloop._kernel import now_ns, ready_handles

if TYPE_CHECKING:
    from simloop._loop import SimLoop


@attrs.frozen
class TaskReport:
    """One unfinished task, as a deadlock or limit report shows it."""

    #: The task's name.
    name: str
    #: ``"ready"`` (about to run), ``"sleeping"`` (on a timer) or ``"waiting"``.
    state: str
    #: Where the task is suspended in the user's code: ``"file.py:12 in func"``.
    location: str | None
    #: The source line at ``location``.
    source_line: str | None
    #: What the task waits on, e.g. ``"Lock `self.lock`, held by 'worker-2'"``.
    waiting_on: str | None
    #: Names of the tasks this one waits for (holders of what it needs, awaited tasks).
    waits_for: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [
            f"'{self.name}' ({self.state})" + (f" at {self.location}" if self.location else "")
        ]
        if self.source_line:
            lines.append(f"    {self.source_line}")
        if self.waiting_on:
            lines.append(f"  {self.waiting_on}")
        return "\n".join(lines)


@attrs.frozen
class ChainLink:
    """One coroutine (or async generator) frame of a task's await chain."""

    #: ``"pool.py:36 in _open"``.
    location: str
    #: The source line it is at, stripped.
    source_line: str | None
    #: Whether the frame is library plumbing (asyncio, a test framework) rather than the
    #: user's program.
    library: bool
    #: The live frame: its ``f_locals`` are the coroutine's variables.
    frame: FrameType = attrs.field(eq=False, repr=False)


def await_chain(task: asyncio.Task[Any]) -> list[ChainLink]:
    """Every frame of a suspended task's await chain, outermost first: each coroutine down
    to the innermost, through async generators (what the innermost waits on is
    :func:`describe_task`'s ``waiting_on``)."""
    links = []
    for frame in _stdlib.coroutine_frames(task):
        code = frame.f_code
        lineno = frame.f_lineno
        links.append(
            ChainLink(
                location=f"{_stdlib.short_path(code.co_filename)}:{lineno} in {code.co_name}",
                source_line=linecache.getline(code.co_filename, lineno).strip() or None,
                library=_stdlib.is_library_frame(frame),
                frame=frame,
            )
        )
    return links


def describe_task(task: asyncio.Task[Any], loop: SimLoop) -> TaskReport:
    """The :class:`TaskReport` of one unfinished task (as :func:`describe_tasks` gives)."""
    report, _ = _describe(task, task in _ready_tasks(loop), loop)
    return report


def describe_tasks(loop: SimLoop) -> list[TaskReport]:
    """A report on every unfinished task of ``loop``, in creation order."""
    reports, _ = _analyse(loop)
    return reports


def _analyse(
    loop: SimLoop,
) -> tuple[list[TaskReport], dict[asyncio.Task[Any], list[asyncio.Task[Any]]]]:
    tasks = [t for t in _stdlib.tasks_of_loop(loop) if not t.done()]
    ready = _ready_tasks(loop)
    reports = []
    edges: dict[asyncio.Task[Any], list[asyncio.Task[Any]]] = {}
    for task in tasks:
        report, waits_for = _describe(task, task in ready, loop)
        reports.append(report)
        edges[task] = waits_for
    return reports, edges


def _ready_tasks(loop: SimLoop) -> set[asyncio.Task[Any]]:
    found = set()
    for handle in ready_handles(loop=loop):
        task = _stdlib.task_of_callback(_stdlib.callback_of(handle))
        if task is not None:
            found.add(task)
    return found


def _describe(
    task: asyncio.Task[Any], is_ready: bool, loop: SimLoop
) -> tuple[TaskReport, list[asyncio.Task[Any]]]:
    frames = _stdlib.coroutine_frames(task)
    user_frames = [f for f in frames if not _stdlib.is_library_frame(f)]
    user_frame = user_frames[-1] if user_frames else (frames[-1] if frames else None)
    location = source_line = None
    if user_frame is not None:
        code = user_frame.f_code
        lineno = user_frame.f_lineno
        location = f"{_stdlib.short_path(code.co_filename)}:{lineno} in {code.co_name}"
        source_line = linecache.getline(code.co_filename, lineno).strip() or None

    waiting_on, waits_for, state = _what_it_waits_on(task, frames, user_frame, loop)
    if is_ready:
        state = "ready"
        waiting_on = "ready to run"
        waits_for = []
    report = TaskReport(
        name=task.get_name(),
        state=state,
        location=location,
        source_line=source_line,
        waiting_on=waiting_on,
        waits_for=tuple(t.get_name() for t in waits_for),
    )
    return report, waits_for


#: Primitives built on others: when a task waits on the inner one (the Event behind
#: ``Queue.join()``, the Condition behind ``Barrier.wait()``, the lock a ``Condition.wait()``
#: takes back), the report names the outer one, which is what the user's code awaits.
_COMPOSITES = frozenset({"Queue.join", "Barrier", "Condition"})


def _what_it_waits_on(
    task: asyncio.Task[Any],
    frames: Sequence[FrameType],
    user_frame: FrameType | None,
    loop: SimLoop,
) -> tuple[str | None, list[asyncio.Task[Any]], str]:
    """(description, tasks it waits for, state) from the innermost recognisable frame (or the
    primitive that frame's primitive belongs to)."""
    for index in range(len(frames) - 1, -1, -1):
        kind = _stdlib.PRIMITIVE_WAITS.get(frames[index].f_code)
        if kind is None:
            continue
        inner = index
        while index > 0 and _stdlib.PRIMITIVE_WAITS.get(frames[index - 1].f_code) in _COMPOSITES:
            index -= 1
        return _describe_wait(task, frames[index], frames[inner], user_frame)
    return _describe_awaited(task)


def _describe_wait(
    task: asyncio.Task[Any], frame: FrameType, inner: FrameType, user_frame: FrameType | None
) -> tuple[str | None, list[asyncio.Task[Any]], str]:
    kind = _stdlib.PRIMITIVE_WAITS[frame.f_code]
    obj = _stdlib.frame_self(frame)
    name = functools.partial(_primitive_name, obj, user_frame)

    if kind == "Lock":
        owner = _stdlib.lock_owner(obj)
        if owner is not None and owner is not task:
            return f"waits on {name('Lock')}, held by {_holder(owner)}", [owner], "waiting"
        if owner is task:
            return f"waits on {name('Lock')}, which it already holds", [task], "waiting"
        return f"waits on {name('Lock')}", [], "waiting"
    if kind == "Event":
        return f"waits on {name('Event')}, which nobody sets", [], "waiting"
    if kind == "Condition":
        if _stdlib.PRIMITIVE_WAITS.get(inner.f_code) == "Lock":
            owner = _stdlib.lock_owner(_stdlib.frame_self(inner))
            if owner is not None and owner is not task:
                return (
                    f"waits on {name('Condition')} to take its lock back, held by {_holder(owner)}",
                    [owner],
                    "waiting",
                )
        return f"waits on {name('Condition')}, which nobody notifies", [], "waiting"
    if kind == "Semaphore":
        semaphore = name("Semaphore", f"value {getattr(obj, '_value', '?')}")
        holders = _stdlib.semaphore_holders(obj)
        if not holders:
            return f"waits on {semaphore}", [], "waiting"
        held = ", ".join(
            _holder(holder) + (f" (acquired at {_site(site)})" if site else "")
            for holder, site in holders
        )
        others = [holder for holder, _ in holders if holder is not task]
        return f"waits on {semaphore}, held by {held}", others, "waiting"
    if kind == "Barrier":
        count = getattr(obj, "n_waiting", "?")
        parties = getattr(obj, "parties", "?")
        return f"waits on {name('Barrier', f'{count} of {parties} arrived')}", [], "waiting"
    if kind == "Queue.get":
        return f"waits on get() from {name('Queue')}, which stays empty", [], "waiting"
    if kind == "Queue.put":
        size = getattr(obj, "maxsize", "?")
        return (
            f"waits on put() to {name('Queue', f'maxsize {size}')}, which stays full",
            [],
            "waiting",
        )
    if kind == "Queue.join":
        left = getattr(obj, "_unfinished_tasks", "?")
        items = "1 item" if left == 1 else f"{left} items"
        return (
            f"waits on join() of {name('Queue')}: {items} not marked task_done()",
            [],
            "waiting",
        )
    if kind == "sleep":
        when = _sleep_deadline(frame)
        if when is not None:
            return f"sleeps until t={format_seconds(when)}", [], "sleeping"
        return "sleeps", [], "sleeping"
    if kind == "TaskGroup":
        members = _stdlib.taskgroup_tasks(obj)
        return f"waits for its TaskGroup: {_names(members)}", members, "waiting"
    # wait / wait_for: the awaited future says more.
    return _describe_awaited(task)


def _primitive_name(
    obj: Any, user_frame: FrameType | None, type_name: str, detail: str | None = None
) -> str:
    """How a report names a primitive, uniquely where it can: its number in the run and where
    it was made (when lock tracking saw it made), and how the user's code reaches it:
    "Lock #2 `b.lock` (created at bank.py:6 in Account.__init__)". Without either, "a Lock
    created elsewhere". ``detail`` goes in the parentheses ("value 0")."""
    path = _name_of(obj, user_frame)
    origin = _stdlib.origin_of(obj)
    notes = []
    if origin is None:
        if path:
            text = f"{type_name} {path}"
        else:
            article = "an" if type_name[0] in "AEIOU" else "a"
            text = f"{article} {type_name} created elsewhere"
    else:
        number, site = origin
        text = f"{type_name} #{number}" + (f" {path}" if path else "")
        if site:
            notes.append(f"created at {_site(site)}")
    if detail:
        notes.append(detail)
    return text + (f" ({'; '.join(notes)})" if notes else "")


def _holder(task: asyncio.Task[Any]) -> str:
    """A task that holds something, as a report names it."""
    if task.done():
        return f"'{task.get_name()}', which finished without releasing it"
    return f"'{task.get_name()}'"


def _site(site: _stdlib.Site) -> str:
    filename, line, function = site
    return f"{_stdlib.short_path(filename)}:{line} in {function}"


def _describe_awaited(task: asyncio.Task[Any]) -> tuple[str | None, list[asyncio.Task[Any]], str]:
    waited = _stdlib.waited_future(task)
    if waited is None:
        waited = _stdlib.awaited_object(task)
    if isinstance(waited, asyncio.Task):
        return f"waits for task '{waited.get_name()}'", [waited], "waiting"
    children = [c for c in _stdlib.gathered_children(waited) if not c.done()]
    if children:
        child_tasks = [c for c in children if isinstance(c, asyncio.Task)]
        return f"waits in gather() for {_names(child_tasks)}", child_tasks, "waiting"
    if asyncio.isfuture(waited):
        return "waits on a Future that nothing completes", [], "waiting"
    return None, [], "waiting"


def _sleep_deadline(frame: FrameType) -> int | None:
    try:
        handle = frame.f_locals.get("h")
    except Exception:  # noqa: BLE001 - a report must not fail on a strange frame
        return None
    when = getattr(handle, "when", None)
    if when is None:
        return None
    deadline: float = when()
    if not math.isfinite(deadline):
        return None  # a timer that never comes (call_later(math.inf))
    return round(deadline * 1_000_000_000)


def _names(tasks: Iterable[asyncio.Task[Any]]) -> str:
    return ", ".join(f"'{t.get_name()}'" for t in tasks) or "nothing"


def _name_of(obj: Any, frame: FrameType | None) -> str | None:
    """How the user's code names ``obj`` (`lock`, `self.lock`, `locks['a']`), if it does."""
    if obj is None or frame is None:
        return None
    try:
        scopes = [frame.f_locals, frame.f_globals]
    except Exception:  # noqa: BLE001 - a report must not fail on a strange frame
        return None
    for scope in scopes:
        for var, value in list(scope.items()):
            for path, candidate in _candidates(var, value):
                if candidate is obj:
                    return f"`{path}`"
    return None


def _candidates(var: str, value: Any) -> Iterable[tuple[str, Any]]:
    yield var, value
    yield from _members(var, value)
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict) and not isinstance(value, type):
        for attr, member in list(attributes.items()):
            yield f"{var}.{attr}", member
            yield from _members(f"{var}.{attr}", member)


def _members(path: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict) and len(value) <= 1000:
        for key, member in list(value.items()):
            yield f"{path}[{key!r}]", member
    elif isinstance(value, (list, tuple)) and len(value) <= 1000:
        for index, member in enumerate(value):
            yield f"{path}[{index}]", member


def limit_error(
    loop: SimLoop,
    kind: type[StepLimitError] | type[TimeLimitError],
    *,
    now_ns: int,
    max_steps: int | None,
    max_time_ns: int | None,
    next_timer_ns: int | None,
    steps: int = 0,
    clock_moved_at: int = 0,
    main: asyncio.Future[Any] | None = None,
    blocking_sleeps: int | None = None,
) -> StepLimitError | TimeLimitError:
    """The error for a run that hit its step or time limit, with a report on every task.

    It says what the run looks like, from the evidence: the main task waiting on something
    nothing will set while other tasks keep the run alive (a heartbeat); steps spinning at
    one instant with the clock stuck (a livelock); or time moving on with nothing finishing
    (an endless retry or polling loop). ``blocking_sleeps``: the step limit was hit by that
    many ``time.sleep`` calls inside one step, which says it all.
    """
    reports, _ = _analyse(loop)
    if blocking_sleeps is not None:
        head = (
            f"step limit reached: time.sleep() was called {blocking_sleeps} times without the "
            f"run finishing (virtual time {format_seconds(now_ns)}), more than max_steps="
            f"{max_steps}. A loop that polls with time.sleep() blocks every other task, so what "
            "it waits for can never happen; await asyncio.sleep() instead."
        )
        return kind(head + format_task_reports(reports), reports)
    if kind is StepLimitError:
        head = (
            f"step limit reached: {max_steps} steps ran without the run finishing "
            f"(virtual time {format_seconds(now_ns)})."
        )
        advice = "if the program really needs more steps, raise max_steps."
    else:
        assert max_time_ns is not None
        when = now_ns if next_timer_ns is None else next_timer_ns
        head = (
            f"time limit reached: the run would advance virtual time to "
            f"{format_seconds(when)}, past max_time={format_seconds(max_time_ns)}."
        )
        advice = "if the program really needs more virtual time, raise max_time."
    diagnosis = _limit_diagnosis(kind, reports, main, steps, clock_moved_at, now_ns)
    return kind(f"{head} {diagnosis}; {advice}" + format_task_reports(reports), reports)


def _limit_diagnosis(
    kind: type[StepLimitError] | type[TimeLimitError],
    reports: Sequence[TaskReport],
    main: asyncio.Future[Any] | None,
    steps: int,
    clock_moved_at: int,
    now_ns: int,
) -> str:
    """What a run that hit a limit looks like, in one clause."""
    main_name = main.get_name() if isinstance(main, asyncio.Task) else None
    main_report = next((r for r in reports if r.name == main_name), None)
    others = [r for r in reports if r.name != main_name]
    waited_for = set() if main_report is None else set(main_report.waits_for)
    # Busy tasks the main task does not wait for: they keep the run alive on their own.
    busy = [r for r in others if r.state in ("sleeping", "ready") and r.name not in waited_for]
    if main_report is not None and main_report.state == "waiting" and busy:
        keeping = ", ".join(f"'{r.name}'" for r in busy[:3])
        waiting = main_report.waiting_on or "waits"
        return (
            f"The main task '{main_name}' {waiting}, while {keeping} "
            f"{'keeps' if len(busy) == 1 else 'keep'} running: a background task (a heartbeat, "
            "a poller) keeps the run alive, but nothing will wake the main task"
        )
    spinning = steps - clock_moved_at
    if kind is StepLimitError and steps < 50:
        return (
            f"It stopped at the limit after only {steps} steps: too few to tell a livelock "
            "from a run that would finish"
        )
    if kind is StepLimitError and spinning > max(50, steps // 2):
        return (
            f"The last {spinning} steps ran at virtual time {format_seconds(now_ns)} without "
            "the clock moving: tasks keep waking each other (a livelock), or poll with "
            "sleep(0) for something only time can bring"
        )
    return (
        f"Virtual time kept moving (to {format_seconds(now_ns)}) without the run finishing: "
        "a task that retries or polls forever looks like this"
    )


def format_task_reports(reports: Sequence[TaskReport]) -> str:
    """The task list as it appears in error messages (empty if there are no tasks)."""
    if not reports:
        return ""
    count = "1 unfinished task" if len(reports) == 1 else f"{len(reports)} unfinished tasks"
    body = "\n".join("  " + str(r).replace("\n", "\n  ") for r in reports)
    return f"\n{count}:\n{body}"


def find_cycle(edges: dict[asyncio.Task[Any], list[asyncio.Task[Any]]]) -> list[asyncio.Task[Any]]:
    """A wait-for cycle among the tasks (first task repeated at the end), or ``[]``."""
    state: dict[asyncio.Task[Any], int] = {}  # 1: on the current path, 2: finished
    path: list[asyncio.Task[Any]] = []

    def visit(task: asyncio.Task[Any]) -> list[asyncio.Task[Any]]:
        state[task] = 1
        path.append(task)
        for nxt in edges.get(task, ()):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[task] = 2
        return []

    for task in edges:
        if task not in state:
            found = visit(task)
            if found:
                return found
    return []


def deadlock_error(
    loop: SimLoop, main: asyncio.Future[Any] | None, *, why: str | None = None
) -> DeadlockError:
    """The :class:`DeadlockError` for a loop with nothing ready and no timer pending (or
    ``why`` it cannot go on, if it is something else)."""
    reports, edges = _analyse(loop)
    cycle = [t.get_name() for t in find_cycle(edges)]
    at = format_seconds(now_ns(loop=loop))
    if why is not None:
        head = f"deadlock at t={at}: {why}"
    elif main is None:
        head = (
            f"deadlock at t={at}: the loop is running, but nothing is ready to run, no timer "
            "is pending, and so nothing can ever call stop()."
        )
    else:
        what = f"task '{main.get_name()}'" if isinstance(main, asyncio.Task) else "future"
        head = (
            f"deadlock at t={at}: the main {what} is not done, but nothing is ready to run "
            "and no timer is pending."
        )
    text = head + format_task_reports(reports)
    if cycle:
        text += "\nwait-for cycle: " + " -> ".join(f"'{name}'" for name in cycle)
    return DeadlockError(text, reports, cycle)
