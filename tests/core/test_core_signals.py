"""Signal handlers inside a simulation: installed on the run, delivered when the program sends
a signal to itself, never touching the process's own handlers."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest

import simloop
from simloop import EscapedSimulationError

SIG = signal.SIGUSR1


def _raise(sig: int) -> None:
    signal.raise_signal(sig)


def _kill(sig: int) -> None:
    os.kill(os.getpid(), sig)


SENDERS = [pytest.param(_raise, id="raise_signal"), pytest.param(_kill, id="os.kill")]


def test_a_handler_installed_in_a_run_never_reaches_the_process() -> None:
    before = signal.getsignal(SIG)

    def handler(signum: int, frame: Any) -> None:
        pass

    async def main() -> tuple[Any, Any, Any]:
        previous = signal.signal(SIG, handler)
        during = signal.getsignal(SIG)
        again = signal.signal(SIG, signal.SIG_IGN)
        return previous, during, again

    previous, during, again = simloop.run(main())
    assert previous is before  # the process's handler was the one in place
    assert during is handler
    assert again is handler
    assert signal.getsignal(SIG) is before


@pytest.mark.parametrize("send", SENDERS)
def test_a_python_handler_runs_inside_the_sending_call(send: Callable[[int], None]) -> None:
    events: list[Any] = []

    def handler(signum: int, frame: Any) -> None:
        events.append((signum, frame.f_code.co_name))
        raise LookupError("from the handler")

    async def main() -> list[Any]:
        signal.signal(SIG, handler)
        events.append("before")
        with pytest.raises(LookupError, match="from the handler"):
            send(SIG)
        events.append("after")
        return events

    assert simloop.run(main()) == ["before", (SIG, send.__name__), "after"]


@pytest.mark.parametrize("send", SENDERS)
def test_a_loop_handler_runs_as_a_ready_callback(send: Callable[[int], None]) -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        events: list[Any] = []
        loop.add_signal_handler(SIG, events.append, "signal")
        send(SIG)
        events.append("sent")
        await asyncio.sleep(0)
        send(SIG)
        await asyncio.sleep(0)
        assert loop.remove_signal_handler(SIG) is True
        assert loop.remove_signal_handler(SIG) is False
        return events

    assert simloop.run(main()) == ["sent", "signal", "signal"]


def test_a_loop_handler_runs_in_the_context_it_was_added_in() -> None:
    import contextvars

    who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        seen: list[str] = []
        who.set("installer")
        loop.add_signal_handler(SIG, lambda: seen.append(who.get()))
        who.set("sender")
        signal.raise_signal(SIG)
        await asyncio.sleep(0)
        return seen

    assert simloop.run(main()) == ["installer"]


def test_sig_ign_ignores_and_sig_dfl_is_refused_with_what_to_do() -> None:
    async def main() -> None:
        signal.signal(SIG, signal.SIG_IGN)
        signal.raise_signal(SIG)
        signal.signal(SIG, signal.SIG_DFL)
        signal.raise_signal(SIG)

    with pytest.raises(EscapedSimulationError) as caught:
        simloop.run(main())
    assert str(caught.value) == (
        "SIGUSR1 was sent to the process inside a simulated run while the run had set its "
        "handler to SIG_DFL: its default action would end the process, which a simulation "
        "cannot do. Install a handler for SIGUSR1 in the test, or do not send it."
    )


def test_removing_the_loop_handler_of_sigint_restores_keyboard_interrupt() -> None:
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, print)
        loop.remove_signal_handler(signal.SIGINT)
        return signal.getsignal(signal.SIGINT)

    assert simloop.run(main()) is signal.default_int_handler


def test_a_signal_the_run_installed_nothing_for_goes_to_the_process() -> None:
    received: list[int] = []
    previous = signal.signal(SIG, lambda signum, frame: received.append(signum))
    try:

        async def main() -> None:
            signal.raise_signal(SIG)

        simloop.run(main())
    finally:
        signal.signal(SIG, previous)
    assert received == [SIG]


def test_with_forbid_escapes_false_handlers_are_real() -> None:
    before = signal.getsignal(SIG)
    received: list[int] = []

    async def main() -> None:
        signal.signal(SIG, lambda signum, frame: received.append(signum))

    try:
        simloop.run(main(), forbid_escapes=False)
        assert signal.getsignal(SIG) is not before
        signal.raise_signal(SIG)
    finally:
        signal.signal(SIG, before)
    assert received == [SIG]


def test_each_run_starts_with_no_handler_of_its_own() -> None:
    async def install() -> None:
        asyncio.get_running_loop().add_signal_handler(SIG, print)
        signal.signal(signal.SIGUSR2, print)

    async def look() -> tuple[Any, Any]:
        return signal.getsignal(SIG), signal.getsignal(signal.SIGUSR2)

    simloop.run(install())
    assert simloop.run(look()) == (signal.getsignal(SIG), signal.getsignal(signal.SIGUSR2))


# --- the same errors as stock asyncio and the signal module ------------------------------------


def _outcome(call: Callable[[], Any]) -> tuple[str, str]:
    try:
        call()
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return "ok", ""


async def _coroutine_callback() -> None:
    pass


BAD_LOOP_CALLS: list[tuple[str, Callable[[asyncio.AbstractEventLoop], Any]]] = [
    ("a coroutine function", lambda loop: loop.add_signal_handler(SIG, _coroutine_callback)),
    ("a name", lambda loop: loop.add_signal_handler("SIGUSR1", print)),  # type: ignore[arg-type]
    ("number 0", lambda loop: loop.add_signal_handler(0, print)),
    ("number 1000", lambda loop: loop.add_signal_handler(1000, print)),
    ("SIGKILL", lambda loop: loop.add_signal_handler(signal.SIGKILL, print)),
    ("remove a name", lambda loop: loop.remove_signal_handler("x")),  # type: ignore[arg-type]
    ("remove 1000", lambda loop: loop.remove_signal_handler(1000)),
    ("remove one never added", lambda loop: loop.remove_signal_handler(signal.SIGUSR2)),
]


@pytest.mark.parametrize(("what", "call"), BAD_LOOP_CALLS, ids=[w for w, _ in BAD_LOOP_CALLS])
def test_loop_signal_methods_fail_as_stock_asyncio_does(
    what: str, call: Callable[[asyncio.AbstractEventLoop], Any]
) -> None:
    async def main() -> tuple[str, str]:
        return _outcome(lambda: call(asyncio.get_running_loop()))

    stock = asyncio.run(main())
    assert stock[0] != "ok" or what.startswith("remove")
    assert simloop.run(main()) == stock


BAD_SIGNAL_CALLS: list[tuple[str, Callable[[], Any]]] = [
    ("a name", lambda: signal.signal("SIGUSR1", print)),  # type: ignore[arg-type]
    ("number 1000", lambda: signal.signal(1000, print)),
    ("a handler that is not callable", lambda: signal.signal(SIG, 42)),  # type: ignore[arg-type]
    ("SIGKILL", lambda: signal.signal(signal.SIGKILL, print)),
    ("getsignal of 1000", lambda: signal.getsignal(1000)),
]


@pytest.mark.parametrize(("what", "call"), BAD_SIGNAL_CALLS, ids=[w for w, _ in BAD_SIGNAL_CALLS])
def test_signal_functions_fail_as_the_real_ones_do(what: str, call: Callable[[], Any]) -> None:
    real = _outcome(call)
    assert real[0] != "ok"

    async def main() -> tuple[str, str]:
        return _outcome(call)

    assert simloop.run(main()) == real


def test_outside_the_main_thread_signals_fail_as_they_do_for_real() -> None:
    outcomes: dict[str, Any] = {}

    async def main() -> tuple[tuple[str, str], tuple[str, str]]:
        loop = asyncio.get_running_loop()
        return (
            _outcome(lambda: signal.signal(SIG, print)),
            _outcome(lambda: loop.add_signal_handler(SIG, print)),
        )

    def in_a_thread() -> None:
        outcomes["stock"] = asyncio.run(main())
        outcomes["simloop"] = simloop.run(main())

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert outcomes["stock"][0][0] == "ValueError"
    assert outcomes["stock"][1][0] == "RuntimeError"
    assert outcomes["simloop"] == outcomes["stock"]


def test_a_server_that_shuts_down_on_a_signal_runs_unchanged() -> None:
    """The shape of uvicorn's and aiohttp's run_app: wait for SIGTERM, then close."""

    async def serve(stopped: list[str]) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 8080)
        try:
            await stop.wait()
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            server.close()
            await server.wait_closed()
            stopped.append(f"stopped at t={loop.time():g}")

    async def main() -> list[str]:
        stopped: list[str] = []
        task = asyncio.create_task(serve(stopped))
        await asyncio.sleep(5)
        os.kill(os.getpid(), signal.SIGTERM)
        await task
        return stopped

    assert simloop.run(main()) == ["stopped at t=5"]
    assert simloop.explore(main, runs=50).found is False
