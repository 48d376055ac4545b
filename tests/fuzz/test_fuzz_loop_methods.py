"""SimLoop's asyncio methods, fed hostile values, against stock asyncio.

For asyncio's own interface the model is stock asyncio: a value stock asyncio refuses must be
refused (with a named error, where stock asyncio's may be anything), and a value it accepts
may be accepted, or refused with a named error (simloop is stricter about times: ``nan`` as a
delay, say).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Callable
from typing import Any

import pytest
from fuzz_support import (
    Contract,
    close_if_coroutine,
    fuzz,
    is_own_error,
    values,
)
from hypothesis import given
from hypothesis import strategies as st

import simloop


def _nothing(*args: Any) -> None:
    pass


async def _coro() -> str:
    return "done"


def _fresh(value: Any) -> Any:
    """A coroutine drawn as a marker becomes a fresh coroutine per call."""
    return _coro() if isinstance(value, str) and value == "<coroutine>" else value


def _normalized(error: BaseException) -> tuple[type[BaseException], str]:
    """An exception's type and message, memory addresses left out."""
    return type(error), re.sub(r"0x[0-9a-f]+", "0x...", str(error))


#: method: (argument, call(loop, value) in a fresh loop, not running)
METHODS: dict[str, tuple[str, Callable[[asyncio.AbstractEventLoop, Any], Any]]] = {
    "call_soon": ("callback", lambda loop, v: loop.call_soon(v).cancel()),
    "call_later": ("delay", lambda loop, v: loop.call_later(v, _nothing).cancel()),
    "call_at": ("when", lambda loop, v: loop.call_at(v, _nothing).cancel()),
    "create_task": ("coro", lambda loop, v: _task_done(loop, loop.create_task(v))),
    "run_until_complete": ("future", lambda loop, v: loop.run_until_complete(v)),
    "set_exception_handler": ("handler", lambda loop, v: loop.set_exception_handler(v)),
    "set_task_factory": ("factory", lambda loop, v: loop.set_task_factory(v)),
    "set_default_executor": ("executor", lambda loop, v: loop.set_default_executor(v)),
    "run_in_executor": (
        "func",
        lambda loop, v: loop.run_until_complete(loop.run_in_executor(None, v)),
    ),
    "asyncio.sleep": ("delay", lambda loop, v: loop.run_until_complete(asyncio.sleep(v))),
}


def _task_done(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> Any:
    return loop.run_until_complete(task)


def stock_outcome(method: str, value: Any) -> tuple[bool | None, Any]:
    """Whether stock asyncio accepts ``value`` (None: it does something a model cannot say,
    such as raising the value's own error or waiting forever), and what it raised."""
    _, call = METHODS[method]
    loop = asyncio.new_event_loop()
    given = _fresh(value)
    try:
        if method in ("call_later", "call_at", "asyncio.sleep") and not _finite_enough(value):
            return None, None  # stock asyncio would wait that long, or overflow its selector
        call(loop, given)
        return True, None
    except Exception as exc:
        return (None if is_own_error(exc) else False), _normalized(exc)
    finally:
        close_if_coroutine(given)
        loop.set_task_factory(None)  # the drawn one may make no tasks at all
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.run_until_complete(loop.shutdown_default_executor())  # its worker threads
        loop.close()


def _finite_enough(value: Any) -> bool:
    """A delay stock asyncio can wait in a test: not a day, not NaN."""
    try:
        return bool(-1e9 < value < 0.01)
    except Exception:
        return True  # not comparable: stock asyncio refuses it at once


def sim_call(method: str, value: Any) -> Any:
    _, call = METHODS[method]
    loop = simloop.SimLoop()
    given = _fresh(value)
    try:
        return call(loop, given)
    except Exception as exc:
        # For the comparison with stock asyncio's error, as _normalized reads it.
        exc.args = (re.sub(r"0x[0-9a-f]+", "0x...", str(exc)),) if exc.args else ()
        raise
    finally:
        close_if_coroutine(given)
        simloop.lowlevel.abandon(loop)
        loop.close()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_loop_method(contract: Contract, method: str) -> None:
    argument = METHODS[method][0]

    @fuzz(40)
    @given(
        value=values(
            st.sampled_from(["<coroutine>", _nothing, None]),
            st.floats(0, 1e6),
            st.just(concurrent.futures.ThreadPoolExecutor()),
        )
    )
    def check(value: Any) -> None:
        stock, error = stock_outcome(method, value)
        contract.check(
            f"SimLoop.{method}({argument}=)",
            lambda: sim_call(method, value),
            # Refused by stock asyncio: refused here too. Accepted there: either.
            valid=False if stock is False else None,
            argument=argument,
            value=value,
            stock_error=error,
        )

    check()
