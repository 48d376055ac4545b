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


# --- the real-time interval timer: SIGALRM in virtual time -------------------------------------


def _real_timer() -> tuple[float, float]:
    """The process's own ITIMER_REAL (read outside any run)."""
    return signal.getitimer(signal.ITIMER_REAL)


def test_alarm_sends_sigalrm_when_virtual_time_reaches_it() -> None:
    process_handler = signal.getsignal(signal.SIGALRM)
    assert _real_timer() == (0.0, 0.0)

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        events: list[Any] = []
        signal.signal(signal.SIGALRM, lambda signum, frame: events.append((signum, loop.time())))
        events.append(("armed", signal.alarm(3600)))
        await asyncio.sleep(1000)
        events.append(("left", signal.getitimer(signal.ITIMER_REAL)))
        await asyncio.sleep(5000)
        return events

    assert simloop.run(main()) == [
        ("armed", 0),
        ("left", (2600.0, 0.0)),
        (signal.SIGALRM, 3600.0),
    ]
    assert _real_timer() == (0.0, 0.0)  # the process's timer was never armed
    assert signal.getsignal(signal.SIGALRM) is process_handler


@pytest.mark.parametrize(
    ("seconds_left", "answer"),
    [(0.0, 0), (2.3, 2), (2.5, 3), (2.6, 3), (0.2, 1), (0.000001, 1), (7, 7)],
)
def test_alarm_answers_the_seconds_left_rounded_as_the_c_library_does(
    seconds_left: float, answer: int
) -> None:
    """glibc's alarm() rounds to the nearest second, but never answers 0 for an armed timer."""

    async def main() -> tuple[int, tuple[float, float]]:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        if seconds_left:
            signal.setitimer(signal.ITIMER_REAL, seconds_left, 1.0)
        left = signal.alarm(0)  # disarms it, interval and all
        return left, signal.getitimer(signal.ITIMER_REAL)

    assert simloop.run(main()) == (answer, (0.0, 0.0))


def test_setitimer_with_an_interval_rings_until_disarmed() -> None:
    async def main() -> tuple[list[float], list[Any]]:
        loop = asyncio.get_running_loop()
        rang: list[float] = []
        answers: list[Any] = []
        signal.signal(signal.SIGALRM, lambda signum, frame: rang.append(loop.time()))
        answers.append(signal.setitimer(signal.ITIMER_REAL, 0.5, 0.25))
        await asyncio.sleep(0.6)
        answers.append(signal.getitimer(signal.ITIMER_REAL))
        await asyncio.sleep(0.5)
        answers.append(signal.setitimer(signal.ITIMER_REAL, 0))
        await asyncio.sleep(10)
        return rang, answers

    rang, answers = simloop.run(main())
    assert rang == [0.5, 0.75, 1.0]
    assert answers == [(0.0, 0.0), (0.15, 0.25), (0.15, 0.25)]


def test_a_tiny_delay_still_arms_the_timer_rounded_up_to_the_microsecond() -> None:
    async def main() -> tuple[tuple[float, float], list[float]]:
        loop = asyncio.get_running_loop()
        rang: list[float] = []
        signal.signal(signal.SIGALRM, lambda signum, frame: rang.append(loop.time()))
        signal.setitimer(signal.ITIMER_REAL, 1e-9)
        armed = signal.getitimer(signal.ITIMER_REAL)
        await asyncio.sleep(1)
        return armed, rang

    assert simloop.run(main()) == ((0.000001, 0.0), [0.000001])


def test_a_loop_handler_of_sigalrm_runs_as_a_ready_callback_when_the_alarm_rings() -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        events: list[Any] = []
        rang = asyncio.Event()
        loop.add_signal_handler(signal.SIGALRM, lambda: (events.append(loop.time()), rang.set()))
        signal.alarm(7)
        await rang.wait()
        events.append("woken")
        return events

    assert simloop.run(main()) == [7.0, "woken"]


def test_a_watchdog_alarm_whose_handler_raises_ends_the_run_with_that_exception() -> None:
    """The classic test watchdog: a SIGALRM handler that raises stops a hung program."""

    class TooSlow(Exception):
        pass

    def on_alarm(signum: int, frame: Any) -> None:
        raise TooSlow(f"still running at t={asyncio.get_running_loop().time():g}s")

    async def hangs() -> None:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(30)
        await asyncio.Event().wait()

    with pytest.raises(TooSlow, match=r"still running at t=30s"):
        simloop.run(hangs())
    assert _real_timer() == (0.0, 0.0)


def test_an_alarm_with_no_handler_anywhere_is_reported_not_sent() -> None:
    previous = signal.signal(signal.SIGALRM, signal.SIG_DFL)
    try:

        async def main() -> None:
            signal.alarm(2)
            await asyncio.sleep(5)

        with pytest.raises(EscapedSimulationError) as caught:
            simloop.run(main())
    finally:
        signal.signal(signal.SIGALRM, previous)
    message = str(caught.value)
    assert message.startswith("SIGALRM from signal.alarm() or signal.setitimer() came due at t=2s")
    assert "signal.signal(signal.SIGALRM, ...)" in message


def test_an_alarm_the_run_has_no_handler_for_reaches_the_processs_python_handler() -> None:
    received: list[tuple[int, float]] = []

    def process_handler(signum: int, frame: Any) -> None:
        received.append((signum, asyncio.get_running_loop().time()))

    previous = signal.signal(signal.SIGALRM, process_handler)
    try:

        async def main() -> None:
            signal.alarm(4)
            await asyncio.sleep(5)

        simloop.run(main())
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert received == [(signal.SIGALRM, 4.0)]
    assert _real_timer() == (0.0, 0.0)


def test_each_run_starts_with_its_timer_disarmed() -> None:
    async def arm() -> None:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.setitimer(signal.ITIMER_REAL, 100, 1)

    async def look() -> tuple[float, float]:
        return signal.getitimer(signal.ITIMER_REAL)

    simloop.run(arm())
    assert simloop.run(look()) == (0.0, 0.0)


def test_an_interval_timer_rings_at_the_same_step_whenever_a_seed_is_run_again() -> None:
    """Three tasks race the timer's handler: the order differs between seeds, and each seed's
    run is the same every time."""

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        log: list[str] = []
        signal.signal(signal.SIGALRM, lambda signum, frame: log.append(f"alarm@{loop.time()}"))
        signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)

        async def worker(name: str) -> None:
            for i in range(4):
                await asyncio.sleep(0.0005)
                log.append(f"{name}{i}")

        await asyncio.gather(*(worker(name) for name in "abc"))
        return log

    runs = {seed: simloop.run(main(), seed=seed) for seed in range(8)}
    assert all(simloop.run(main(), seed=seed) == log for seed, log in runs.items())
    assert all(log.count("alarm@0.001") == 1 and "alarm@0.002" in log for log in runs.values())
    assert len({tuple(log) for log in runs.values()}) > 1


@pytest.mark.parametrize("which", ["ITIMER_VIRTUAL", "ITIMER_PROF"])
def test_cpu_time_timers_are_refused_inside_a_run(which: str) -> None:
    async def main() -> None:
        signal.setitimer(getattr(signal, which), 1.0)

    with pytest.raises(EscapedSimulationError, match=f"signal.setitimer\\(\\) of signal.{which}"):
        simloop.run(main())
    assert signal.getitimer(getattr(signal, which)) == (0.0, 0.0)


BAD_TIMER_CALLS: list[tuple[str, Callable[[], Any]]] = [
    ("which 99", lambda: signal.setitimer(99, 1.0)),
    ("negative seconds", lambda: signal.setitimer(signal.ITIMER_REAL, -1.0)),
    ("seconds as text", lambda: signal.setitimer(signal.ITIMER_REAL, "x")),  # type: ignore[arg-type]
    ("negative interval", lambda: signal.setitimer(signal.ITIMER_REAL, 1.0, -1.0)),
    ("which as text", lambda: signal.setitimer("a", 1)),  # type: ignore[arg-type]
    ("NaN seconds", lambda: signal.setitimer(signal.ITIMER_REAL, float("nan"))),
    ("1e30 seconds", lambda: signal.setitimer(signal.ITIMER_REAL, 1e30)),
    ("getitimer of 99", lambda: signal.getitimer(99)),
    ("alarm of text", lambda: signal.alarm("x")),  # type: ignore[arg-type]
    ("alarm of a float", lambda: signal.alarm(1.5)),  # type: ignore[arg-type]
    ("alarm of 2**40", lambda: signal.alarm(2**40)),
]


@pytest.mark.parametrize(("what", "call"), BAD_TIMER_CALLS, ids=[w for w, _ in BAD_TIMER_CALLS])
def test_timer_functions_fail_as_the_real_ones_do(what: str, call: Callable[[], Any]) -> None:
    real = _outcome(call)
    assert real[0] not in ("ok", "EscapedSimulationError")

    async def main() -> tuple[str, str]:
        return _outcome(call)

    assert simloop.run(main()) == real
    assert _real_timer() == (0.0, 0.0)
