"""UnhandledExceptionsError: exceptions nobody retrieved fail the run, with exact messages."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from typing import Any

import pytest
from core_support import fifo_note

import simloop
from simloop import UnhandledExceptionsError
from simloop._loop import raise_unhandled

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


# --- a bare SimLoop behaves like asyncio's own loop; the harness fails -------------------------


async def crashed_task_and_reported_job() -> str:
    """The three ways a library's own tests meet exceptions asyncio only logs: a task nobody
    awaits crashes; a job scheduler reports a failed job to the exception handler (whose
    waiter also got the exception); an async generator refuses to close at shutdown."""
    loop = asyncio.get_running_loop()
    crashed = asyncio.create_task(crash(), name="fire-and-forget")
    await asyncio.sleep(1)
    del crashed
    try:
        raise RuntimeError("job failed")
    except RuntimeError as exc:
        loop.call_exception_handler({"message": "Job processing failed", "exception": exc})
    stuck = refuses_to_close()
    await stuck.__anext__()
    STUCK.append(stuck)  # kept alive: the Runner's shutdown_asyncgens() closes it
    return "main finished"


STUCK: list[object] = []


async def refuses_to_close() -> object:
    try:
        yield 1
    finally:
        raise RuntimeError("cannot close")  # as aclose() finalizes it


def messages_logged(caplog: pytest.LogCaptureFixture, run: Callable[[], object]) -> list[str]:
    gc.collect()
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        run()
        gc.collect()
    STUCK.clear()
    return sorted(r.getMessage().splitlines()[0].split(" <")[0] for r in caplog.records)


def run_with_runner(**loop_options: Any) -> object:
    with asyncio.Runner(loop_factory=simloop.loop_factory(**loop_options)) as runner:
        return runner.run(crashed_task_and_reported_job())


STOCK_LOG = [
    "Job processing failed",
    "Task exception was never retrieved",
    "an error occurred during closing of asynchronous generator",
]


def test_a_bare_loop_logs_what_asyncio_logs(caplog: pytest.LogCaptureFixture) -> None:
    stock = messages_logged(caplog, lambda: asyncio.run(crashed_task_and_reported_job()))
    assert stock == STOCK_LOG
    assert messages_logged(caplog, run_with_runner) == stock


def test_fail_on_unhandled_true_makes_a_bare_loop_fail(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(UnhandledExceptionsError) as info:
        messages_logged(caplog, lambda: run_with_runner(fail_on_unhandled=True))
    assert [type(e) for e in info.value.exceptions] == [ValueError, RuntimeError]


def test_the_harness_fails_and_says_where_each_exception_came_from() -> None:
    with pytest.raises(UnhandledExceptionsError) as info:
        simloop.run(crashed_task_and_reported_job())
    STUCK.clear()
    notes = [e.__notes__ for e in info.value.exceptions]
    assert notes == [
        ["simloop: from task 'fire-and-forget' (task exception was never retrieved)"],
        ["simloop: reported to the loop's exception handler: Job processing failed"],
    ]
    # The generator fails to close in the cleanup after the run failed: a note on the failure.
    assert info.value.__notes__[0] == (
        "simloop: also unhandled during this run: RuntimeError('cannot close')"
    )


async def generator_left_open() -> str:
    stuck = refuses_to_close()
    await stuck.__anext__()
    STUCK.append(stuck)
    return "main finished"


def test_an_async_generator_that_fails_to_close_names_the_generator() -> None:
    with pytest.raises(UnhandledExceptionsError) as info:
        simloop.run(generator_left_open())
    STUCK.clear()
    (inner,) = info.value.exceptions
    line = refuses_to_close.__code__.co_firstlineno
    assert inner.__notes__ == [
        "simloop: raised while shutdown_asyncgens() closed the async generator "
        f"refuses_to_close() (tests/core/test_core_unhandled.py:{line}), which the program "
        "left unfinished"
    ]


# --- judged at defined points, whatever the garbage collector does ----------------------------


def fail_in_a_cycle(future: asyncio.Future[None]) -> None:
    try:
        raise ValueError("lost in a cycle")
    except ValueError as exc:
        # The traceback holds this frame, whose locals hold the future: a reference cycle.
        future.set_exception(exc)


async def lost_future(collect: bool) -> str:
    future = asyncio.get_running_loop().create_future()
    fail_in_a_cycle(future)
    del future
    await asyncio.sleep(1)
    if collect:
        gc.collect()
    await asyncio.sleep(1)
    return "main finished"


async def task_in_a_cycle() -> None:
    me = asyncio.current_task()
    await asyncio.sleep(0)
    raise ValueError(f"lost by {me.get_name() if me else None}")  # the traceback holds `me`


async def lost_task(collect: bool) -> str:
    asyncio.create_task(task_in_a_cycle())  # noqa: RUF006 - nobody keeps it: the point
    await asyncio.sleep(1)
    if collect:
        gc.collect()
    await asyncio.sleep(1)
    return "main finished"


def outcome(main: Callable[[bool], Any], collect: bool) -> tuple[str, list[str]]:
    gc.collect()
    gc.disable()
    try:
        try:
            return repr(simloop.run(main(collect))), []
        except UnhandledExceptionsError as exc:
            return str(exc), [*exc.__notes__, *(n for e in exc.exceptions for n in e.__notes__)]
    finally:
        gc.enable()
        gc.collect()


@pytest.mark.parametrize("main", [lost_future, lost_task])
def test_the_outcome_does_not_depend_on_when_the_collector_runs(
    main: Callable[[bool], Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.CRITICAL, logger="asyncio"):  # a freed future is logged
        assert outcome(main, collect=True) == outcome(main, collect=False)


def test_a_task_lost_in_a_cycle_fails_the_run() -> None:
    text, notes = outcome(lost_task, collect=True)
    assert text.startswith("1 exception nobody retrieved: ValueError('lost by Task-2')")
    assert "simloop: from task 'Task-2' (exception never retrieved)" in notes


def test_a_report_after_the_final_look_still_fails_at_close() -> None:
    # close() skips its own final look when one already found nothing and nothing ran since;
    # an exception reported in between (no step runs for it) must still be judged.
    loop = simloop.SimLoop(fail_on_unhandled=True)
    assert loop.run_until_complete(asyncio.sleep(0, "ok")) == "ok"
    raise_unhandled(loop, final=True)  # the harness's look: nothing
    loop.call_exception_handler({"message": "reported late", "exception": KeyError("late")})
    with pytest.raises(UnhandledExceptionsError) as info:
        loop.close()
    assert [repr(e) for e in info.value.exceptions] == ["KeyError('late')"]
    assert loop.is_closed()


def test_close_after_a_clean_final_look_finds_nothing_new() -> None:
    loop = simloop.SimLoop(fail_on_unhandled=True)
    loop.run_until_complete(asyncio.sleep(0))
    raise_unhandled(loop, final=True)
    loop.close()  # nothing to report: no error
    assert loop.is_closed()
