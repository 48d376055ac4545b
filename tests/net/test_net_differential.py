"""The same scenarios on stock asyncio over real loopback sockets and on the simulated network.

Each scenario records what its protocols saw (callbacks, data, errors) where the outcome is
defined: how a real kernel splits a byte stream into reads is not, so consecutive data is
joined before comparing. Real runs bind port 0 and wait on futures, never on a real clock.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import simloop

Scenario = Callable[[], Coroutine[Any, Any, Any]]


def run_real(scenario: Scenario) -> Any:
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        return runner.run(scenario())


def run_simulated(scenario: Scenario, seed: int | None = None) -> Any:
    return simloop.run(scenario(), seed=seed)


def normalized(events: list[Any]) -> list[Any]:
    """Consecutive data joined: the kernel decides how a stream is cut into reads."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += event
        else:
            out.append(event)
    return out


class Recorder(asyncio.Protocol):
    def __init__(self, *, pause: bool = False, echo: bool = False) -> None:
        self.events: list[Any] = []
        self.transport: Any = None
        self.pause = pause
        self.echo = echo
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.made: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.got_eof: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")
        if self.pause:
            transport.pause_reading()
        self.made.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.events.append(data)
        if self.echo:
            self.transport.write(data.upper())

    def eof_received(self) -> bool | None:
        self.events.append("eof")
        self.got_eof.set_result(None)
        return None

    def pause_writing(self) -> None:
        self.events.append("pause_writing")

    def resume_writing(self) -> None:
        self.events.append("resume_writing")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append(("lost", None if exc is None else type(exc).__name__))
        self.lost.set_result(None)


async def _pair(**server_options: Any) -> tuple[Any, Recorder, Recorder, Any]:
    loop = asyncio.get_running_loop()
    servers: list[Recorder] = []

    def factory() -> Recorder:
        servers.append(Recorder(**server_options))
        return servers[-1]

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, client = await loop.create_connection(Recorder, "127.0.0.1", port)
    while not servers:
        await asyncio.sleep(0)
    await servers[0].made
    return server, client, servers[0], transport


async def echo_then_close() -> Any:
    server, client, served, transport = await _pair(echo=True)
    transport.write(b"hello ")
    transport.write(b"world")
    while sum(len(e) for e in client.events if isinstance(e, bytes)) < 11:
        await asyncio.sleep(0)
    transport.close()
    await client.lost
    await served.lost
    server.close()
    return normalized(client.events), normalized(served.events)


async def half_close() -> Any:
    server, client, served, transport = await _pair()
    transport.write(b"request")
    transport.write_eof()
    await served.got_eof
    served.transport.write(b"response")
    served.transport.close()
    await client.lost
    await served.lost
    server.close()
    return normalized(client.events), normalized(served.events)


async def abort_without_unread_data() -> Any:
    server, client, served, transport = await _pair()
    transport.abort()
    await client.lost
    await served.lost
    server.close()
    return client.events, served.events


async def close_with_unread_data() -> Any:
    server, client, served, transport = await _pair(pause=True)
    transport.write(b"never read")
    await asyncio.sleep(0)
    served.transport.close()
    await served.lost
    await client.lost
    server.close()
    return client.events, served.events


async def backpressure() -> Any:
    server, client, served, transport = await _pair(pause=True)
    chunk = b"z" * 65536
    while "pause_writing" not in client.events:
        transport.write(chunk)
        await asyncio.sleep(0)
    served.transport.resume_reading()
    while "resume_writing" not in client.events:
        await asyncio.sleep(0)
    transport.close()
    await client.lost
    await served.lost
    server.close()
    return client.events


async def refused() -> Any:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    try:
        await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    except OSError as exc:
        return type(exc).__name__, exc.errno, str(exc).replace(str(port), "PORT")
    return None


async def address_in_use() -> Any:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await loop.create_server(asyncio.Protocol, "127.0.0.1", port)
    except OSError as exc:
        return exc.errno, str(exc).replace(str(port), "PORT")
    finally:
        server.close()
    return None


class Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.transport: Any = None
        self.waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.events.append(data)
        if data.startswith(b"ping"):
            self.transport.sendto(b"pong" + data[4:], addr)
        if not self.waiter.done():
            self.waiter.set_result(None)

    def error_received(self, exc: Exception) -> None:
        self.events.append(type(exc).__name__)
        if not self.waiter.done():
            self.waiter.set_result(None)


async def udp() -> Any:
    loop = asyncio.get_running_loop()
    server_t, server = await loop.create_datagram_endpoint(Datagrams, local_addr=("127.0.0.1", 0))
    port = server_t.get_extra_info("sockname")[1]
    client_t, client = await loop.create_datagram_endpoint(
        Datagrams, remote_addr=("127.0.0.1", port)
    )
    client_t.sendto(b"ping")
    await client.waiter
    # (What happens to a datagram nobody listens for depends on the kernel: Linux answers
    # a connected sender with a refusal, some sandboxes with nothing. test_net_streams pins
    # the simulation's Linux behaviour.)
    server_t.close()
    client_t.close()
    return server.events, client.events


async def streams() -> Any:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines = []
        while line := await reader.readline():
            lines.append(line)
            writer.write(b"%d\n" % len(lines))
            await writer.drain()
        writer.write(b"bye")
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies = []
    for word in (b"a\n", b"b\n", b"c\n"):
        writer.write(word)
        await writer.drain()
        replies.append(await reader.readline())
    writer.write_eof()
    replies.append(await reader.read())
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return replies


async def unix_streams() -> Any:
    import os
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), "server.sock")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read()
        writer.write(data[::-1])
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_unix_server(handle, path)
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(b"unix")
    writer.write_eof()
    reply = await reader.read()
    names = writer.get_extra_info("peername") == path, writer.get_extra_info("sockname")
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    try:
        await asyncio.open_unix_connection(path + ".missing")
    except OSError as exc:
        missing = type(exc).__name__, exc.errno
    return reply, names, missing


SCENARIOS = [
    echo_then_close,
    half_close,
    abort_without_unread_data,
    close_with_unread_data,
    backpressure,
    refused,
    address_in_use,
    udp,
    streams,
    unix_streams,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_the_simulated_network_matches_real_loopback(scenario: Scenario) -> None:
    real = run_real(scenario)
    assert run_simulated(scenario) == real
    # Other schedules may change the order of events between the two ends, never what each
    # end sees.
    for seed in range(3):
        assert run_simulated(scenario, seed=seed) == real


def test_getaddrinfo_of_numeric_addresses_matches_the_real_resolver() -> None:
    async def lookups() -> Any:
        loop = asyncio.get_running_loop()
        return [
            await loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM),
            await loop.getaddrinfo("::1", "8080", type=socket.SOCK_DGRAM),
            await loop.getaddrinfo(None, 80, flags=socket.AI_PASSIVE, type=socket.SOCK_STREAM),
            await loop.getaddrinfo("127.0.0.1", 80),
        ]

    assert run_simulated(lookups) == run_real(lookups)
