"""TLS over the simulated network: asyncio's own ``SSLProtocol`` on a simulated transport.

Stock asyncio's selector loop makes a TLS connection by putting
``asyncio.sslproto.SSLProtocol`` (TLS over ``ssl.MemoryBIO``) between a plain socket transport
and the application's protocol; this does exactly that, over a simulated one. So the handshake,
certificate checks, ``ssl_handshake_timeout`` and the shutdown are asyncio's and OpenSSL's, with
real certificates (made for a test with ``trustme``, say). ``sslproto`` is the only module of
asyncio's internals the network uses, here and nowhere else.

OpenSSL draws its own random numbers, which simloop does not seed: the bytes on the wire differ
between runs, but their number and the order of events do not, so runs still replay.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
from typing import TYPE_CHECKING, Any

from simloop.net._transports import StreamTransport

if TYPE_CHECKING:
    from simloop.net._server import Server
    from simloop.net._sockets import SimSocket


def ssl_transport(
    loop: asyncio.AbstractEventLoop,
    sock: SimSocket,
    protocol: Any,
    sslcontext: Any,
    waiter: asyncio.Future[Any],
    *,
    server_side: bool,
    server_hostname: str | None,
    extra: dict[str, Any] | None = None,
    server: Server | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> asyncio.Transport:
    """What the selector loop's ``_make_ssl_transport`` makes: the application's transport."""
    ssl_protocol = asyncio.sslproto.SSLProtocol(
        loop,
        protocol,
        sslcontext,
        waiter,
        server_side,
        server_hostname,
        # typeshed says int; asyncio takes seconds as any number.
        ssl_handshake_timeout=ssl_handshake_timeout,  # type: ignore[arg-type]
        ssl_shutdown_timeout=ssl_shutdown_timeout,
    )
    StreamTransport(loop, sock, ssl_protocol, extra=extra, server=server)
    app_transport: asyncio.Transport = ssl_protocol._app_transport
    return app_transport
