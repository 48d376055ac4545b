"""Network benchmarks: the simulated network against real loopback sockets on stock asyncio.

    python bench/net.py                  # about half a minute
    python bench/net.py --scale 0.2      # a quick look

Each workload runs on stock asyncio (the selector loop, real sockets on 127.0.0.1) and on
SimLoop (the simulated network, Fifo scheduler), in this process, one after the other; the
ratio is simulated speed over real speed (above 1: the simulation is faster). Each figure is
the best of ``--repeat`` runs (5), each after a garbage collection.

- stream: small messages (64-byte lines) over one TCP connection, read with readline();
- ping-pong: request/response round trips over one TCP connection;
- aiohttp: sequential GET requests to an aiohttp server over a keep-alive session;
- explore: schedules per second that ``simloop.explore`` runs of a small client/server test,
  against runs per second of the same test on stock asyncio.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simloop

# The real clock: inside a simulation, time.perf_counter reads virtual time (every reference
# to it, even one bound before the run).
perf_counter = simloop.lowlevel.real_time_functions()["perf_counter"]

Factory = Callable[[], asyncio.AbstractEventLoop]


def stock_loop() -> asyncio.AbstractEventLoop:
    return asyncio.SelectorEventLoop()


def sim_loop() -> asyncio.AbstractEventLoop:
    return simloop.SimLoop(max_steps=None)


def timed(factory: Factory, make: Callable[[], Coroutine[Any, Any, Any]]) -> float:
    gc.collect()  # garbage left by the previous run is not this one's cost
    with asyncio.Runner(loop_factory=factory) as runner:
        start = perf_counter()
        runner.run(make())
        return perf_counter() - start


async def stream(n: int) -> None:
    line = b"x" * 63 + b"\n"
    received = 0
    done = asyncio.Event()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        while await reader.readline():
            received += 1
        done.set()
        writer.close()

    server = await asyncio.start_server(sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(n):
        writer.write(line)
        if i % 64 == 0:
            await writer.drain()
    writer.write_eof()
    await done.wait()
    assert received == n
    writer.close()
    server.close()
    await server.wait_closed()


async def ping_pong(n: int) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line)
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(n):
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()


async def aiohttp_requests(n: int) -> None:
    import aiohttp
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as http:
        for _ in range(n):
            async with http.get(f"http://127.0.0.1:{port}/") as resp:
                assert await resp.text() == "hello"
    await runner.cleanup()


async def counter_test() -> None:
    """A small client/server test: two clients increment a counter on a line server."""
    store = {"n": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            if line == b"incr\n":
                store["n"] += 1
            writer.write(b"%d\n" % store["n"])
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(3):
            writer.write(b"incr\n")
            await reader.readline()
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(client(), client())
    server.close()
    await server.wait_closed()
    assert store["n"] == 6


def best(repeat: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the workload sizes")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    args = parser.parse_args()
    scale, repeat = args.scale, args.repeat
    print(
        f"simloop {simloop.__version__}, Python {platform.python_version()}, {platform.machine()}"
    )
    print(f"{'workload':<12} {'real loopback':>18} {'simulated':>18} {'ratio':>8}")

    def row(name: str, unit: str, count: int, make: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        real = best(repeat, lambda: timed(stock_loop, make))
        sim = best(repeat, lambda: timed(sim_loop, make))
        print(
            f"{name:<12} {count / real:>12,.0f} {unit:<5} {count / sim:>12,.0f} {unit:<5} {real / sim:>7.2f}x"
        )

    n = max(1, int(20_000 * scale))
    row("stream", "msg/s", n, lambda: stream(n))
    n = max(1, int(3_000 * scale))
    row("ping-pong", "msg/s", n, lambda: ping_pong(n))
    n = max(1, int(500 * scale))
    row("aiohttp", "req/s", n, lambda: aiohttp_requests(n))

    runs = max(1, int(300 * scale))
    real = best(repeat, lambda: timed(stock_loop, counter_test))

    def exploration() -> float:
        start = perf_counter()
        result = simloop.explore(counter_test, runs=runs)
        assert not result.found, result.failure
        return perf_counter() - start

    sim = best(repeat, exploration)
    print(
        f"{'explore':<12} {1 / real:>12,.0f} run/s {runs / sim:>12,.0f} run/s {real * runs / sim:>7.2f}x"
    )


if __name__ == "__main__":
    main()
