"""Sockets a program makes and binds itself, then hands to the loop: aiohttp's test server and
client (what pytest-aiohttp's fixtures use), ``socket.create_server()``, the "find an unused
port" idiom. Inside a run the bind is simulated: the same ports in every run, refused where a
real machine refuses, and nothing real is bound."""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import pytest
from aiohttp import test_utils, web

import simloop


async def hello(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("work", "0")))
    return web.Response(text=f"hello {request.query.get('name', 'you')}")


async def aiohttp_test_client() -> Any:
    app = web.Application()
    app.router.add_get("/", hello)
    async with (
        test_utils.TestServer(app) as server,
        test_utils.TestClient(server) as client,
    ):
        resp = await client.get("/", params={"name": "sim", "work": "2"})
        text = await resp.text()
        return resp.status, text, server.host, server.port, asyncio.get_running_loop().time()


def test_aiohttp_test_server_and_client_run_on_the_simulated_network() -> None:
    expected = simloop.run(aiohttp_test_client())
    status, text, host, port, now = expected
    assert (status, text, host, now) == (200, "hello sim", "127.0.0.1", 2.0)
    assert 32768 <= port < 61000  # a simulated ephemeral port
    for seed in range(5):
        assert simloop.run(aiohttp_test_client(), seed=seed) == expected


def test_exploring_an_aiohttp_test_client_replays() -> None:
    result = simloop.explore(aiohttp_test_client, runs=20, seed=1)
    assert not result.found, result
    assert result.runs == 20


async def bound_by_hand() -> dict[str, Any]:
    found: dict[str, Any] = {}
    with socket.socket() as probe:  # the "unused port" idiom
        probe.bind(("127.0.0.1", 0))
        found["probe"] = probe.getsockname()
    listener = socket.create_server(("127.0.0.1", 0))
    found["listener"] = listener.getsockname()
    found["listener repr"] = "laddr=('127.0.0.1'" in repr(listener)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, sock=listener)
    host, port = found["listener"]
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"ping\n")
    found["echo"] = await reader.readline()
    writer.close()
    server.close()
    await server.wait_closed()
    # Closing the socket freed its port: it can be bound again.
    again = socket.socket()
    again.bind(("127.0.0.1", port))
    found["rebound"] = again.getsockname() == (host, port)
    again.close()
    return found


def test_a_socket_bound_by_the_program_is_adopted_at_bind() -> None:
    found = simloop.run(bound_by_hand())
    assert found["probe"][0] == "127.0.0.1"
    assert found["listener"][0] == "127.0.0.1"
    assert found["listener"] != found["probe"]
    assert found["listener repr"]
    assert found["echo"] == b"ping\n"
    assert found["rebound"]
    assert simloop.run(bound_by_hand(), seed=4) == found


def test_binding_a_port_in_use_is_eaddrinuse() -> None:
    async def main() -> int:
        first = socket.create_server(("127.0.0.1", 0))
        second = socket.socket()
        try:
            second.bind(first.getsockname())
        except OSError as exc:
            return exc.errno or 0
        finally:
            second.close()
            first.close()
        return 0

    assert simloop.run(main()) == errno.EADDRINUSE


def test_binding_an_address_no_host_declared_is_an_escape_naming_it() -> None:
    async def main() -> None:
        with socket.socket() as sock:
            sock.bind(("10.9.9.9", 0))

    with pytest.raises(simloop.EscapedSimulationError, match=r"10\.9\.9\.9.*add_host"):
        simloop.run(main())


def test_a_declared_host_binds_its_own_address() -> None:
    async def main() -> tuple[Any, bytes]:
        db = simloop.net.add_host("db", "10.0.0.7")
        with db:
            listener = socket.create_server(("10.0.0.7", 5432))
            name = listener.getsockname()

            async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                writer.write(b"ready\n")
                writer.close()

            server = await asyncio.start_server(greet, sock=listener)
        reader, writer = await asyncio.open_connection("db", 5432)
        line = await reader.readline()
        writer.close()
        server.close()
        return name, line

    assert simloop.run(main()) == (("10.0.0.7", 5432), b"ready\n")


def test_outside_a_run_sockets_are_real() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        host, port = sock.getsockname()
    assert host == "127.0.0.1"
    assert port != 0


def test_without_the_fence_a_bind_is_real() -> None:
    async def main() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        return port

    port = simloop.run(main(), forbid_escapes=False)
    assert port != 0


# --- socket.socketpair() -------------------------------------------------------------------------


class Collect(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set_result(exc)


async def talk_over_a_socketpair() -> tuple[bytes, bytes, Any, Any]:
    """websockets' tests connect two protocols this way: each end of a socketpair handed to
    ``create_connection(sock=...)``."""
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    ta, pa = await loop.create_connection(Collect, sock=a)
    tb, pb = await loop.create_connection(Collect, sock=b)
    ta.write(b"ping")
    tb.write(b"pong")
    ta.write_eof()
    await asyncio.sleep(0.01)
    peers = ta.get_extra_info("peername"), tb.get_extra_info("sockname")
    ta.close()
    tb.close()
    await pa.closed, pb.closed
    return bytes(pa.data), bytes(pb.data), *peers


def test_a_socketpair_made_in_the_run_is_a_connected_simulated_pair() -> None:
    stock = asyncio.run(talk_over_a_socketpair())
    assert stock == (b"pong", b"ping", "", "")
    assert simloop.run(talk_over_a_socketpair()) == stock
    assert simloop.explore(talk_over_a_socketpair, runs=20).found is False


def test_a_socket_connected_before_the_run_is_refused_not_silently_disconnected() -> None:
    a, b = socket.socketpair()

    async def main() -> None:
        await asyncio.get_running_loop().create_connection(asyncio.Protocol, sock=a)

    try:
        with pytest.raises(simloop.EscapedSimulationError) as info:
            simloop.run(main())
    finally:
        a.close()
        b.close()
    assert str(info.value).startswith(
        "A real socket (AF_UNIX, connected to '') was handed to the loop inside a simulated "
        "run: it was connected outside the simulation"
    )


def test_patching_base_transport_get_extra_info_reaches_simulated_transports() -> None:
    from unittest import mock

    async def main() -> Any:
        _reader, writer = await asyncio.open_connection("127.0.0.1", 8080)
        with mock.patch("asyncio.BaseTransport.get_extra_info", return_value=("sock", 1234)):
            patched = writer.get_extra_info("sockname")
        writer.close()
        await writer.wait_closed()
        return patched

    async def with_a_server() -> Any:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 8080)
        async with server:
            return await main()

    assert simloop.run(with_a_server()) == ("sock", 1234)
