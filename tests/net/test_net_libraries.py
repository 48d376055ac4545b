"""Real networking libraries, unmodified, on the simulated network: aiohttp (server, client,
HTTPS), websockets, httpx (on asyncio, through anyio), uvicorn (with its signal handlers) and a
database-style client and server written in pure asyncio. Each is also explored, and the search
finds a bug planted in it."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
from typing import Any

import aiohttp
import httpx
import pytest
import trustme
import uvicorn
import websockets
from aiohttp import web

import simloop
from simloop.net import Latency, Link, Network

#: Packets take 0 or 5 ms: localhost, or a busy network. Fifo takes 0.
JITTERY = Link(latency=Latency.of(0, 0.005))


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1", "api")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


# --- aiohttp ---------------------------------------------------------------------------------


def items_app(log: list[str] | None = None) -> web.Application:
    app = web.Application()
    store: dict[str, Any] = {}

    async def put_item(request: web.Request) -> web.Response:
        body = await request.json()
        store[request.match_info["name"]] = body
        if log is not None:
            log.append(request.match_info["name"])
        return web.json_response({"stored": request.match_info["name"]}, status=201)

    async def get_item(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("work", "0")))
        name = request.match_info["name"]
        if name not in store:
            raise web.HTTPNotFound()
        return web.json_response(store[name])

    app.router.add_put("/items/{name}", put_item)
    app.router.add_get("/items/{name}", get_item)
    return app


async def serve(
    app: web.Application, host: str = "127.0.0.1", port: int = 8080, **site: Any
) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port, **site).start()
    return runner


async def aiohttp_round_trip() -> Any:
    runner = await serve(items_app())
    async with aiohttp.ClientSession() as http:
        async with http.put("http://localhost:8080/items/a", json={"n": 1}) as resp:
            created = resp.status, await resp.json()
        async with http.get("http://localhost:8080/items/a") as resp:
            fetched = resp.status, await resp.json()
        async with http.get("http://localhost:8080/items/zzz") as resp:
            missing = resp.status
    await runner.cleanup()
    return created, fetched, missing, asyncio.get_running_loop().time()


def test_aiohttp_server_and_client() -> None:
    expected = ((201, {"stored": "a"}), (200, {"n": 1}), 404, 0.0)
    assert simloop.run(aiohttp_round_trip()) == expected
    for seed in range(5):
        assert simloop.run(aiohttp_round_trip(), seed=seed) == expected


def test_aiohttp_https_with_real_certificates(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls

    async def main() -> Any:
        runner = await serve(items_app(), ssl_context=server_ctx, port=8443)
        async with aiohttp.ClientSession() as http:
            async with http.put(
                "https://localhost:8443/items/k", json=[1, 2], ssl=client_ctx
            ) as resp:
                assert resp.status == 201
            async with http.get("https://localhost:8443/items/k", ssl=client_ctx) as resp:
                body = await resp.json()
                version = resp.url.scheme
            try:
                await http.get("https://localhost:8443/items/k")  # the test CA is not trusted
            except aiohttp.ClientConnectorCertificateError:
                untrusted = True
        await runner.cleanup()
        return body, version, untrusted

    assert simloop.run(main()) == ([1, 2], "https", True)
    assert simloop.run(main(), seed=3) == ([1, 2], "https", True)


async def fetch_with_retries(
    http: aiohttp.ClientSession, url: str, *, retry_timeouts: bool = True
) -> Any:
    """A client with retries; ``retry_timeouts=False`` is the planted bug."""
    for _ in range(10):
        try:
            async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                return resp.status, await resp.json()
        except aiohttp.ClientConnectionError:
            pass
        except TimeoutError:
            if not retry_timeouts:
                raise
        await asyncio.sleep(1)
    raise AssertionError("gave up")


def test_aiohttp_partition_in_the_middle_of_a_request() -> None:
    async def main() -> Any:
        net = simloop.net.current()
        api = net.add_host("api")
        with api:
            runner = await serve(items_app(), host="0.0.0.0")
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as http:
            async with http.put("http://api:8080/items/a", json="v") as resp:
                assert resp.status == 201
            # The request reaches the server, which works for 1 s; the answer is cut off.
            loop.call_later(0.5, lambda: net.partition_for("api", seconds=10))
            start = loop.time()
            result = await fetch_with_retries(http, "http://api:8080/items/a?work=1")
            took = loop.time() - start
        await runner.cleanup()
        return result, took, net.log

    result, took, log = simloop.run(main())
    assert result == (200, "v")
    assert 10 <= took <= 14  # timed out, retried until the partition healed
    assert log == ["t=0.5s isolate api", "t=10.5s end of isolate api"]


async def service_behind_a_flaky_network(retry_timeouts: bool) -> None:
    net = simloop.net.current()
    api = net.add_host("api")
    net.may_partition("api", seconds=(3.0,))
    with api:
        runner = await serve(items_app(), host="0.0.0.0")
    async with aiohttp.ClientSession() as http:
        async with http.put("http://api:8080/items/a", json="v") as resp:
            assert resp.status == 201
        for _ in range(2):
            result = await fetch_with_retries(
                http, "http://api:8080/items/a", retry_timeouts=retry_timeouts
            )
            assert result == (200, "v")
    await runner.cleanup()


def test_exploring_aiohttp_finds_a_client_that_does_not_retry_timeouts() -> None:
    planted = simloop.explore(lambda: service_behind_a_flaky_network(False), runs=60)
    assert planted.found
    assert planted.failure is not None
    assert isinstance(planted.failure.exception, asyncio.TimeoutError)
    fixed = simloop.explore(lambda: service_behind_a_flaky_network(True), runs=20)
    assert not fixed.found


# --- websockets --------------------------------------------------------------------------------


async def hub(order: list[str], planted: bool) -> None:
    """Two clients announce themselves, the second 1 ms after the first; the planted bug
    assumes messages arrive in the order they were sent."""
    simloop.net.install(Network(link=JITTERY))
    seen: list[str] = []

    async def handler(ws: Any) -> None:
        async for message in ws:
            seen.append(message)
            await ws.send(f"ack {message}")

    async def client(name: str, delay: float) -> str:
        await asyncio.sleep(delay)
        async with websockets.connect("ws://localhost:8765") as ws:
            await ws.send(name)
            reply: str = await ws.recv()
            return reply

    async with websockets.serve(handler, "127.0.0.1", 8765):
        replies = await asyncio.gather(client("first", 0), client("second", 0.001))
    order.extend(seen)
    assert replies == ["ack first", "ack second"]
    if planted:
        assert seen == ["first", "second"], seen


def test_websockets_client_and_server() -> None:
    order: list[str] = []
    simloop.run(hub(order, planted=True))
    assert order == ["first", "second"]


def test_exploring_websockets_finds_a_hub_that_trusts_arrival_order() -> None:
    result = simloop.explore(lambda: hub([], planted=True), runs=60)
    assert result.found
    assert result.failure is not None
    assert "['second', 'first']" in str(result.failure.exception)
    assert not simloop.explore(lambda: hub([], planted=False), runs=20).found


# --- httpx on anyio on asyncio, calling aiohttp ------------------------------------------------


async def httpx_calls(planted: bool) -> Any:
    simloop.net.install(Network(link=JITTERY))
    log: list[str] = []
    runner = await serve(items_app(log))

    async def put(client: httpx.AsyncClient, name: str, delay: float) -> int:
        await asyncio.sleep(delay)
        response = await client.put(f"http://127.0.0.1:8080/items/{name}", json={"name": name})
        return response.status_code

    async with httpx.AsyncClient() as client:
        statuses = await asyncio.gather(put(client, "x", 0), put(client, "y", 0.001))
        fetched = (await client.get("http://127.0.0.1:8080/items/y")).json()
    await runner.cleanup()
    assert statuses == [201, 201]
    if planted:
        assert log == ["x", "y"], log  # the planted assumption: requests land in sent order
    return fetched, log


def test_httpx_calls_an_aiohttp_server() -> None:
    assert simloop.run(httpx_calls(planted=True)) == ({"name": "y"}, ["x", "y"])


def test_exploring_httpx_finds_requests_landing_out_of_order() -> None:
    result = simloop.explore(lambda: httpx_calls(planted=True), runs=60)
    assert result.found
    assert not simloop.explore(lambda: httpx_calls(planted=False), runs=15).found


# --- uvicorn: an ASGI server that installs signal handlers -------------------------------------


def counting_app(*, planted: bool) -> Any:
    """A plain ASGI app counting its requests; ``planted``: read, await, write back."""
    state = {"hits": 0}
    lock = asyncio.Lock()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if planted:
            seen = state["hits"]
            await asyncio.sleep(0.001)
            state["hits"] = seen + 1
        else:
            async with lock:
                state["hits"] += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(state["hits"]).encode()})

    app.state = state  # type: ignore[attr-defined]
    return app


async def uvicorn_serves(*, planted: bool) -> tuple[list[str], list[int]]:
    """uvicorn serving three concurrent httpx requests, stopped by SIGTERM; uvicorn hands the
    signal on to the handler in place before it (the test's) once it has shut down."""
    terminated: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: terminated.append(signum))
    app = counting_app(planted=planted)
    config = uvicorn.Config(app, host="127.0.0.1", port=8000, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    async with httpx.AsyncClient(base_url="http://127.0.0.1:8000") as client:
        responses = await asyncio.gather(*(client.get("/") for _ in range(3)))
    os.kill(os.getpid(), signal.SIGTERM)
    await serving
    assert app.state["hits"] == 3, app.state
    return sorted(r.text for r in responses), terminated


def test_uvicorn_serves_httpx_and_stops_on_sigterm() -> None:
    process_handler = signal.getsignal(signal.SIGTERM)
    assert simloop.run(uvicorn_serves(planted=False)) == (["1", "2", "3"], [signal.SIGTERM])
    assert signal.getsignal(signal.SIGTERM) is process_handler


def test_exploring_uvicorn_finds_the_lost_update() -> None:
    # Three requests that overlap in the app: the lost update shows in asyncio's own order.
    assert simloop.explore(lambda: uvicorn_serves(planted=True), runs=5).found
    assert not simloop.explore(lambda: uvicorn_serves(planted=False), runs=15).found


# --- a database-style client and server in pure asyncio ----------------------------------------


class KVServer:
    """A key-value store speaking a line protocol: ``GET k``, ``SET k v``, ``INCR k``."""

    def __init__(self) -> None:
        self.data: dict[str, int] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            command, key, *rest = line.decode().split()
            if command == "GET":
                writer.write(b"%d\n" % self.data.get(key, 0))
            elif command == "SET":
                self.data[key] = int(rest[0])
                writer.write(b"OK\n")
            elif command == "INCR":
                self.data[key] = self.data.get(key, 0) + 1
                writer.write(b"%d\n" % self.data[key])
            await writer.drain()
        writer.close()


class KVClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host: str, port: int) -> KVClient:
        return cls(*await asyncio.open_connection(host, port))

    async def call(self, *words: object) -> str:
        self.writer.write(" ".join(map(str, words)).encode() + b"\n")
        await self.writer.drain()
        return (await self.reader.readline()).decode().strip()

    async def increment(self, key: str, *, atomic: bool) -> None:
        if atomic:
            await self.call("INCR", key)
        else:  # the planted bug: read, then write back
            value = int(await self.call("GET", key))
            await self.call("SET", key, value + 1)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def counters(atomic: bool) -> int:
    simloop.net.install(Network(link=JITTERY))
    store = KVServer()
    with simloop.net.current().add_host("db"):
        server = await asyncio.start_server(store.handle, port=6379)

    async def worker(delay: float) -> None:
        await asyncio.sleep(delay)
        client = await KVClient.connect("db", 6379)
        await client.increment("hits", atomic=atomic)
        await client.close()

    await asyncio.gather(worker(0), worker(0.001))
    server.close()
    await server.wait_closed()
    assert store.data["hits"] == 2, store.data
    return store.data["hits"]


def test_database_style_client_and_server() -> None:
    assert simloop.run(counters(atomic=False)) == 2  # on an ideal loopback, no race shows


def test_exploring_the_database_pair_finds_the_lost_update() -> None:
    result = simloop.explore(lambda: counters(atomic=False), runs=60)
    assert result.found
    assert result.failure is not None
    assert "{'hits': 1}" in str(result.failure.exception)
    replayed = simloop.replay(lambda: counters(atomic=False), result.recording)  # type: ignore[arg-type]
    assert replayed.failure is not None
    assert not simloop.explore(lambda: counters(atomic=True), runs=30).found
