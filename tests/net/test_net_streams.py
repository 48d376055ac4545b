"""The simulated network's asyncio surface: streams, servers, errors as on a real machine."""

from __future__ import annotations

import asyncio
import errno
import socket
import sys
from typing import Any

import pytest

import simloop
from simloop.net import Network


async def upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def serve_once(
    host: str = "127.0.0.1", port: int = 8080, connect_to: str | None = None
) -> Any:
    server = await asyncio.start_server(upper, host, port)
    reader, writer = await asyncio.open_connection(connect_to or host, port)
    writer.write(b"hello\n")
    line = await reader.readline()
    names = (writer.get_extra_info("sockname"), writer.get_extra_info("peername"))
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return line, names, asyncio.get_running_loop().time()


@pytest.mark.parametrize(
    ("host", "connect_to", "sockname", "peername"),
    [
        ("127.0.0.1", None, ("127.0.0.1", 32768), ("127.0.0.1", 8080)),
        ("127.0.0.1", "localhost", ("127.0.0.1", 32768), ("127.0.0.1", 8080)),
        ("::1", None, ("::1", 32768, 0, 0), ("::1", 8080, 0, 0)),
        (None, "localhost", ("127.0.0.1", 32768), ("127.0.0.1", 8080)),
        ("localhost", None, ("127.0.0.1", 32768), ("127.0.0.1", 8080)),
    ],
)
def test_a_server_on_localhost_needs_no_set_up(host, connect_to, sockname, peername) -> None:
    line, names, end = simloop.run(serve_once(host, 8080, connect_to or host))
    assert line == b"HELLO\n"
    assert names == (sockname, peername)
    assert end == 0.0  # an ideal loopback: no virtual time passes


def test_every_seed_gets_the_same_answer() -> None:
    for seed in range(15):
        assert simloop.run(serve_once(), seed=seed)[0] == b"HELLO\n"


def _error(coro_factory: Any) -> BaseException:
    async def main() -> BaseException:
        try:
            await coro_factory()
        except BaseException as exc:
            return exc
        raise AssertionError("no error")

    return simloop.run(main())


def test_nobody_listening_is_connection_refused() -> None:
    err = _error(lambda: asyncio.open_connection("127.0.0.1", 9))
    assert isinstance(err, ConnectionRefusedError)
    assert str(err) == "[Errno 111] Connect call failed ('127.0.0.1', 9)"


def test_localhost_tries_each_address_and_reports_all_refusals() -> None:
    err = _error(lambda: asyncio.open_connection("localhost", 9))
    assert str(err) == (
        "Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 9), "
        "[Errno 111] Connect call failed ('::1', 9, 0, 0)"
    )


def test_an_unknown_name_is_a_gaierror() -> None:
    err = _error(lambda: asyncio.open_connection("nosuchhost", 80))
    assert isinstance(err, socket.gaierror)
    assert err.args == (socket.EAI_NONAME, "Name or service not known")


def test_a_port_in_use_is_eaddrinuse() -> None:
    async def two_servers() -> None:
        first = await asyncio.start_server(upper, "127.0.0.1", 8080)
        try:
            await asyncio.start_server(upper, "127.0.0.1", 8080)
        finally:
            first.close()

    err = _error(two_servers)
    assert isinstance(err, OSError)
    assert err.errno == errno.EADDRINUSE
    why = (
        "[errno 98] address already in use"
        if sys.version_info >= (3, 13)
        else "address already in use"
    )
    assert str(err) == (
        f"[Errno 98] error while attempting to bind on address ('127.0.0.1', 8080): {why}"
    )


def test_a_wildcard_server_conflicts_with_a_specific_one_and_frees_the_port_on_close() -> None:
    async def main() -> str:
        first = await asyncio.start_server(upper, None, 8080)
        try:
            await asyncio.start_server(upper, "127.0.0.1", 8080)
        except OSError as exc:
            refused = exc.errno
        first.close()
        await first.wait_closed()
        again = await asyncio.start_server(upper, "127.0.0.1", 8080)
        again.close()
        return refused

    assert simloop.run(main()) == errno.EADDRINUSE


def test_port_zero_gets_ephemeral_ports_in_order() -> None:
    async def main() -> list[int]:
        servers = [await asyncio.start_server(upper, "127.0.0.1", 0) for _ in range(3)]
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        for s in servers:
            s.close()
        return ports

    assert simloop.run(main()) == [32768, 32769, 32770]
    assert simloop.run(main(), seed=4) == [32768, 32769, 32770]


def test_getaddrinfo_and_getnameinfo() -> None:
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        stream = await loop.getaddrinfo("localhost", "http", type=socket.SOCK_STREAM)
        any_type = await loop.getaddrinfo("127.0.0.1", 53)
        passive = await loop.getaddrinfo(None, 80, flags=socket.AI_PASSIVE, type=socket.SOCK_STREAM)
        names = await loop.getnameinfo(("127.0.0.1", 80))
        numeric = await loop.getnameinfo(
            ("127.0.0.1", 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
        )
        return stream, [info[1] for info in any_type], [info[4] for info in passive], names, numeric

    stream, kinds, passive, names, numeric = simloop.run(main())
    assert stream == [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)),
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", 80, 0, 0)),
    ]
    assert kinds == [socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW]
    assert passive == [("0.0.0.0", 80), ("::", 80, 0, 0)]
    assert names == ("localhost", "http")
    assert numeric == ("127.0.0.1", "80")


def test_named_hosts_connect_from_their_own_address() -> None:
    async def main() -> Any:
        net = simloop.net.current()
        db = net.add_host("db", "10.0.0.5")
        client = net.add_host("client")
        seen = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("peername"))
            writer.close()

        with db:
            server = await asyncio.start_server(handle, port=5432)
        with client:
            reader, writer = await asyncio.open_connection("db", 5432)
            await reader.read()
        writer.close()
        server.close()
        # db's loopback is db's own: nothing listens on the local host's.
        try:
            await asyncio.open_connection("127.0.0.1", 5432)
        except ConnectionRefusedError:
            refused = True
        return seen, writer.get_extra_info("sockname"), refused, client.addresses

    seen, sockname, refused, addresses = simloop.run(main())
    assert addresses == ("10.0.0.2",)
    assert seen == [("10.0.0.2", 32768)]
    assert sockname == ("10.0.0.2", 32768)
    assert refused


def test_a_server_cannot_bind_another_hosts_address() -> None:
    async def main() -> None:
        simloop.net.add_host("db", "10.0.0.5")
        await asyncio.start_server(upper, "10.0.0.5", 80)

    err = _error(main)
    # As stock asyncio: EADDRNOTAVAIL is taken for a disabled address family, and skipped.
    assert str(err) == "could not bind on any address out of [('10.0.0.5', 80)]"


def test_half_close_write_eof() -> None:
    async def main() -> Any:
        async def collect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.read()  # until EOF
            writer.write(b"got " + data)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(collect, "127.0.0.1", 8080)
        reader, writer = await asyncio.open_connection("127.0.0.1", 8080)
        writer.write(b"a")
        writer.write(b"b")
        writer.write_eof()
        reply = await reader.read()
        writer.close()
        server.close()
        return reply, writer.can_write_eof()

    assert simloop.run(main()) == (b"got ab", True)


def test_closing_with_unread_data_resets_the_peer() -> None:
    async def main() -> BaseException | None:
        async def rude(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.transport.pause_reading()
            await asyncio.sleep(1)  # meanwhile data arrives, unread
            writer.close()

        server = await asyncio.start_server(rude, "127.0.0.1", 8080)
        reader, writer = await asyncio.open_connection("127.0.0.1", 8080)
        writer.write(b"12")
        try:
            await reader.read()
        except ConnectionResetError as exc:
            return exc
        finally:
            writer.close()
            server.close()
        return None

    err = simloop.run(main())
    assert isinstance(err, ConnectionResetError)
    assert err.errno == errno.ECONNRESET


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.transport: Any = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.events.append(data)

    def eof_received(self) -> None:
        self.events.append("eof")

    def pause_writing(self) -> None:
        self.events.append("pause_writing")

    def resume_writing(self) -> None:
        self.events.append("resume_writing")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append(("lost", type(exc).__name__ if exc else None))
        self.lost.set_result(None)


def test_backpressure_pauses_the_writer_until_the_reader_resumes() -> None:
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        simloop.net.install(Network(buffer_size=1000))
        server_side: list[Recorder] = []

        def factory() -> Recorder:
            server_side.append(Recorder())
            return server_side[-1]

        server = await loop.create_server(factory, "127.0.0.1", 8080)
        transport, client = await loop.create_connection(Recorder, "127.0.0.1", 8080)
        await asyncio.sleep(0)
        receiver = server_side[0]
        receiver.transport.pause_reading()
        transport.set_write_buffer_limits(high=500)
        transport.write(b"x" * 2000)  # 1000 go out, 1000 wait in the transport's buffer
        buffered = transport.get_write_buffer_size()
        await asyncio.sleep(1)
        paused_events = list(client.events)
        receiver.transport.resume_reading()
        while sum(len(e) for e in receiver.events if isinstance(e, bytes)) < 2000:
            await asyncio.sleep(0.1)
        transport.close()
        await client.lost
        server.close()
        return buffered, paused_events, client.events, transport.get_write_buffer_limits()

    buffered, paused, events, limits = simloop.run(main())
    assert buffered == 1000
    assert paused == ["made", "pause_writing"]
    assert events == ["made", "pause_writing", "resume_writing", ("lost", None)]
    assert limits == (125, 500)


def test_drain_blocks_under_backpressure() -> None:
    async def main() -> Any:
        simloop.net.install(Network(buffer_size=10_000))
        release = asyncio.Event()

        async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await release.wait()
            await reader.readexactly(1_000_000)
            writer.close()

        server = await asyncio.start_server(slow, "127.0.0.1", 8080)
        _reader, writer = await asyncio.open_connection("127.0.0.1", 8080)
        writer.write(b"y" * 1_000_000)  # more than the reader's 128 KiB before it pauses
        drain = asyncio.ensure_future(writer.drain())
        await asyncio.sleep(5)
        blocked = not drain.done()
        release.set()
        await drain
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return blocked

    assert simloop.run(main()) is True


class Buffered(asyncio.BufferedProtocol):
    def __init__(self) -> None:
        self.buffer = bytearray(4)
        self.chunks: list[bytes] = []
        self.done = asyncio.get_running_loop().create_future()

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.chunks.append(bytes(self.buffer[:nbytes]))

    def eof_received(self) -> None:
        self.done.set_result(None)


def test_buffered_protocols_get_data_in_their_buffer() -> None:
    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()

        async def send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"0123456789")
            writer.close()

        server = await asyncio.start_server(send, "127.0.0.1", 8080)
        transport, protocol = await loop.create_connection(Buffered, "127.0.0.1", 8080)
        await protocol.done
        transport.close()
        server.close()
        return protocol.chunks

    assert simloop.run(main()) == [b"0123", b"4567", b"89"]


def test_unix_sockets() -> None:
    async def main() -> Any:
        server = await asyncio.start_unix_server(upper, "/tmp/sim.sock")
        reader, writer = await asyncio.open_unix_connection("/tmp/sim.sock")
        writer.write(b"unix\n")
        line = await reader.readline()
        names = writer.get_extra_info("sockname"), writer.get_extra_info("peername")
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        try:
            await asyncio.open_unix_connection("/tmp/nobody.sock")
        except FileNotFoundError as exc:
            missing = exc.errno
        return line, names, missing

    assert simloop.run(main()) == (b"UNIX\n", ("", "/tmp/sim.sock"), errno.ENOENT)


class Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[Any] = []
        self.errors: list[str] = []
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.append((data, addr))
        if data.startswith(b"ping"):
            self.transport.sendto(b"pong" + data[4:], addr)

    def error_received(self, exc: Exception) -> None:
        self.errors.append(type(exc).__name__)


def test_udp_echo_and_icmp_refusal() -> None:
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        server_t, server = await loop.create_datagram_endpoint(
            Datagrams, local_addr=("127.0.0.1", 9999)
        )
        client_t, client = await loop.create_datagram_endpoint(
            Datagrams, remote_addr=("127.0.0.1", 9999)
        )
        client_t.sendto(b"ping1")
        client_t.sendto(b"ping2")
        await asyncio.sleep(0.1)
        lonely_t, lonely = await loop.create_datagram_endpoint(
            Datagrams, remote_addr=("127.0.0.1", 1)
        )
        lonely_t.sendto(b"anyone?")
        await asyncio.sleep(0.1)
        for t in (server_t, client_t, lonely_t):
            t.close()
        return server.got, client.got, lonely.errors

    server_got, client_got, errors = simloop.run(main())
    assert server_got == [(b"ping1", ("127.0.0.1", 32768)), (b"ping2", ("127.0.0.1", 32768))]
    assert client_got == [(b"pong1", ("127.0.0.1", 9999)), (b"pong2", ("127.0.0.1", 9999))]
    assert errors == ["ConnectionRefusedError"]


def test_sock_methods_on_simulated_sockets() -> None:
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        listener = simloop.net.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        address = listener.getsockname()

        async def serve() -> bytes:
            conn, _ = await loop.sock_accept(listener)
            data = await loop.sock_recv(conn, 100)
            await loop.sock_sendall(conn, data[::-1])
            conn.close()
            return data

        served = asyncio.ensure_future(serve())
        client = socket.socket()  # a real socket, never connected: the loop adopts it
        client.setblocking(False)
        await loop.sock_connect(client, address)
        await loop.sock_sendall(client, b"abc")
        reply = await loop.sock_recv(client, 100)
        eof = await loop.sock_recv(client, 100)
        client.close()
        listener.close()
        return await served, reply, eof, address

    assert simloop.run(main()) == (b"abc", b"cba", b"", ("127.0.0.1", 32768))


def test_a_blocking_simulated_socket_call_escapes() -> None:
    async def main() -> None:
        sock = simloop.net.socket()
        sock.connect(("127.0.0.1", 80))

    err = _error(main)
    assert isinstance(err, simloop.EscapedSimulationError)
    assert "setblocking(False)" in str(err)


def test_the_network_is_imported_only_when_used() -> None:
    import subprocess
    import sys

    code = (
        "import asyncio, sys, simloop\n"
        "simloop.run(asyncio.sleep(1))\n"
        "print('simloop.net' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_network_belongs_to_one_run() -> None:
    net = Network()

    async def main() -> None:
        simloop.net.install(net)

    simloop.run(main())
    with pytest.raises(simloop.InvalidArgumentError, match="belongs to another loop"):
        simloop.run(main())
