"""What the exception handler is told when a callback raises: stock asyncio's context.

The loop's hot paths run callbacks inline rather than through ``Handle._run``, so they build
the context themselves (``_stdlib.callback_error_context``); each form of the run loop must
give the handler what stock asyncio's ``Handle._run`` gives it: the message, the exception,
the handle, and in debug mode where the handle was created (``source_traceback``).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

import simloop

FORMS = {
    "Fifo hot path": {},
    "chosen hot path": {"seed": 3},
    "observed path": {"seed": 3, "record_events": True},
}


def failing_callback(label: str) -> None:
    raise ValueError(f"callback {label} failed")


def contexts_on(loop: asyncio.AbstractEventLoop, debug: bool) -> tuple[list[dict[str, Any]], Any]:
    """Run a failing callback on ``loop``; return the handler's contexts and the handle."""
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: seen.append(context))
    loop.set_debug(debug)
    handles: list[asyncio.Handle] = []

    async def main() -> None:
        handles.append(loop.call_soon(failing_callback, "x"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return seen, handles[0]


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("form", list(FORMS))
def test_the_context_is_stock_asyncios(form: str, debug: bool) -> None:
    stock, stock_handle = contexts_on(asyncio.new_event_loop(), debug)
    seen, handle = contexts_on(simloop.SimLoop(**FORMS[form]), debug)
    assert len(seen) == len(stock) == 1
    (context,), (expected,) = seen, stock
    assert sorted(context) == sorted(expected)
    assert sorted(context) == (
        ["exception", "handle", "message", "source_traceback"]
        if debug
        else ["exception", "handle", "message"]
    )
    assert context["message"] == expected["message"]
    # 3.13 shows a callback's arguments only in debug mode (stock asyncio's repr of a handle).
    shown = "'x'" if debug or sys.version_info < (3, 13) else ""
    assert context["message"].startswith(f"Exception in callback failing_callback({shown})")
    assert type(context["exception"]) is ValueError
    assert str(context["exception"]) == "callback x failed"
    assert context["handle"] is handle
    assert expected["handle"] is stock_handle
    if debug:
        assert context["source_traceback"] is handle._source_traceback
        # Where the callback was scheduled: main's call_soon line, last, as in stock asyncio.
        assert context["source_traceback"][-1].name == "main"
        assert context["source_traceback"][-1].line == expected["source_traceback"][-1].line


@pytest.mark.parametrize("form", list(FORMS))
def test_a_handle_made_in_debug_mode_keeps_its_source_traceback(form: str) -> None:
    """A callback scheduled while debug mode was on, run after it was turned off: the hot
    path runs it, and still reports where it was scheduled, as ``Handle._run`` would."""
    results = []
    for loop in (asyncio.new_event_loop(), simloop.SimLoop(**FORMS[form])):
        seen: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _, context, seen=seen: seen.append(context))
        loop.set_debug(True)
        handle = loop.call_soon(failing_callback, "y")
        loop.set_debug(False)
        try:
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            loop.close()
        (context,) = seen
        assert context["handle"] is handle
        assert context["source_traceback"] is handle._source_traceback
        results.append((sorted(context), context["message"], context["source_traceback"][-1]))
    assert results[0][:2] == results[1][:2]
    assert results[0][2].line == results[1][2].line
