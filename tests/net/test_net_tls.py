"""TLS over the simulated network (asyncio's own TLS over ssl.MemoryBIO), and runs that replay
in other processes."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from typing import Any

import pytest
import trustme

import simloop


@pytest.fixture(scope="module")
def contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def shout(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
    writer.close()


async def tls_echo(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> Any:
    server = await asyncio.start_server(shout, "127.0.0.1", 8443, ssl=server_ctx)
    reader, writer = await asyncio.open_connection("localhost", 8443, ssl=client_ctx)
    writer.write(b"secret\n")
    line = await reader.readline()
    info = writer.get_extra_info("ssl_object")
    peercert = writer.get_extra_info("peercert")
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return line, info.version(), info.server_hostname, bool(peercert)


def test_tls_with_real_certificates(contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    expected = (b"SECRET\n", "TLSv1.3", "localhost", True)
    assert simloop.run(tls_echo(*contexts)) == expected
    for seed in range(8):
        assert simloop.run(tls_echo(*contexts), seed=seed) == expected


def test_an_untrusted_certificate_fails_the_handshake(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, _ = contexts

    async def main() -> BaseException:
        server = await asyncio.start_server(shout, "127.0.0.1", 8443, ssl=server_ctx)
        try:
            await asyncio.open_connection("localhost", 8443, ssl=ssl.create_default_context())
        except ssl.SSLCertVerificationError as exc:
            return exc
        finally:
            server.close()
        raise AssertionError("the handshake passed")

    err = simloop.run(main())
    assert "certificate verify failed" in str(err)


def test_start_tls_upgrades_a_plain_connection(
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, client_ctx = contexts

    async def starttls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readline() == b"STARTTLS\n"
        writer.write(b"go ahead\n")  # the client starts TLS only after this: no bytes race it
        await writer.drain()
        await writer.start_tls(server_ctx)
        line = await reader.readline()
        writer.write(b"over tls: " + line)
        await writer.drain()
        writer.close()

    async def main() -> Any:
        server = await asyncio.start_server(starttls, "127.0.0.1", 8025)
        reader, writer = await asyncio.open_connection("127.0.0.1", 8025)
        writer.write(b"STARTTLS\n")
        assert await reader.readline() == b"go ahead\n"
        await writer.start_tls(client_ctx, server_hostname="localhost")
        writer.write(b"hello\n")
        reply = await reader.readline()
        secure = writer.get_extra_info("ssl_object") is not None
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return reply, secure

    assert simloop.run(main()) == (b"over tls: hello\n", True)
    assert not simloop.explore(main, runs=30).found


SCRIPT = """
import asyncio, sys
sys.path.insert(0, {tests!r})
import simloop
from test_net_faults import round_trip
from simloop.net import Latency, Link

link = Link(latency=Latency.of(0, 0.01, 0.1), split=True, coalesce=True)
with asyncio.Runner(loop_factory=simloop.loop_factory(seed=7)) as runner:
    reads, _ = runner.run(round_trip(link, [b"abc", b"defg", b"hi", b"jklmn"]))
    print(runner.get_loop().trace.fingerprint(), reads)
"""


def test_network_runs_replay_in_other_processes() -> None:
    tests = os.path.dirname(__file__)
    outputs = set()
    for hash_seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT.format(tests=tests)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1, outputs
