"""UnhandledExceptionsError: exceptions nobody retrieved fail the run, with exact messages."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest
from core_support import fifo_note

import simloop
from simloop import UnhandledExceptionsError

TAIL = (
    ". A crash in a background task or a callback is only logged by asyncio; simloop fails the "
    "run (fail_on_unhandled=False to only log)."
)


async def crash() -> None:
    raise ValueError("boom")


def failing_callback() -> None:
    raise KeyError("callback")


CALLBACK_SOURCE = (
    f"failing_callback() at {failing_callback.__code__.co_filename}:"
    f"{failing_callback.__code__.co_firstlineno}"
)


async def crashed_background_task() -> str:
    asyncio.create_task(crash())  # noqa: RUF006 - fire and forget is the point
    await asyncio.sleep(1)
    return "main finished"


async def failing_call_soon() -> str:
    asyncio.get_running_loop().call_soon(failing_callback)
    await asyncio.sleep(1)
    return "main finished"


async def both() -> str:
    asyncio.create_task(crash(), name="crasher")  # noqa: RUF006
    asyncio.get_running_loop().call_soon(failing_callback)
    await asyncio.sleep(1)
    return "main finished"


def run_unhandled(main) -> UnhandledExceptionsError:
    with pytest.raises(UnhandledExceptionsError) as info:
        simloop.run(main)
    return info.value


def test_crashed_background_task() -> None:
    err = run_unhandled(crashed_background_task())
    assert str(err) == (
        "1 exception nobody retrieved: ValueError('boom') (from task 'Task-2' (task exception "
        f"was never retrieved)){TAIL} (1 sub-exception)"
    )
    assert err.message == str(err).removesuffix(" (1 sub-exception)")
    (inner,) = err.exceptions
    assert type(inner) is ValueError
    assert inner.args == ("boom",)
    assert inner.__notes__ == ["simloop: from task 'Task-2' (task exception was never retrieved)"]
    # Main step, the crash, the timer, main's last step, its done callback.
    assert err.__notes__ == [fifo_note(5, "1")]


def test_failing_call_soon_callback() -> None:
    err = run_unhandled(failing_call_soon())
    assert str(err) == (
        f"1 exception nobody retrieved: KeyError('callback') (Exception in callback "
        f"{CALLBACK_SOURCE}){TAIL} (1 sub-exception)"
    )
    (inner,) = err.exceptions
    assert type(inner) is KeyError
    assert inner.__notes__ == [f"simloop: Exception in callback {CALLBACK_SOURCE}"]


def test_crashed_task_and_failing_callback_together() -> None:
    err = run_unhandled(both())
    assert str(err) == (
        "2 exceptions nobody retrieved: ValueError('boom') (from task 'crasher' (task exception "
        "was never retrieved)); KeyError('callback') (Exception in callback "
        f"{CALLBACK_SOURCE}){TAIL} (2 sub-exceptions)"
    )
    assert [type(e) for e in err.exceptions] == [ValueError, KeyError]


def test_unhandled_exceptions_work_with_except_star() -> None:
    caught: list[tuple[type[BaseException], type[BaseException]]] = []
    try:
        simloop.run(both())
    except* ValueError as group:
        caught.extend((type(group), type(e)) for e in group.exceptions)
    except* KeyError as group:
        caught.extend((type(group), type(e)) for e in group.exceptions)
    assert caught == [(UnhandledExceptionsError, ValueError), (UnhandledExceptionsError, KeyError)]


def test_retrieved_exceptions_are_not_unhandled() -> None:
    async def main() -> str:
        task = asyncio.create_task(crash())
        await asyncio.sleep(1)
        assert isinstance(task.exception(), ValueError)
        return "ok"

    assert simloop.run(main()) == "ok"


def test_fail_on_unhandled_false_logs_instead(caplog: pytest.LogCaptureFixture) -> None:
    gc.collect()  # garbage other tests left behind is logged now, not below
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        assert simloop.run(both(), fail_on_unhandled=False) == "main finished"
        gc.collect()  # stock asyncio logs a task's lost exception when the task is collected
    messages = sorted(r.getMessage().splitlines()[0] for r in caplog.records)
    assert messages == [
        f"Exception in callback {CALLBACK_SOURCE}",
        "Task exception was never retrieved",
    ]
    assert all(r.name == "asyncio" for r in caplog.records)
