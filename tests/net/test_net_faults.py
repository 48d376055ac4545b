"""Latency, split and held-back writes, lost datagrams, resets and partitions: every one a
choice that replays, set by a test or injected by a search within declared bounds."""

from __future__ import annotations

import asyncio
import errno
from typing import Any

import pytest

import simloop
from simloop.net import Latency, Link, Network


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1000):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass  # reset, or timed out across a partition
    writer.close()


async def close(writer: asyncio.StreamWriter, server: asyncio.AbstractServer) -> None:
    """Close a connection and its server, and wait for the server's handlers to finish (on
    Python 3.11, asyncio logs an error for a handler cancelled at the end of the run)."""
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # it was reset: wait_closed() raises what ended it
    server.close()
    await server.wait_closed()


async def round_trip(link: Link, payloads: list[bytes]) -> Any:
    """Send the payloads (each after a short pause) and record the reads the server saw."""
    simloop.net.install(Network(link=link))
    reads: list[bytes] = []
    done = asyncio.Event()

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1000):
            reads.append(data)
        done.set()
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", 8080)
    loop = asyncio.get_running_loop()
    start = loop.time()
    _reader, writer = await asyncio.open_connection("127.0.0.1", 8080)
    connected = loop.time() - start
    for payload in payloads:
        writer.write(payload)
        await asyncio.sleep(0.001)
    writer.write_eof()
    await done.wait()
    writer.close()
    server.close()
    return reads, connected


def test_a_default_network_makes_no_choices() -> None:
    with asyncio.Runner(loop_factory=simloop.loop_factory(seed=1)) as runner:
        runner.run(round_trip(Link(), [b"abc", b"def"]))
        recorded = runner.get_loop().trace
    reads, _ = simloop.run(round_trip(Link(), [b"abc", b"def"]))
    assert reads == [b"abc", b"def"]
    # Only asyncio's own choices (ready callbacks): none with the JITTER kind's 2 to 3 options
    # of a network choice could tell apart; so compare against a run without the network.
    assert len(recorded.choices) > 0


def test_latency_is_virtual_time() -> None:
    reads, connected = simloop.run(round_trip(Link(latency=Latency.fixed(0.05)), [b"x"]))
    assert reads == [b"x"]
    assert connected == pytest.approx(0.05)


def test_latency_levels_are_choices_fifo_takes_the_smallest() -> None:
    link = Link(latency=Latency.uniform(0.001, 0.008, levels=8))
    assert link.latency.levels_ns == tuple(range(1_000_000, 9_000_000, 1_000_000))
    _, connected = simloop.run(round_trip(link, [b"x"]))
    assert connected == pytest.approx(0.001)
    seen = {round(simloop.run(round_trip(link, [b"x"]), seed=seed)[1], 6) for seed in range(20)}
    assert len(seen) > 3
    assert min(seen) >= 0.001


def test_split_and_held_back_writes_keep_the_bytes_in_order() -> None:
    link = Link(split=True, coalesce=True)
    payloads = [b"first-", b"second-", b"third"]
    shapes = set()
    for seed in range(40):
        reads, _ = simloop.run(round_trip(link, payloads), seed=seed)
        assert b"".join(reads) == b"first-second-third"
        shapes.add(tuple(reads))
    assert (b"first-", b"second-", b"third") in shapes  # whole
    assert any(len(shape) > 3 for shape in shapes)  # split
    assert any(len(shape) < 3 for shape in shapes)  # held back and coalesced
    # Fifo: an ideal loopback.
    assert simloop.run(round_trip(link, payloads))[0] == [b"first-", b"second-", b"third"]


def test_a_run_replays_exactly_with_its_network_choices() -> None:
    link = Link(latency=Latency.of(0, 0.01, 0.1), split=True, coalesce=True)

    def fingerprint(seed: int) -> tuple[str, Any]:
        with asyncio.Runner(loop_factory=simloop.loop_factory(seed=seed)) as runner:
            result = runner.run(round_trip(link, [b"abc", b"defg", b"hi"]))
            return runner.get_loop().trace.fingerprint(), result

    assert fingerprint(11) == fingerprint(11)
    assert fingerprint(11) != fingerprint(12)


class Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[bytes] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.append(data)


async def datagrams(link: Link, budget: int | None = 3) -> list[bytes]:
    simloop.net.install(Network(link=link, fault_budget=budget))
    loop = asyncio.get_running_loop()
    server_t, server = await loop.create_datagram_endpoint(Collect, local_addr=("127.0.0.1", 5000))
    client_t, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, remote_addr=("127.0.0.1", 5000)
    )
    for i in range(8):
        client_t.sendto(b"%d" % i)
        await asyncio.sleep(0.0001)
    await asyncio.sleep(1)
    server_t.close()
    client_t.close()
    return server.got


def test_datagrams_are_lost_duplicated_or_reordered_within_the_fault_budget() -> None:
    link = Link(drop=True, duplicate=True, reorder=True)
    everything = [b"%d" % i for i in range(8)]
    assert simloop.run(datagrams(link)) == everything
    outcomes = [simloop.run(datagrams(link), seed=seed) for seed in range(30)]
    assert any(len(got) < 8 for got in outcomes)  # lost
    assert any(len(got) > 8 for got in outcomes)  # duplicated
    assert any(sorted(got) == everything and got != everything for got in outcomes)  # reordered
    for got in outcomes:
        missing = len(set(everything) - set(got))
        duplicated = len(got) - len(set(got))
        assert missing + duplicated <= 3
    assert all(simloop.run(datagrams(link, budget=0), seed=s) == everything for s in range(5))


async def with_partition(action: str) -> Any:
    net = simloop.net.current()
    db = net.add_host("db")
    with db:
        server = await asyncio.start_server(echo, port=5432)
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("db", 5432)
    result: Any = None
    if action == "heal":
        net.partition({"local"}, {"db"})
        writer.write(b"held")
        loop.call_later(30, net.heal)
        result = await reader.readexactly(4), loop.time()
    elif action == "retransmit-timeout":
        net.partition("local", "db")
        writer.write(b"lost")
        try:
            await reader.read(10)
        except TimeoutError as exc:
            result = exc.errno, loop.time()
    elif action == "connect-timeout":
        net.isolate("db")
        try:
            await asyncio.open_connection("db", 5432)
        except TimeoutError as exc:
            result = str(exc), loop.time()
    elif action == "partition-for":
        simloop.net.partition_for("db", seconds=5)
        writer.write(b"late")
        result = await reader.readexactly(4), loop.time()
    net.heal()
    await close(writer, server)
    return result, net.log


def test_a_partition_holds_tcp_data_until_it_heals() -> None:
    (data, when), log = simloop.run(with_partition("heal"))
    assert (data, when) == (b"held", 30.0)
    assert log == ["t=0s partition local | db", "t=30s heal"]


def test_partition_for_heals_by_itself() -> None:
    (data, when), log = simloop.run(with_partition("partition-for"))
    assert (data, when) == (b"late", 5.0)
    assert log == ["t=0s isolate db", "t=5s end of isolate db"]


def test_tcp_gives_up_after_its_retransmit_timeout() -> None:
    (code, when), _ = simloop.run(with_partition("retransmit-timeout"))
    assert code == errno.ETIMEDOUT
    assert when == pytest.approx(924.6)


def test_a_connect_across_a_partition_times_out() -> None:
    (message, when), _ = simloop.run(with_partition("connect-timeout"))
    assert message == "[Errno 110] Connect call failed ('10.0.0.2', 5432)"
    assert when == pytest.approx(127.0)


def test_isolating_localhost_makes_a_local_server_unreachable() -> None:
    async def main() -> Any:
        server = await asyncio.start_server(echo, "127.0.0.1", 8080)
        simloop.net.partition_for("127.0.0.1", seconds=30)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 8080), 10)
        except TimeoutError:
            first = ("timed out", loop.time())
        await asyncio.sleep(25)
        _reader, writer = await asyncio.open_connection("127.0.0.1", 8080)
        await close(writer, server)
        return first, loop.time()

    assert simloop.run(main()) == (("timed out", 10.0), 35.0)


def test_a_one_way_cut() -> None:
    async def main() -> Any:
        net = simloop.net.current()
        a, b = net.add_host("a"), net.add_host("b")
        loop = asyncio.get_running_loop()
        with a:
            a_t, a_proto = await loop.create_datagram_endpoint(Collect, local_addr=("0.0.0.0", 1))
        with b:
            b_t, b_proto = await loop.create_datagram_endpoint(Collect, local_addr=("0.0.0.0", 1))
        net.cut("a", "b")
        a_t.sendto(b"a->b", ("b", 1))
        b_t.sendto(b"b->a", ("a", 1))
        await asyncio.sleep(1)
        a_t.close()
        b_t.close()
        return a_proto.got, b_proto.got

    assert simloop.run(main()) == ([b"b->a"], [])


# --- a search injects faults, and finds planted bugs -----------------------------------------


async def fragile_client() -> None:
    """Planted bug: the client does not expect its connection to be reset."""
    simloop.net.install(Network(link=Link(reset=True), fault_budget=1))
    server = await asyncio.start_server(echo, "127.0.0.1", 8080)
    reader, writer = await asyncio.open_connection("127.0.0.1", 8080)
    for word in (b"one", b"two", b"three"):
        writer.write(word)
        assert await reader.readexactly(len(word)) == word
    await close(writer, server)


def test_exploring_finds_a_client_that_breaks_on_a_reset() -> None:
    result = simloop.explore(fragile_client, runs=50)
    assert result.found
    assert result.failure is not None
    assert isinstance(result.failure.exception, (ConnectionResetError, asyncio.IncompleteReadError))
    assert result.trace is not None
    assert result.trace.events is not None
    notes = [step.deviation for step in result.trace.events if step.deviation]
    assert any("connection reset" in note for note in notes), notes
    replayed = simloop.replay(fragile_client, result.recording)
    assert type(replayed.failure.exception) is type(result.failure.exception)  # type: ignore[union-attr]


async def cache_with_a_partition() -> None:
    """Planted bug: a cache that gives up after one failed fetch and serves a stale default."""
    net = simloop.net.current()
    db = net.add_host("db")
    net.may_partition("db", seconds=(0.5, 5.0))
    with db:
        server = await asyncio.start_server(echo, port=5432)
    values = []
    for _ in range(3):
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("db", 5432), 1.0)
            writer.write(b"fresh")
            values.append(await asyncio.wait_for(reader.readexactly(5), 1.0))
            writer.close()
            await writer.wait_closed()
        except TimeoutError:
            values.append(b"stale")  # no retry
        await asyncio.sleep(0.1)
    server.close()
    assert values == [b"fresh"] * 3, values


def test_exploring_injects_a_declared_partition() -> None:
    assert simloop.run(cache_with_a_partition()) is None  # Fifo: no partition
    result = simloop.explore(cache_with_a_partition, runs=100)
    assert result.found
    assert result.trace is not None
    assert result.trace.events is not None
    notes = [step.deviation for step in result.trace.events if step.deviation]
    assert any("isolate db" in note for note in notes), notes
