"""The one module that touches asyncio's private internals.

Everything here depends on how CPython 3.11-3.13 implement asyncio; keeping it in one place
means a new Python version needs checking here and nowhere else. Each helper degrades to a
harmless answer (``None``, an empty list) if an internal it reads is missing.
"""

from __future__ import annotations

import asyncio
import asyncio.events
import asyncio.format_helpers
import asyncio.locks
import asyncio.queues
import asyncio.runners
import asyncio.tasks
import functools
import gc
import inspect
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from types import CodeType, FrameType
from typing import Any

#: Directories whose frames are library plumbing, not the user's code.
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep
_SIMLOOP_DIR = os.path.dirname(__file__) + os.sep

get_running_loop_or_none = asyncio.events._get_running_loop
set_running_loop = asyncio.events._set_running_loop

# SimLoop's hot path builds Handle and TimerHandle objects by setting their slots directly and
# runs them by calling ``handle._context.run(handle._callback, *handle._args)``, as
# ``Handle._run`` does, without its call overhead (about a third of the cost of a step). It
# relies on this layout, the same on 3.11, 3.12 and 3.13; check it once, here, at import.
HANDLE_SLOTS = (
    "_callback",
    "_args",
    "_cancelled",
    "_loop",
    "_source_traceback",
    "_repr",
    "__weakref__",
    "_context",
)
TIMER_HANDLE_SLOTS = ("_scheduled", "_when")
if (
    tuple(asyncio.events.Handle.__slots__) != HANDLE_SLOTS
    or tuple(asyncio.events.TimerHandle.__slots__) != TIMER_HANDLE_SLOTS
):  # pragma: no cover - only on an untested Python version
    msg = "simloop does not know this Python's asyncio.Handle layout; please report it"
    raise ImportError(msg)


def callback_of(handle: Any) -> Any:
    """A handle's callback (``None`` once it was cancelled)."""
    return handle._callback


def is_cancelled(handle: Any) -> bool:
    """Whether a handle was cancelled."""
    return bool(handle._cancelled)


def context_of(handle: Any) -> Any:
    """The ``contextvars.Context`` a handle runs its callback in."""
    return handle._context


def run_handle(handle: Any) -> None:
    """Run a handle's callback as the loop would (``Handle._run``)."""
    handle._run()


def drop_last_source_frame(task: Any) -> None:
    """In debug mode, drop the innermost frame of a task's creation traceback (the loop's
    own ``create_task``), as stock asyncio does."""
    traceback = getattr(task, "_source_traceback", None)
    if traceback:
        del traceback[-1]


def has_async_generators(loop: Any) -> bool:
    """Whether async generators of ``loop`` are alive (``shutdown_asyncgens`` has work)."""
    return bool(loop._asyncgens)


def keep_async_generator(loop: Any, agen: Any) -> None:
    """Put an async generator (back) among the loop's open ones, for shutdown_asyncgens()."""
    loop._asyncgens.add(agen)


def take_async_generators(loop: Any) -> list[Any]:
    """What ``shutdown_asyncgens()`` begins with: note that it was called, and take the
    loop's open async generators out of its registry."""
    loop._asyncgens_shutdown_called = True
    generators = list(loop._asyncgens)
    loop._asyncgens.clear()
    return generators


def mark_async_generators_shut_down(loop: Any) -> None:
    """What ``shutdown_asyncgens()`` does when there is nothing to finalize."""
    loop._asyncgens_shutdown_called = True


def policy_current_loop(policy: Any) -> Any:
    """The loop an event loop policy holds as the current thread's (None if none)."""
    return getattr(getattr(policy, "_local", None), "_loop", None)


def arguments_of(handle: Any) -> tuple[Any, ...]:
    """The arguments a handle calls its callback with (none once it was cancelled)."""
    args: tuple[Any, ...] | None = handle._args
    return args or ()


def callback_error_context(handle: Any, exc: BaseException) -> dict[str, Any]:
    """The exception-handler context ``Handle._run`` builds when its callback raises."""
    callback = handle._callback
    args = handle._args
    source = asyncio.format_helpers._format_callback_source(callback, args)
    context: dict[str, Any] = {
        "message": f"Exception in callback {source}",
        "exception": exc,
        "handle": handle,
    }
    if handle._source_traceback:
        context["source_traceback"] = handle._source_traceback
    return context


def task_of_callback(callback: object) -> asyncio.Task[Any] | None:
    """The task a ready callback belongs to, if it is a task step or wake-up.

    Both the C and the Python ``Task`` schedule their steps as callbacks whose ``__self__`` is
    the task (a ``TaskStepMethWrapper`` or a bound ``task_wakeup``/``__step``).
    """
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return owner
    return None


def tasks_of_handles(handles: Iterable[Any]) -> list[asyncio.Task[Any] | None]:
    """:func:`task_of_callback` of each handle's callback, in one call (None for a cancelled
    handle, whose callback is gone)."""
    tasks: list[asyncio.Task[Any] | None] = []
    append = tasks.append
    task_type = asyncio.Task
    for handle in handles:
        owner = getattr(handle._callback, "__self__", None)
        append(owner if isinstance(owner, task_type) else None)
    return tasks


#: asyncio's registries of tasks (weak sets, and a set of eager tasks on 3.12+).
_TASK_REGISTRIES: list[Any] = [
    registry
    for registry in (
        getattr(asyncio.tasks, name, None)
        for name in ("_scheduled_tasks", "_all_tasks", "_eager_tasks")
    )
    if registry is not None
]


def tasks_of_loop(
    loop: asyncio.AbstractEventLoop,
    keep: Callable[[asyncio.Task[Any]], bool] | None = None,
) -> list[asyncio.Task[Any]]:
    """Every task of ``loop`` that is still alive, done or not (those ``keep`` accepts, if
    given), in a stable order.

    ``asyncio.all_tasks`` leaves out finished tasks; the registries behind it keep them until
    they are garbage collected, which is what finding unretrieved exceptions needs.
    """
    found: dict[int, asyncio.Task[Any]] = {}
    for registry in _TASK_REGISTRIES:
        # A WeakSet's own iterator is slow; read its set of references (copied first, as a
        # collection may remove items meanwhile).
        refs = getattr(registry, "data", None)
        members = [ref() for ref in list(refs)] if refs is not None else list(registry)
        for task in members:
            if task is not None and task.get_loop() is loop and (keep is None or keep(task)):
                found[id(task)] = task
    if len(found) < 2:
        return list(found.values())
    return sorted(found.values(), key=task_sort_key)


def is_pending(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` is not done yet (what ``asyncio.all_tasks`` keeps)."""
    return not task.done()


def holds_unretrieved_exception(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` finished with an exception nobody has looked at yet."""
    return task.done() and not task.cancelled() and has_unretrieved_exception(task)


def task_sort_key(task: asyncio.Task[Any]) -> tuple[int, str]:
    """Order tasks by creation in their loop: a SimLoop task's creation number, else the
    loop-local number in its default name; then by name."""
    name = task.get_name()
    number = getattr(task, "creation_number", None)
    if isinstance(number, int):
        return (number, name)
    prefix, _, digits = name.rpartition("-")
    if prefix == "Task" and digits.isdigit():
        return (int(digits), name)
    return (sys.maxsize, name)


# --- asyncio.Runner's cleanup -----------------------------------------------------------------

_STOCK_CANCEL_ALL_TASKS: Callable[[Any], None] | None = getattr(
    asyncio.runners, "_cancel_all_tasks", None
)


def cancel_leftovers_in_creation_order(loop_type: type) -> None:
    """Make ``asyncio.Runner`` (behind ``asyncio.run`` and the pytest-asyncio and anyio
    plugins) cancel the tasks a loop of ``loop_type`` left over in the order they were
    created, as ``simloop.run`` does.

    The Runner cancels them in the order of ``asyncio.all_tasks()``, a set built from a
    process-wide ``WeakSet``: the order depends on which tasks of other loops came and went
    before, so two identical runs in one process could clean up differently. Other loops
    keep stock asyncio's cleanup (the same code, unsorted). Installed once; nothing happens
    if this Python's Runner has no such function.
    """
    stock = _STOCK_CANCEL_ALL_TASKS
    runners: Any = asyncio.runners
    if stock is None or getattr(runners._cancel_all_tasks, "_simloop_sorted", False):
        return

    def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
        if not isinstance(loop, loop_type):
            stock(loop)
            return
        # asyncio.runners._cancel_all_tasks, with the leftovers sorted.
        to_cancel = sorted(asyncio.all_tasks(loop), key=task_sort_key)
        if not to_cancel:
            return
        for task in to_cancel:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*to_cancel, return_exceptions=True))
        for task in to_cancel:
            if task.cancelled():
                continue
            if task.exception() is not None:
                loop.call_exception_handler(
                    {
                        "message": "unhandled exception during asyncio.run() shutdown",
                        "exception": task.exception(),
                        "task": task,
                    }
                )

    _cancel_all_tasks._simloop_sorted = True  # type: ignore[attr-defined]
    runners._cancel_all_tasks = _cancel_all_tasks


def waited_future(task: asyncio.Task[Any]) -> asyncio.Future[Any] | None:
    """The future a suspended task waits on (``None`` if it is ready or done)."""
    return getattr(task, "_fut_waiter", None)


def has_unretrieved_exception(task: asyncio.Task[Any]) -> bool:
    """Whether the task finished with an exception that nobody has looked at."""
    return bool(getattr(task, "_log_traceback", False))


def exception_of(future: asyncio.Future[Any]) -> BaseException | None:
    """The exception a done future or task holds, without marking it retrieved (asyncio
    still logs it, and simloop still reports it, if nobody else looks): for observers."""
    if not future.done() or future.cancelled():
        return None
    exc: BaseException | None = getattr(future, "_exception", None)
    return exc


def mark_exception_retrieved(task: asyncio.Task[Any]) -> None:
    """Stop asyncio from logging "exception was never retrieved" for this task later."""
    try:
        task._log_traceback = False
    except (AttributeError, ValueError):
        pass


def is_sleep_wakeup(handle: asyncio.Handle) -> bool:
    """Whether a timer is the one ``asyncio.sleep`` uses to wake its task: it only completes
    a future that the sleeping coroutine created and alone awaits."""
    return getattr(handle, "_callback", None) is asyncio.futures._set_result_unless_cancelled  # type: ignore[attr-defined]


def task_woken_by(timer: asyncio.Handle) -> asyncio.Task[Any] | None:
    """The task a sleep's wake-up timer wakes (the one awaiting its future), if any."""
    if not is_sleep_wakeup(timer):
        return None
    args = getattr(timer, "_args", None) or ()
    future = args[0] if args else None
    for callback, _context in getattr(future, "_callbacks", None) or ():
        task = task_of_callback(callback)
        if task is not None:
            return task
    return None


#: The code of ``asyncio.sleep``, whose frame holds its wake-up timer as the local ``h``.
_SLEEP_CODE = asyncio.tasks.sleep.__code__


def is_pending_sleep_timer(handle: asyncio.Handle) -> bool:
    """Whether a timer is the one a pending ``asyncio.sleep`` made to wake its task.

    Its callback is not enough: anyone can schedule the same callback on a future others
    see. The task waiting on the timer's future must be suspended in ``asyncio.sleep`` itself,
    and that sleep's timer must be this one: then the future is the one the sleep created,
    which nothing else can see. Anything else (a sleep already cancelled, a chain of awaits
    this cannot follow) answers no, which is always the safe answer for its callers.
    """
    task = task_woken_by(handle)
    if task is None:
        return False
    coro: Any = task.get_coro()
    while asyncio.iscoroutine(getattr(coro, "cr_await", None)):
        coro = coro.cr_await
    frame = getattr(coro, "cr_frame", None)
    if frame is None or frame.f_code is not _SLEEP_CODE:
        return False
    return frame.f_locals.get("h") is handle


def silence_pending_destroy(task: asyncio.Task[Any]) -> None:
    """Stop asyncio from logging "Task was destroyed but it is pending!" for this task."""
    try:
        task._log_destroy_pending = False  # type: ignore[attr-defined]
    except AttributeError:
        pass


def gathered_children(future: asyncio.Future[Any]) -> list[asyncio.Future[Any]]:
    """The children of a ``gather()`` future, or ``[]`` for any other future."""
    children = getattr(future, "_children", None)
    return list(children) if isinstance(children, list) else []


def _async_generator_step_types() -> tuple[type, ...]:
    async def generator() -> Any:
        yield None

    instance = generator()
    send, throw = instance.asend(None), instance.athrow(GeneratorExit)
    types = (type(send), type(throw))
    send.close()
    throw.close()
    return types


#: The awaitables ``anext(generator)``/``asend`` and ``athrow``/``aclose`` return: they run an
#: async generator, which they do not expose as an attribute.
_ASYNC_GENERATOR_STEPS = _async_generator_step_types()


def _next_awaitable(awaitable: Any) -> Any:
    """What ``awaitable`` is itself waiting on, one level down (None at the bottom)."""
    if isinstance(awaitable, _ASYNC_GENERATOR_STEPS):
        # ``async for`` and ``await anext(...)`` wait on an async generator through one of
        # these; the garbage collector's view is the only way to it.
        for referent in gc.get_referents(awaitable):
            if inspect.isasyncgen(referent):
                return referent
        return None
    return (
        getattr(awaitable, "cr_await", None)
        or getattr(awaitable, "gi_yieldfrom", None)
        or getattr(awaitable, "ag_await", None)
    )


def coroutine_frames(task: asyncio.Task[Any]) -> list[FrameType]:
    """The frames of a suspended task, outermost first, following ``await`` down the chain
    (into async generators, too)."""
    frames: list[FrameType] = []
    awaitable: Any = task.get_coro()
    for _ in range(200):  # a bound, in case of a pathological await chain
        if awaitable is None:
            break
        frame = (
            getattr(awaitable, "cr_frame", None)
            or getattr(awaitable, "gi_frame", None)
            or getattr(awaitable, "ag_frame", None)
        )
        if frame is not None:
            frames.append(frame)
        elif not isinstance(awaitable, _ASYNC_GENERATOR_STEPS):
            break
        awaitable = _next_awaitable(awaitable)
    return frames


def awaited_object(task: asyncio.Task[Any]) -> Any:
    """The innermost thing a task's await chain is blocked on (a future, usually)."""
    awaitable: Any = task.get_coro()
    for _ in range(200):
        nxt = _next_awaitable(awaitable)
        if nxt is None:
            break
        awaitable = nxt
    return awaitable


#: Directories of other code that is plumbing rather than the user's program (the pytest
#: plugin adds its own).
LIBRARY_DIRS: list[str] = []


def add_library_dir(path: str) -> None:
    """Count the frames of code under ``path`` as library plumbing, not the user's program,
    in reports and traces (a test framework's plugin, say)."""
    if (
        not isinstance(path, (str, os.PathLike))
        or not isinstance(os.fspath(path), str)
        or "\0" in os.fspath(path)
    ):
        from simloop._errors import InvalidArgumentError
        from simloop._text import describe

        msg = f"`path` must be a directory's path (a str), not {describe(path)}"
        raise InvalidArgumentError(msg)
    directory = os.path.join(os.path.abspath(path), "")
    if directory not in LIBRARY_DIRS:
        LIBRARY_DIRS.append(directory)


def is_library_frame(frame: FrameType) -> bool:
    """Whether a frame belongs to asyncio or simloop rather than to the user's program.

    simloop's own code is its private modules (``_*.py``); the bundled demo programs in
    ``simloop/demo/`` count as user code.
    """
    try:
        filename = frame.f_code.co_filename
    except AttributeError:
        from simloop._errors import InvalidArgumentError
        from simloop._text import describe

        msg = f"`frame` must be a frame, not {describe(frame)}"
        raise InvalidArgumentError(msg) from None
    if filename.startswith(_ASYNCIO_DIR) or any(filename.startswith(d) for d in LIBRARY_DIRS):
        return True
    return filename.startswith(_SIMLOOP_DIR) and os.path.basename(filename).startswith("_")


def short_path(filename: str) -> str:
    """A file name as reports show it: relative to the working directory if it is inside."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative


def _code(function: Any) -> CodeType | None:
    return getattr(function, "__code__", None)


#: Code objects of asyncio's blocking methods, mapped to the kind of primitive they wait on.
PRIMITIVE_WAITS: dict[CodeType, str] = {}
_WAITS: dict[str, list[Any]] = {
    "Lock": [asyncio.locks.Lock.acquire],
    "Event": [asyncio.locks.Event.wait],
    "Condition": [asyncio.locks.Condition.wait, asyncio.locks.Condition.wait_for],
    "Semaphore": [asyncio.locks.Semaphore.acquire],
    "Barrier": [
        asyncio.locks.Barrier.wait,
        getattr(asyncio.locks.Barrier, "_block", None),
        getattr(asyncio.locks.Barrier, "_wait", None),
    ],
    "Queue.get": [asyncio.queues.Queue.get],
    "Queue.put": [asyncio.queues.Queue.put],
    "Queue.join": [asyncio.queues.Queue.join],
    "sleep": [asyncio.tasks.sleep],
    "TaskGroup": [
        asyncio.TaskGroup.__aexit__,
        getattr(asyncio.TaskGroup, "_aexit", None),
    ],
    "wait": [getattr(asyncio.tasks, "_wait", None), asyncio.tasks.wait],
    "wait_for": [asyncio.tasks.wait_for],
}
for _kind, _functions in _WAITS.items():
    for _function in _functions:
        _c = _code(_function)
        if _c is not None:
            PRIMITIVE_WAITS[_c] = _kind


def frame_self(frame: FrameType) -> Any:
    """The ``self`` of a method's frame, or ``None``."""
    try:
        return frame.f_locals.get("self")
    except Exception:  # noqa: BLE001 - reading locals of a strange frame must not fail a report
        return None


def taskgroup_tasks(group: Any) -> list[asyncio.Task[Any]]:
    """The unfinished tasks of a ``TaskGroup``."""
    tasks = getattr(group, "_tasks", None)
    return [t for t in tasks if not t.done()] if tasks else []


# --- What a run knows about asyncio's primitives ------------------------------------------------
#
# asyncio's Lock does not record its owner, nor a Semaphore its holders, nor any primitive where
# it was made. While simulations run (the determinism guards are installed), the classes record
# them: ``Lock._locked`` is a property whose setter (only ``acquire`` sets it to True) notes the
# current task; ``Semaphore.acquire``/``release`` note who holds it; the ``__init__`` of each
# primitive gives it a number and notes where it was made. They record only in a thread whose
# run tracks locks (``track_primitives``), so other threads (a stock event loop's, another
# simulation's) are left alone; what they record lives in the instance ``__dict__``, so
# primitives made before tracking started, and tracking switched off mid-way, keep working.

_OWNER_KEY = "_simloop_owner"
_HOLDERS_KEY = "_simloop_holders"
_ORIGIN_KEY = "_simloop_origin"

#: Where user code made or acquired something: (file name, line, qualified function name).
Site = tuple[str, int, str]


class PrimitiveTracker:
    """What one loop's runs record about primitives: how many have been made (their numbers)."""

    __slots__ = ("made",)

    def __init__(self) -> None:
        self.made = 0


#: The tracker of each thread whose run tracks primitives.
_trackers: dict[int, PrimitiveTracker] = {}
_get_ident = threading.get_ident


def track_primitives(ident: int, tracker: PrimitiveTracker | None) -> PrimitiveTracker | None:
    """Make ``tracker`` record for thread ``ident`` (None: nothing); return the one before."""
    previous = _trackers.pop(ident, None)
    if tracker is not None:
        _trackers[ident] = tracker
    return previous


def _tracking() -> bool:
    return bool(_trackers) and _get_ident() in _trackers


def _current_task() -> asyncio.Task[Any] | None:
    loop = get_running_loop_or_none()
    return asyncio.tasks.current_task(loop) if loop is not None else None


def _user_site(frame: FrameType | None) -> Site | None:
    """The first frame of the user's code from ``frame`` outwards."""
    while frame is not None and is_library_frame(frame):
        frame = frame.f_back
    if frame is None:
        return None
    code = frame.f_code
    return (code.co_filename, frame.f_lineno, getattr(code, "co_qualname", code.co_name))


def _get_locked(lock: Any) -> bool:
    return bool(lock.__dict__.get("_locked", False))


def _set_locked(lock: Any, value: bool) -> None:
    state = lock.__dict__
    state["_locked"] = value
    if value and _tracking():
        task = _current_task()
        state[_OWNER_KEY] = None if task is None else weakref.ref(task)
    elif not value:
        state.pop(_OWNER_KEY, None)


def _recording_init(original: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if _trackers:
            tracker = _trackers.get(_get_ident())
            state = self.__dict__
            # A subclass's __init__ calls its base's: the first to finish numbers it.
            if tracker is not None and _ORIGIN_KEY not in state:
                tracker.made += 1
                state[_ORIGIN_KEY] = (tracker.made, _user_site(sys._getframe(1)))

    functools.update_wrapper(__init__, original)
    return __init__


_real_semaphore_acquire = asyncio.locks.Semaphore.acquire
_real_semaphore_release = asyncio.locks.Semaphore.release


async def _semaphore_acquire(self: Any) -> bool:
    acquired: bool = await _real_semaphore_acquire(self)
    if _tracking():
        task = _current_task()
        if task is not None:
            holders = self.__dict__.setdefault(_HOLDERS_KEY, [])
            holders.append((weakref.ref(task), _user_site(sys._getframe(0))))
    return acquired


def _semaphore_release(self: Any) -> None:
    _real_semaphore_release(self)
    holders = self.__dict__.get(_HOLDERS_KEY)
    if holders:
        # The releasing task need not be the one that acquired: it releases its own hold if
        # it has one, else the oldest.
        task = _current_task()
        index = next((i for i, (ref, _) in enumerate(holders) if ref() is task), 0)
        del holders[index]


functools.update_wrapper(_semaphore_acquire, _real_semaphore_acquire)
functools.update_wrapper(_semaphore_release, _real_semaphore_release)

#: The primitives whose creation is recorded (each class that defines its own __init__).
_NUMBERED: tuple[type, ...] = tuple(
    cls
    for cls in (
        asyncio.locks.Lock,
        asyncio.locks.Event,
        asyncio.locks.Condition,
        asyncio.locks.Semaphore,
        asyncio.locks.BoundedSemaphore,
        asyncio.locks.Barrier,
        asyncio.queues.Queue,
    )
    if "__init__" in cls.__dict__
)
_PRIMITIVE_PATCHES: list[tuple[type, str, Any]] = [
    (asyncio.locks.Lock, "_locked", property(_get_locked, _set_locked)),
    (asyncio.locks.Semaphore, "acquire", _semaphore_acquire),
    (asyncio.locks.Semaphore, "release", _semaphore_release),
    *((cls, "__init__", _recording_init(cls.__dict__["__init__"])) for cls in _NUMBERED),
]
_primitive_originals: list[tuple[type, str, Any]] = []


def start_tracking_primitives() -> None:
    """Instrument asyncio's primitives (the guards do it, under their lock, once for all
    simulations; each thread records only while :func:`track_primitives` says so)."""
    for owner, name, replacement in _PRIMITIVE_PATCHES:
        _primitive_originals.append((owner, name, owner.__dict__.get(name)))
        setattr(owner, name, replacement)


def stop_tracking_primitives() -> None:
    """Undo :func:`start_tracking_primitives`."""
    while _primitive_originals:
        owner, name, original = _primitive_originals.pop()
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)


def lock_owner(lock: Any) -> asyncio.Task[Any] | None:
    """The task that holds ``lock``, if lock tracking saw it acquire the lock."""
    if not _get_locked(lock):
        return None
    ref = lock.__dict__.get(_OWNER_KEY)
    return None if ref is None else ref()


def semaphore_holders(semaphore: Any) -> list[tuple[asyncio.Task[Any], Site | None]]:
    """The tasks that hold ``semaphore`` (as tracking saw them acquire it; some may have
    finished without releasing it), with where each acquired it, oldest first."""
    holders = semaphore.__dict__.get(_HOLDERS_KEY) or ()
    found = []
    for ref, site in holders:
        task = ref()
        if task is not None:
            found.append((task, site))
    return found


def origin_of(primitive: Any) -> tuple[int, Site | None] | None:
    """The number a run gave ``primitive`` and where the user's code made it, if tracking saw
    it made."""
    state = getattr(primitive, "__dict__", None)
    origin: tuple[int, Site | None] | None = state.get(_ORIGIN_KEY) if state else None
    return origin


def iter_frames_of_task(task: asyncio.Task[Any]) -> Iterator[FrameType]:
    """Innermost frame first."""
    return reversed(coroutine_frames(task))
