"""Socket details that real libraries depend on, each checked against stock asyncio over real
sockets (differences found by running anyio's own test suite on SimLoop)."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.to_thread
import pytest

import simloop


def on_both(main: Callable[[], Coroutine[Any, Any, Any]]) -> tuple[Any, Any]:
    """``main()`` run on a stock loop and on a SimLoop."""
    stock = asyncio.run(main())
    with asyncio.Runner(loop_factory=simloop.SimLoop) as runner:
        simulated = runner.run(main())
    return stock, simulated


async def connect_from_a_wildcard_address() -> tuple[str, str]:
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("0.0.0.0", 0), remote_addr=("127.0.0.1", 5000)
    )
    udp_source = udp.get_extra_info("sockname")[0]
    udp.close()
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tcp, _ = await loop.create_connection(
        asyncio.Protocol, "127.0.0.1", port, local_addr=("0.0.0.0", 0)
    )
    tcp_source = tcp.get_extra_info("sockname")[0]
    tcp.close()
    server.close()
    await server.wait_closed()
    return udp_source, tcp_source


def test_connecting_from_a_wildcard_address_takes_the_routed_source() -> None:
    stock, simulated = on_both(connect_from_a_wildcard_address)
    assert stock == simulated == ("127.0.0.1", "127.0.0.1")


def reusable_listener(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setblocking(False)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


async def two_listeners_on_one_port() -> bool:
    loop = asyncio.get_running_loop()
    first = reusable_listener(0)
    second = reusable_listener(first.getsockname()[1])
    servers = [await loop.create_server(asyncio.Protocol, sock=s) for s in (first, second)]
    same = first.getsockname() == second.getsockname()
    for server in servers:
        server.close()
        await server.wait_closed()
    return same


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here")
def test_so_reuseport_set_before_bind_is_kept() -> None:
    assert on_both(two_listeners_on_one_port) == (True, True)


async def referrers_of_a_refused_connection_error() -> list[str]:
    loop = asyncio.get_running_loop()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there
    errors: list[OSError] = []

    async def attempt() -> None:
        try:
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        except OSError as exc:
            errors.append(exc)

    await asyncio.create_task(attempt())
    error = errors.pop()
    return [type(referrer).__name__ for referrer in gc.get_referrers(error)]


def test_a_failed_connection_leaves_no_reference_cycle_to_its_error() -> None:
    # As stock asyncio (gh-124859): only the caller holds the error.
    assert on_both(referrers_of_a_refused_connection_error) == ([], [])


async def read_from_a_unix_server(address: str | bytes, data: bytes, **where: Any) -> bytes:
    """Start a Unix server that sends ``data`` (``where``: its ``path=`` or ``sock=``), connect
    to ``address`` and read what it sends."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_unix_server(answer, **where)
    reader, writer = await asyncio.open_unix_connection(address)
    received = await reader.read()
    writer.close()
    server.close()
    await server.wait_closed()
    return received


async def unix_server_at_a_path_that_is_not_utf8() -> bytes:
    path = os.path.join(tempfile.mkdtemp(), "s").encode() + b"\xf0"
    return await read_from_a_unix_server(path, b"hi", path=path)


def test_a_unix_path_may_be_any_bytes() -> None:
    assert on_both(unix_server_at_a_path_that_is_not_utf8) == (b"hi", b"hi")


async def bind_in_a_worker_then_serve() -> bytes:
    # anyio's create_unix_listener() binds in a worker thread.
    path = os.path.join(tempfile.mkdtemp(), "s")
    sock = socket.socket(socket.AF_UNIX)
    sock.setblocking(False)
    await asyncio.to_thread(sock.bind, path)
    sock.listen()
    return await read_from_a_unix_server(path, b"ok", sock=sock)


def test_a_socket_bound_in_an_executor_job_is_simulated() -> None:
    assert on_both(bind_in_a_worker_then_serve) == (b"ok", b"ok")


async def accept_without_the_loop() -> bytes:
    server_sock = socket.create_server(("127.0.0.1", 0))
    reader, writer = await asyncio.open_connection(*server_sock.getsockname())
    conn, _ = server_sock.accept()  # the connection is waiting: returns at once
    conn.close()
    data = await reader.read()
    writer.close()
    server_sock.close()
    return data


def test_a_plain_accept_takes_a_waiting_simulated_connection() -> None:
    assert on_both(accept_without_the_loop) == (b"", b"")


def test_a_plain_blocking_accept_with_nothing_waiting_is_an_escape() -> None:
    async def main() -> None:
        server_sock = socket.create_server(("127.0.0.1", 0))
        try:
            server_sock.accept()
        finally:
            server_sock.close()

    with pytest.raises(simloop.EscapedSimulationError, match="no connection waiting"):
        simloop.run(main())


def test_a_signal_sent_from_an_executor_job_reaches_the_runs_handler() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        heard: list[str] = []
        loop.add_signal_handler(signal.SIGUSR1, heard.append, "loop handler")
        await asyncio.to_thread(os.kill, os.getpid(), signal.SIGUSR1)
        await asyncio.sleep(0)
        loop.remove_signal_handler(signal.SIGUSR1)
        return heard

    # Not on a stock loop here: a real SIGUSR1 would be delivered to this process.
    assert simloop.run(main()) == ["loop handler"]


def test_stop_iteration_from_an_anyio_worker_reads_as_on_anyios_threads() -> None:
    def raises_stop_iteration() -> None:
        raise StopIteration

    async def main() -> str:
        try:
            await anyio.to_thread.run_sync(raises_stop_iteration)
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    stock = anyio.run(main, backend="asyncio")
    assert stock == "coroutine raised StopIteration"
    assert simloop.run(main()) == stock
