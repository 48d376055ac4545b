"""Servers: what ``loop.create_server`` and ``asyncio.start_server`` return in a simulation.

It behaves as asyncio's ``Server`` does from Python 3.12.1 on (``wait_closed`` waits until the
server is closed *and* every connection it accepted is gone), on every Python. Its clients
are kept in acceptance order, where asyncio keeps a ``WeakSet`` whose order (for
``close_clients``) would differ between processes.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING

from simloop.net._sockets import SimSocket

if TYPE_CHECKING:
    import ssl

    from simloop.net._transports import _BaseTransport


class Server(asyncio.AbstractServer):
    """A listening server on the simulated network."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: list[SimSocket],
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        ssl_context: ssl.SSLContext | None,
        backlog: int,
        ssl_handshake_timeout: float | None,
        ssl_shutdown_timeout: float | None,
        accept: Callable[..., None],
    ) -> None:
        self._loop = loop
        self._sockets: list[SimSocket] | None = sockets
        self._clients: dict[int, _BaseTransport] = {}
        self._next_client = 0
        self._waiters: list[asyncio.Future[None]] | None = []
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._ssl_context = ssl_context
        self._ssl_handshake_timeout = ssl_handshake_timeout
        self._ssl_shutdown_timeout = ssl_shutdown_timeout
        self._serving = False
        self._serving_forever_fut: asyncio.Future[None] | None = None
        self._accept = accept
        # Connections are served in the context the server was created in: its host, for one.
        self._context = contextvars.copy_context()

    def __repr__(self) -> str:
        return f"<Server sockets={self.sockets!r}>"

    def _attach(self, transport: _BaseTransport) -> None:
        assert self._sockets is not None
        self._next_client += 1
        transport._server_key = self._next_client  # type: ignore[attr-defined]
        self._clients[self._next_client] = transport

    def _detach(self, transport: _BaseTransport) -> None:
        self._clients.pop(getattr(transport, "_server_key", -1), None)
        if not self._clients and self._sockets is None:
            self._wakeup()

    def _wakeup(self) -> None:
        waiters = self._waiters
        self._waiters = None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def _start_serving(self) -> None:
        if self._serving:
            return
        self._serving = True
        for sock in self._sockets or ():
            sock.listen(self._backlog)
            self._context.run(self._accept, self, sock)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    @property
    def sockets(self) -> tuple[SimSocket, ...]:
        if self._sockets is None:
            return ()
        return tuple(self._sockets)

    def close(self) -> None:
        sockets = self._sockets
        if sockets is None:
            return
        self._sockets = None
        for sock in sockets:
            sock._clear_reader()
            sock.close()
        self._serving = False
        if self._serving_forever_fut is not None and not self._serving_forever_fut.done():
            self._serving_forever_fut.cancel()
            self._serving_forever_fut = None
        if not self._clients:
            self._wakeup()

    def close_clients(self) -> None:
        for transport in list(self._clients.values()):
            transport.close()

    def abort_clients(self) -> None:
        for transport in list(self._clients.values()):
            transport.abort()

    async def start_serving(self) -> None:
        self._start_serving()
        # As stock asyncio: skip one loop iteration.
        await asyncio.sleep(0)

    async def serve_forever(self) -> None:
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    async def wait_closed(self) -> None:
        if self._waiters is None:
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter
