"""EscapedSimulationError: one exact message per way out of the simulation."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

import simloop
from simloop import EscapedSimulationError

ALLOW = " Pass forbid_escapes=False to allow it (the run is then not reproducible)."
NETWORK = (
    "a real network call depends on the world outside the simulation, so the run could not be "
    "replayed. Use the event loop's network methods (`await loop.getaddrinfo(...)`, "
    "`loop.sock_connect`, `asyncio.open_connection`...), which simloop simulates (see "
    "simloop.net)."
)
OUTSIDE = (
    " is outside the simulated network: reaching it would leave the simulation, so the run could "
    "not be replayed. Declare it in the simulated network, e.g. "
)
PROCESS = (
    "a subprocess runs outside simloop's control, so the run could not be replayed. Fake the "
    "subprocess in the test, or run this test on a real event loop."
)
THREAD = (
    "a real thread runs outside simloop's control, so the run could not be replayed. Use "
    "`await asyncio.to_thread(...)` or `loop.run_in_executor(...)`, which simloop runs "
    "deterministically."
)
FD = (
    "watching a real file descriptor depends on the world outside the simulation, so the run "
    "could not be replayed. Fake the I/O source in the test."
)


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def _real_connect(address: tuple[str, int]) -> None:
    # Making a real socket is allowed (the loop adopts unconnected ones); connecting it is not.
    with socket.socket() as sock:
        sock.connect(address)


# Each escape is tried from inside a task; the error must come out of the call itself, where
# the program can see (and catch) it.
ESCAPES: list[tuple[str, Callable[[], Any], str]] = [
    (
        "thread",
        lambda: threading.Thread(target=print).start(),
        "threading.Thread.start() was called inside a simulated run: " + THREAD + ALLOW,
    ),
    (
        "socket.connect",
        lambda: _real_connect(("127.0.0.1", 80)),
        "socket.socket.connect() was called inside a simulated run: " + NETWORK + ALLOW,
    ),
    (
        "getaddrinfo",
        lambda: socket.getaddrinfo("localhost", 80),
        "socket.getaddrinfo() was called inside a simulated run: " + NETWORK + ALLOW,
    ),
    (
        "subprocess.run",
        lambda: subprocess.run([sys.executable, "-c", "pass"], check=False),
        "subprocess.Popen() was called inside a simulated run: " + PROCESS + ALLOW,
    ),
    (
        "os.system",
        lambda: os.system("true"),
        "os.system() was called inside a simulated run: " + PROCESS + ALLOW,
    ),
    (
        "add_reader",
        lambda: _loop().add_reader(0, print),
        "loop.add_reader() was called inside a simulated run: " + FD,
    ),
    (
        "open_connection to a public name",
        lambda: asyncio.open_connection("example.com", 80),
        "The host name 'example.com'"
        + OUTSIDE
        + "`simloop.net.current().add_host('example.com', '10.0.0.9')`, or use a host that the "
        "test declared.",
    ),
    (
        "create_connection to a public address",
        lambda: _loop().create_connection(asyncio.Protocol, "93.184.216.34", 80),
        "The address 93.184.216.34"
        + OUTSIDE
        + "`simloop.net.current().add_host('server', '93.184.216.34')`, or use a host that the "
        "test declared.",
    ),
    (
        "subprocess_exec",
        lambda: _loop().subprocess_exec(asyncio.SubprocessProtocol, sys.executable),
        "loop.subprocess_exec() was called inside a simulated run: " + PROCESS,
    ),
    (
        "create_subprocess_exec",
        lambda: asyncio.create_subprocess_exec(sys.executable),
        "loop.subprocess_exec() was called inside a simulated run: " + PROCESS,
    ),
]


async def attempt(call: Callable[[], Any]) -> EscapedSimulationError:
    """Make the call; return the escape error caught right there, in the program."""
    try:
        result = call()
        if asyncio.iscoroutine(result):
            await result
    except EscapedSimulationError as exc:
        return exc
    raise AssertionError("the call escaped the simulation without an error")


@pytest.mark.parametrize(
    ("call", "message"),
    [pytest.param(call, message, id=name) for name, call, message in ESCAPES],
)
def test_escape_is_raised_at_the_call_site_with_its_message(call, message) -> None:
    err = simloop.run(attempt(call))
    assert str(err) == message
    assert isinstance(err, simloop.SimulationError)


@pytest.mark.parametrize(
    ("call", "message"),
    [pytest.param(call, message, id=name) for name, call, message in ESCAPES[:3]],
)
def test_uncaught_escape_fails_the_run_with_the_replay_note(call, message) -> None:
    async def main() -> None:
        result = call()
        if asyncio.iscoroutine(result):
            await result

    with pytest.raises(EscapedSimulationError) as info:
        simloop.run(main())
    assert str(info.value) == message
    assert len(info.value.__notes__) == 1
    assert info.value.__notes__[0].startswith("simloop: failed in stock asyncio's order")


def test_escapes_are_allowed_with_forbid_escapes_false() -> None:
    async def main() -> tuple[int, int]:
        ran: list[int] = []
        thread = threading.Thread(target=ran.append, args=(1,))
        thread.start()
        thread.join()
        with socket.socket() as sock:
            family = sock.family
        return ran[0], family

    assert simloop.run(main(), forbid_escapes=False) == (1, socket.AF_INET)


def test_the_fence_is_down_outside_a_run() -> None:
    simloop.run(asyncio.sleep(0))
    ran: list[int] = []
    thread = threading.Thread(target=ran.append, args=(1,))
    thread.start()
    thread.join()
    socket.socket().close()
    assert ran == [1]


def test_call_soon_threadsafe_from_a_foreign_thread() -> None:
    message = (
        "loop.call_soon_threadsafe() from another thread was called inside a simulated run: "
        "that thread runs outside simloop's control, and when its callback arrives depends on "
        "real-world timing, so the run could not be replayed. Run the work with "
        "`asyncio.to_thread(...)` "
        "inside the simulation instead."
    )
    loop = simloop.SimLoop()
    running = threading.Event()
    called = threading.Event()
    in_thread: list[BaseException] = []
    callbacks: list[str] = []

    def foreign() -> None:
        running.wait(10)
        try:
            loop.call_soon_threadsafe(callbacks.append, "from the thread")
        except BaseException as exc:
            in_thread.append(exc)
        called.set()

    async def main() -> str:
        running.set()
        assert called.wait(10)  # a real wait: the loop is running while the thread calls
        await asyncio.sleep(1)
        return "finished"

    thread = threading.Thread(target=foreign)  # started outside the simulation
    thread.start()
    try:
        with pytest.raises(EscapedSimulationError) as info:
            loop.run_until_complete(main())
    finally:
        thread.join()
        loop.close()
    # The foreign thread got the error at the call, and the loop failed the run with it.
    assert [str(e) for e in in_thread] == [message]
    assert str(info.value) == message
    assert callbacks == []
    assert loop.time() == 0  # the loop stopped at the next batch, before the sleep ended


def test_call_soon_threadsafe_from_the_loop_thread_is_fine() -> None:
    async def main() -> list[int]:
        got: list[int] = []
        asyncio.get_running_loop().call_soon_threadsafe(got.append, 1)
        await asyncio.sleep(0)
        return got

    assert simloop.run(main()) == [1]
