"""Helpers shared by the tests in tests/core (imported as a plain module, not a conftest)."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

import pytest

import simloop

#: The real clock, inside a run too (where ``time.perf_counter`` reads virtual time, even a
#: reference to it bound before the run).
wall_clock = simloop.lowlevel.real_time_functions()["perf_counter"]


def short_path(filename: str) -> str:
    """A file name as simloop's reports show it: relative to the working directory if inside."""
    relative = os.path.relpath(filename)
    return filename if relative.startswith("..") else relative


def line_of(func: Callable[..., Any], text: str) -> int:
    """The line number of the only line of ``func``'s source that contains ``text``."""
    func = inspect.unwrap(func)
    lines, first = inspect.getsourcelines(func)
    found = [first + i for i, line in enumerate(lines) if text in line]
    assert len(found) == 1, f"{text!r} is on lines {found} of {func.__qualname__}"
    return found[0]


def location(func: Callable[..., Any], text: str) -> str:
    """``"tests/core/x.py:12 in func"``: where a task suspended at ``text`` is reported."""
    func = inspect.unwrap(func)
    code = func.__code__
    return f"{short_path(code.co_filename)}:{line_of(func, text)} in {code.co_name}"


def hash_seed_is_random() -> bool:
    return (
        bool(sys.flags.hash_randomization)
        and not os.environ.get("PYTHONHASHSEED", "random").isdigit()
    )


#: What the replay note ends with in this process.
HASH_SEED_ADVICE = (
    " (PYTHONHASHSEED is random in this process: if a replay differs, the program may depend "
    "on the order of a set of strings; pin it, e.g. PYTHONHASHSEED=0.)"
    if hash_seed_is_random()
    else ""
)


def fifo_note(steps: int, at: str) -> str:
    return (
        f"simloop: failed in stock asyncio's order (Fifo scheduler) after {steps} steps at "
        f"virtual time {at}s. No other interleaving was involved: it fails the same way on "
        f"every run.{HASH_SEED_ADVICE}"
    )


def abandon(loop: simloop.SimLoop) -> None:
    """Close a loop that cannot run its leftover tasks, and their coroutines.

    Closing the coroutines keeps a task that never started from warning, when it is collected
    during some later test, that its coroutine was never awaited.
    """
    for task in asyncio.all_tasks(loop):
        task.get_coro().close()
    loop.close()


def collected_quietly(call: Callable[[], Any]) -> BaseException:
    """The exception ``call()`` raises, after garbage-collecting what it left behind, which
    must go quietly: a SimLoop whose constructor raised must not complain from ``__del__``
    ("Exception ignored in BaseEventLoop.__del__")."""
    caught: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = caught.append
    try:
        try:
            call()
        except Exception as exc:
            error = exc
        else:
            pytest.fail(f"{call} raised nothing")
        error.__traceback__ = None
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert not caught, [f"{u.exc_type.__name__}: {u.exc_value} in {u.object!r}" for u in caught]
    return error


def invalid_argument(call: Callable[[], Any]) -> simloop.InvalidArgumentError:
    """The InvalidArgumentError ``call()`` raises, checked to be a TypeError and a ValueError."""
    error = collected_quietly(call)
    assert type(error) is simloop.InvalidArgumentError, repr(error)
    assert isinstance(error, TypeError)
    assert isinstance(error, ValueError)
    assert isinstance(error, simloop.SimulationError)
    return error
