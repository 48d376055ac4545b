"""The event loop's network methods, on the simulated network.

``SimLoop``'s I/O methods (``create_connection``, ``create_server``, ``getaddrinfo``,
``sock_recv``...) call these, with the loop as first argument. Each follows stock asyncio's
implementation in ``base_events.py``, ``selector_events.py`` and ``unix_events.py``: the same
argument checks and messages, the same order of attempts and the same errors, over
:class:`~simloop.net.SimSocket` instead of real sockets.

Sockets that code made itself with ``socket.socket()`` (aiohappyeyeballs does, for aiohttp) are
real but never connected: the simulation fences ``connect`` and ``sendto`` on them. The loop
*adopts* such a socket when it is handed one (``sock_connect``, ``create_connection(sock=)``), or
when the program binds it (aiohttp's test server, ``socket.create_server()``): a simulated socket
stands in for it from then on.
"""

from __future__ import annotations

import asyncio
import collections.abc
import errno
import functools
import io
import os
import socket
import sys
import weakref
from collections.abc import Callable
from typing import Any

from simloop import EscapedSimulationError, SimLoop
from simloop.net import _compat, _tls
from simloop.net._network import Network, ip_family, network_of
from simloop.net._server import Server
from simloop.net._sockets import SimSocket, connected_pair
from simloop.net._transports import DatagramTransport, StreamTransport

_SERVICES = {
    "echo": 7,
    "ftp": 21,
    "ssh": 22,
    "smtp": 25,
    "domain": 53,
    "http": 80,
    "pop3": 110,
    "imap": 143,
    "https": 443,
    "imaps": 993,
    "pop3s": 995,
    "mysql": 3306,
    "postgresql": 5432,
    "redis": 6379,
    "http-alt": 8080,
}

_adopted: weakref.WeakKeyDictionary[socket.socket, SimSocket] = weakref.WeakKeyDictionary()


def _network(loop: SimLoop) -> Network:
    return network_of(loop)


def sim_socket(loop: SimLoop, sock: Any) -> SimSocket:
    """The simulated socket behind ``sock``: itself, or the one adopting a real socket."""
    if isinstance(sock, SimSocket):
        return sock
    if isinstance(sock, socket.socket):
        found = _adopted.get(sock)
        if found is not None:
            return found
        if sock.fileno() == -1:
            raise OSError(errno.EBADF, "Bad file descriptor")
        try:
            bound = sock.getsockname()
        except OSError:
            bound = None
        if sock.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX) or bound not in (
            ("0.0.0.0", 0),
            ("::", 0, 0, 0),
            "",
            None,
        ):
            raise EscapedSimulationError(
                f"A real socket ({sock.family.name}, bound to {bound!r}) was handed to the loop "
                "inside a simulated run: it was connected or bound outside the simulation, so "
                "the run could not be replayed. Create it inside the run with socket.socket() "
                "or simloop.net.socket(), unbound."
            )
        try:
            peer = sock.getpeername()
        except OSError:
            pass  # not connected: the simulation may take it
        else:
            raise EscapedSimulationError(
                f"A real socket ({sock.family.name}, connected to {peer!r}) was handed to the "
                "loop inside a simulated run: it was connected outside the simulation, so the "
                "run could not be replayed. Create it inside the run (socket.socketpair() "
                "and socket.socket() made there are simulated), or with simloop.net.socket()."
            )
        stand_in = SimSocket(sock.family, sock.type, sock.proto, network=_network(loop))
        _adopt(sock, stand_in)
        return stand_in
    msg = f"expected a socket, not {type(sock).__name__} {sock!r}"
    raise TypeError(msg)


#: Options a program sets on a real socket before binding it that decide whether the bind
#: succeeds: the stand-in takes them over.
_BIND_OPTIONS = tuple(
    (socket.SOL_SOCKET, getattr(socket, name))
    for name in ("SO_REUSEADDR", "SO_REUSEPORT")
    if hasattr(socket, name)
)


def _adopt(sock: socket.socket, stand_in: SimSocket) -> None:
    for level, option in _BIND_OPTIONS:
        try:
            value = sock.getsockopt(level, option)
        except OSError:
            continue
        if value:
            stand_in.setsockopt(level, option, value)
    stand_in.setblocking(False)
    stand_in._adopted = sock  # closed with its stand-in
    _adopted[sock] = stand_in


def adopt_socket_pair(loop: SimLoop, a: socket.socket, b: socket.socket) -> None:
    """``socket.socketpair()`` made ``a`` and ``b`` inside a run: their stand-ins are a
    connected pair, so handed to the loop they talk to each other. (A pair the network does
    not simulate, not a Unix stream pair, stays real; the loop refuses it.)"""
    if a.family != socket.AF_UNIX or a.type != socket.SOCK_STREAM:
        return
    stand_ins = connected_pair(_network(loop), a.proto)
    for real, stand_in in zip((a, b), stand_ins, strict=True):
        _adopt(real, stand_in)


def bind_real_socket(loop: SimLoop, sock: socket.socket, address: Any) -> bool:
    """``sock.bind(address)`` on a real socket inside a run: adopt it and bind its simulated
    stand-in there instead (so ``getsockname()`` is a simulated address, the same in every
    run). False for a socket the network does not simulate (the real bind is then fenced)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX) or sock.type not in (
        socket.SOCK_STREAM,
        socket.SOCK_DGRAM,
    ):
        return False
    sim_socket(loop, sock).bind(address)
    return True


def adopted_stand_in(sock: Any) -> SimSocket | None:
    """The simulated socket standing in for the real socket ``sock``, if one adopted it."""
    try:
        return _adopted.get(sock)
    except TypeError:  # not weakly referable: never adopted
        return None


def release_real_socket(sock: Any) -> None:
    """The real socket ``sock`` is being closed: so is its stand-in (freeing its port)."""
    stand_in = adopted_stand_in(sock)
    if stand_in is not None:
        del _adopted[sock]
        if stand_in._adopted is sock:  # else the stand-in is closing, and closes ``sock``
            stand_in.close()


def _check_nonblocking(loop: SimLoop, sock: SimSocket) -> None:
    if loop.get_debug() and sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")


def _check_ssl_socket(sock: Any) -> None:
    import ssl

    if isinstance(sock, ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")


async def _io_step(loop: SimLoop) -> None:
    """Wait for the next batch boundary, where an answer from outside the step arrives (as a
    resolver thread's result would)."""
    future = loop.create_future()
    _compat.call_later_ns(0, _set_done, future, loop=loop)
    await future


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# --- names ---------------------------------------------------------------------------------


def _port_number(port: Any, socktype: int) -> int:
    if port is None or port in (b"", ""):
        return 0
    if isinstance(port, bytes):
        port = port.decode()
    if isinstance(port, int):
        return port
    if isinstance(port, str):
        if port.isdigit():
            return int(port)
        found = _SERVICES.get(port.lower())
        if found is not None:
            return found
        raise socket.gaierror(socket.EAI_SERVICE, "Servname not supported for ai_socktype")
    raise TypeError(
        f"getaddrinfo() argument 2 must be integer or string, not {type(port).__name__}"
    )


def resolve_now(
    loop: SimLoop,
    host: Any,
    port: Any,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[tuple[Any, ...]]:
    """What ``getaddrinfo`` answers, computed at once."""
    net = _network(loop)
    if isinstance(host, bytes):
        host = host.decode("idna")
    number = _port_number(port, type)
    if host is None or host == "":
        addresses = ["0.0.0.0", "::"] if flags & socket.AI_PASSIVE else list(net.localhost)
    elif ip_family(host) is not None:
        addresses = [host.split("%", 1)[0]]
    elif flags & socket.AI_NUMERICHOST:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    else:
        addresses = net.resolve(host, net.current_host())
    if family not in (0, socket.AF_UNSPEC):
        addresses = [a for a in addresses if ip_family(a) == family]
        if not addresses:
            raise socket.gaierror(
                getattr(socket, "EAI_NODATA", socket.EAI_NONAME),
                "No address associated with hostname",
            )
    if type == 0:
        kinds = [
            (socket.SOCK_STREAM, socket.IPPROTO_TCP),
            (socket.SOCK_DGRAM, socket.IPPROTO_UDP),
            (socket.SOCK_RAW, 0),
        ]
    else:
        default = socket.IPPROTO_TCP if type == socket.SOCK_STREAM else socket.IPPROTO_UDP
        kinds = [(socket.SocketKind(type), proto or default)]
    canonical = host if (flags & socket.AI_CANONNAME and host) else ""
    result: list[tuple[Any, ...]] = []
    for address in addresses:
        af = socket.AF_INET6 if ip_family(address) == socket.AF_INET6 else socket.AF_INET
        sockaddr: tuple[Any, ...] = (
            (address, number, 0, 0) if af == socket.AF_INET6 else (address, number)
        )
        for kind, pr in kinds:
            result.append((af, kind, pr, canonical, sockaddr))
            canonical = ""
    return result


async def getaddrinfo(
    loop: SimLoop,
    host: Any,
    port: Any,
    *,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[tuple[Any, ...]]:
    infos = resolve_now(loop, host, port, family, type, proto, flags)
    await _io_step(loop)
    return infos


async def getnameinfo(loop: SimLoop, sockaddr: tuple[Any, ...], flags: int = 0) -> tuple[str, str]:
    net = _network(loop)
    host, port = sockaddr[0], sockaddr[1]
    name = host if flags & socket.NI_NUMERICHOST else net.name_of(host, net.current_host())
    if flags & socket.NI_NUMERICSERV:
        service = str(port)
    else:
        service = next((s for s, p in _SERVICES.items() if p == port), str(port))
    await _io_step(loop)
    return name, service


def _ipaddr_info(
    host: Any, port: Any, family: int, type: int, proto: int
) -> tuple[Any, ...] | None:
    """As asyncio: a numeric host needs no resolving."""
    if host is None or proto not in (0, socket.IPPROTO_TCP, socket.IPPROTO_UDP):
        return None
    if isinstance(host, bytes):
        host = host.decode("idna")
    if not isinstance(host, str) or "%" in host:
        return None
    af = ip_family(host)
    if af is None or (family not in (0, socket.AF_UNSPEC) and family != af):
        return None
    try:
        number = _port_number(port, type)
    except socket.gaierror:
        return None
    if isinstance(port, str) and port and not port.isdigit():
        return None
    pr = socket.IPPROTO_TCP if type == socket.SOCK_STREAM else socket.IPPROTO_UDP
    kind = socket.SOCK_STREAM if type == socket.SOCK_STREAM else socket.SOCK_DGRAM
    if af == socket.AF_INET6:
        return (af, kind, pr, "", (host, number, 0, 0))
    return (af, kind, pr, "", (host, number))


async def _ensure_resolved(
    loop: SimLoop,
    address: Any,
    *,
    family: int = 0,
    type: int = socket.SOCK_STREAM,
    proto: int = 0,
    flags: int = 0,
) -> list[tuple[Any, ...]]:
    host, port = address[:2]
    info = _ipaddr_info(host, port, family, type, proto)
    if info is not None:
        return [info]
    result: list[tuple[Any, ...]] = await loop.getaddrinfo(
        host, port, family=family, type=type, proto=proto, flags=flags
    )
    return result


def _interleave(infos: list[tuple[Any, ...]], first_family_count: int = 1) -> list[tuple[Any, ...]]:
    by_family: dict[int, list[tuple[Any, ...]]] = {}
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    lists = list(by_family.values())
    reordered: list[tuple[Any, ...]] = []
    if first_family_count > 1:
        reordered.extend(lists[0][: first_family_count - 1])
        del lists[0][: first_family_count - 1]
    longest = max((len(x) for x in lists), default=0)
    for i in range(longest):
        for group in lists:
            if i < len(group):
                reordered.append(group[i])
    return reordered


# --- connections ---------------------------------------------------------------------------


def _why(exc: OSError) -> str:
    """How stock asyncio words a failed bind: the error's text from Python 3.13 on, its
    strerror before."""
    return str(exc).lower() if sys.version_info >= (3, 13) else str(exc.strerror).lower()


async def _connect_sock(
    loop: SimLoop,
    exceptions: list[list[OSError]],
    addr_info: tuple[Any, ...],
    local_addr_infos: Any,
) -> SimSocket:
    my_exceptions: list[OSError] = []
    exceptions.append(my_exceptions)
    family, type_, proto, _, address = addr_info
    sock = None
    try:
        sock = SimSocket(family, type_, proto, network=_network(loop))
        sock.setblocking(False)
        if local_addr_infos is not None:
            for lfamily, _, _, _, laddr in local_addr_infos:
                if lfamily != family:
                    continue
                try:
                    sock.bind(laddr)
                    break
                except OSError as exc:
                    msg = f"error while attempting to bind on address {laddr!r}: {_why(exc)}"
                    my_exceptions.append(OSError(exc.errno, msg))
            else:
                if my_exceptions:
                    raise my_exceptions.pop()
                raise OSError(f"no matching local address with family={family!r} found")
        await sock_connect(loop, sock, address)
        return sock
    except OSError as exc:
        my_exceptions.append(exc)
        if sock is not None:
            sock.close()
        raise
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    finally:
        # The raised error's traceback holds this frame: without this, the error and the list
        # holding it would be a reference cycle (as stock asyncio, gh-124859).
        exceptions = my_exceptions = None  # type: ignore[assignment]


async def create_connection(
    loop: SimLoop,
    protocol_factory: Callable[[], Any],
    host: Any = None,
    port: Any = None,
    *,
    ssl: Any = None,
    family: int = 0,
    proto: int = 0,
    flags: int = 0,
    sock: Any = None,
    local_addr: Any = None,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    happy_eyeballs_delay: float | None = None,
    interleave: int | None = None,
    all_errors: bool = False,
) -> tuple[Any, Any]:
    if server_hostname is not None and not ssl:
        raise ValueError("server_hostname is only meaningful with ssl")
    if server_hostname is None and ssl:
        if not host:
            raise ValueError("You must set server_hostname when using ssl without a host")
        server_hostname = host
    if ssl_handshake_timeout is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    if sock is not None:
        _check_ssl_socket(sock)
    if happy_eyeballs_delay is not None and interleave is None:
        interleave = 1
    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        infos = await _ensure_resolved(
            loop, (host, port), family=family, type=socket.SOCK_STREAM, proto=proto, flags=flags
        )
        if not infos:
            raise OSError("getaddrinfo() returned empty list")
        laddr_infos = None
        if local_addr is not None:
            laddr_infos = await _ensure_resolved(
                loop, local_addr, family=family, type=socket.SOCK_STREAM, proto=proto, flags=flags
            )
            if not laddr_infos:
                raise OSError("getaddrinfo() returned empty list")
        if interleave:
            infos = _interleave(infos, interleave)
        exceptions: list[list[OSError]] = []
        connected: SimSocket | None = None
        # Happy eyeballs races attempts that take longer than its delay; on the simulated
        # network an attempt answers (or is refused) before any such delay runs out unless the
        # link has latency, so the attempts are made one after the other, as without it.
        for addrinfo in infos:
            try:
                connected = await _connect_sock(loop, exceptions, addrinfo, laddr_infos)
                break
            except OSError:
                continue
        if connected is None:
            flat = [exc for sub in exceptions for exc in sub]
            try:
                if all_errors:
                    raise ExceptionGroup("create_connection failed", flat)
                if len(flat) == 1:
                    raise flat[0]
                model = str(flat[0])
                if all(str(exc) == model for exc in flat):
                    raise flat[0]
                raise OSError("Multiple exceptions: {}".format(", ".join(str(exc) for exc in flat)))
            finally:
                # No cycle through this frame (see _connect_sock).
                exceptions = flat = None  # type: ignore[assignment]
        sim = connected
    else:
        if sock is None:
            raise ValueError("host and port was not specified and no sock specified")
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        sim = sim_socket(loop, sock)
    return await _connection_transport(
        loop,
        sim,
        protocol_factory,
        ssl,
        server_hostname,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
    )


async def _connection_transport(
    loop: SimLoop,
    sock: SimSocket,
    protocol_factory: Callable[[], Any],
    ssl: Any,
    server_hostname: str | None,
    ssl_handshake_timeout: float | None,
    ssl_shutdown_timeout: float | None,
    *,
    server_side: bool = False,
) -> tuple[Any, Any]:
    sock.setblocking(False)
    protocol = protocol_factory()
    waiter = loop.create_future()
    transport: Any
    if ssl:
        context = None if isinstance(ssl, bool) else ssl
        transport = _tls.ssl_transport(
            loop,
            sock,
            protocol,
            context,
            waiter,
            server_side=server_side,
            server_hostname=server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )
    else:
        transport = StreamTransport(loop, sock, protocol, waiter)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol


async def create_unix_connection(
    loop: SimLoop,
    protocol_factory: Callable[[], Any],
    path: Any = None,
    *,
    ssl: Any = None,
    sock: Any = None,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[Any, Any]:
    if ssl:
        if server_hostname is None:
            raise ValueError("you have to pass server_hostname when using ssl")
    else:
        if server_hostname is not None:
            raise ValueError("server_hostname is only meaningful with ssl")
        if ssl_handshake_timeout is not None:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    if path is not None:
        if sock is not None:
            raise ValueError("path and sock can not be specified at the same time")
        path = os.fspath(path)
        sim = SimSocket(socket.AF_UNIX, socket.SOCK_STREAM, 0, network=_network(loop))
        try:
            sim.setblocking(False)
            await sock_connect(loop, sim, path)
        except BaseException:
            sim.close()
            raise
    else:
        if sock is None:
            raise ValueError("no path and sock were specified")
        if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
        sim = sim_socket(loop, sock)
    return await _connection_transport(
        loop,
        sim,
        protocol_factory,
        ssl,
        server_hostname,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
    )


async def connect_accepted_socket(
    loop: SimLoop,
    protocol_factory: Callable[[], Any],
    sock: Any,
    *,
    ssl: Any = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[Any, Any]:
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A Stream Socket was expected, got {sock!r}")
    if ssl_handshake_timeout is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    if sock is not None:
        _check_ssl_socket(sock)
    return await _connection_transport(
        loop,
        sim_socket(loop, sock),
        protocol_factory,
        ssl,
        "",
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
        server_side=True,
    )


# --- servers -------------------------------------------------------------------------------


def _accept_on(server: Server, listener: SimSocket) -> None:
    """Start accepting on ``listener`` for ``server`` (as the selector loop's _start_serving).
    Called in the server's context, which the accepted connections are served in."""
    loop: Any = server.get_loop()
    context = server._context

    def accept_ready() -> None:
        for _ in range(server._backlog):
            try:
                conn, addr = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError, OSError):
                return
            conn.setblocking(False)
            loop.create_task(
                _accept_connection(loop, server, conn, {"peername": addr}), context=context
            )

    listener._set_reader(accept_ready, context)


async def _accept_connection(
    loop: SimLoop, server: Server, conn: SimSocket, extra: dict[str, Any]
) -> None:
    protocol = None
    transport: Any = None
    try:
        protocol = server._protocol_factory()
        waiter = loop.create_future()
        if server._ssl_context:
            transport = _tls.ssl_transport(
                loop,
                conn,
                protocol,
                server._ssl_context,
                waiter,
                server_side=True,
                server_hostname=None,
                extra=extra,
                server=server,
                ssl_handshake_timeout=server._ssl_handshake_timeout,
                ssl_shutdown_timeout=server._ssl_shutdown_timeout,
            )
        else:
            transport = StreamTransport(
                loop, conn, protocol, waiter=waiter, extra=extra, server=server
            )
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        if loop.get_debug():
            context: dict[str, Any] = {
                "message": "Error on transport creation for incoming connection",
                "exception": exc,
            }
            if protocol is not None:
                context["protocol"] = protocol
            if transport is not None:
                context["transport"] = transport
            loop.call_exception_handler(context)


def _check_server_ssl(ssl: Any, ssl_handshake_timeout: Any, ssl_shutdown_timeout: Any) -> None:
    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")
    if ssl_handshake_timeout is not None and ssl is None:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and ssl is None:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")


async def create_server(
    loop: SimLoop,
    protocol_factory: Callable[[], Any],
    host: Any = None,
    port: Any = None,
    *,
    family: int = socket.AF_UNSPEC,
    flags: int = socket.AI_PASSIVE,
    sock: Any = None,
    backlog: int = 100,
    ssl: Any = None,
    reuse_address: bool | None = None,
    reuse_port: bool | None = None,
    keep_alive: bool | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    start_serving: bool = True,
) -> Server:
    _check_server_ssl(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    net = _network(loop)
    sockets: list[SimSocket] = []
    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        if host == "":
            hosts: list[Any] = [None]
        elif isinstance(host, str) or not isinstance(host, collections.abc.Iterable):
            hosts = [host]
        else:
            hosts = list(host)
        infos: list[tuple[Any, ...]] = []
        for one in hosts:
            found = await _ensure_resolved(
                loop, (one, port), family=family, type=socket.SOCK_STREAM, flags=flags
            )
            if not found:
                raise OSError(f"getaddrinfo({one!r}) returned empty list")
            infos.extend(found)
        # Stock asyncio dedupes through a set, whose order varies between processes; keep
        # the resolver's order instead.
        infos = list(dict.fromkeys(infos))
        completed = False
        try:
            for af, socktype, proto, _, sa in infos:
                listener = SimSocket(af, socktype, proto, network=net)
                sockets.append(listener)
                if reuse_address is None or reuse_address:
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
                if reuse_port:
                    listener.setsockopt(
                        socket.SOL_SOCKET, getattr(socket, "SO_REUSEPORT", 15), True
                    )
                if keep_alive:
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
                if af == socket.AF_INET6:
                    listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
                try:
                    listener.bind(sa)
                except OSError as err:
                    msg = f"error while attempting to bind on address {sa!r}: {_why(err)}"
                    if err.errno == errno.EADDRNOTAVAIL:
                        sockets.pop()
                        listener.close()
                        continue
                    raise OSError(err.errno, msg) from None
            if not sockets:
                raise OSError(
                    f"could not bind on any address out of {[info[4] for info in infos]!r}"
                )
            completed = True
        finally:
            if not completed:
                for listener in sockets:
                    listener.close()
    else:
        if sock is None:
            raise ValueError("Neither host/port nor sock were specified")
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        sockets = [sim_socket(loop, sock)]
    for listener in sockets:
        listener.setblocking(False)
    server = Server(
        loop,
        sockets,
        protocol_factory,
        ssl,
        backlog,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
        _accept_on,
    )
    if start_serving:
        server._start_serving()
        await asyncio.sleep(0)
    return server


async def create_unix_server(
    loop: SimLoop,
    protocol_factory: Callable[[], Any],
    path: Any = None,
    *,
    sock: Any = None,
    backlog: int = 100,
    ssl: Any = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    start_serving: bool = True,
    cleanup_socket: bool = True,
) -> Server:
    _check_server_ssl(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    if path is not None:
        if sock is not None:
            raise ValueError("path and sock can not be specified at the same time")
        path = os.fspath(path)
        if isinstance(path, bytes):
            path = os.fsdecode(path)  # any bytes, as the kernel takes them
        listener = SimSocket(socket.AF_UNIX, socket.SOCK_STREAM, network=_network(loop))
        host = listener.host
        if path and path[0] != "\x00":
            # Stock asyncio removes a socket file left at the path, even a live server's.
            stale = host.unix_paths.get(path)
            if stale is not None and stale.type == socket.SOCK_STREAM:
                del host.unix_paths[path]
        try:
            listener.bind(path)
        except OSError as exc:
            listener.close()
            if exc.errno == errno.EADDRINUSE:
                raise OSError(errno.EADDRINUSE, f"Address {path!r} is already in use") from None
            raise
    else:
        if sock is None:
            raise ValueError("path was not specified, and no sock specified")
        if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
        listener = sim_socket(loop, sock)
    listener.setblocking(False)
    server = Server(
        loop,
        [listener],
        protocol_factory,
        ssl,
        backlog,
        ssl_handshake_timeout,
        ssl_shutdown_timeout,
        _accept_on,
    )
    if start_serving:
        server._start_serving()
        await asyncio.sleep(0)
    return server


# --- datagrams -----------------------------------------------------------------------------


async def create_datagram_endpoint(
    loop: SimLoop,
    protocol_factory: Callable[[], Any],
    local_addr: Any = None,
    remote_addr: Any = None,
    *,
    family: int = 0,
    proto: int = 0,
    flags: int = 0,
    reuse_address: Any = None,
    reuse_port: bool | None = None,
    allow_broadcast: bool | None = None,
    sock: Any = None,
) -> tuple[Any, Any]:
    net = _network(loop)
    r_addr = None
    if sock is not None:
        if sock.type == socket.SOCK_STREAM:
            raise ValueError(f"A datagram socket was expected, got {sock!r}")
        if local_addr or remote_addr or family or proto or flags or reuse_port or allow_broadcast:
            opts = {
                "local_addr": local_addr,
                "remote_addr": remote_addr,
                "family": family,
                "proto": proto,
                "flags": flags,
                "reuse_address": reuse_address,
                "reuse_port": reuse_port,
                "allow_broadcast": allow_broadcast,
            }
            problems = ", ".join(f"{k}={v}" for k, v in opts.items() if v)
            raise ValueError(
                "socket modifier keyword arguments can not be used when sock is specified. "
                f"({problems})"
            )
        endpoint = sim_socket(loop, sock)
        endpoint.setblocking(False)
    else:
        if reuse_address:
            raise ValueError(
                "Passing `reuse_address=True` is no longer supported, as the usage of "
                "SO_REUSEPORT in UDP poses a significant security concern."
            )
        pairs: list[tuple[tuple[int, int], list[Any]]]
        if not (local_addr or remote_addr):
            if family == 0:
                raise ValueError("unexpected address family")
            pairs = [((family, proto), [None, None])]
        elif family == socket.AF_UNIX:
            for addr in (local_addr, remote_addr):
                if addr is not None and not isinstance(addr, str):
                    raise TypeError("string is expected")
            pairs = [((family, proto), [local_addr, remote_addr])]
        else:
            addr_infos: dict[tuple[int, int], list[Any]] = {}
            for idx, addr in ((0, local_addr), (1, remote_addr)):
                if addr is not None:
                    if not (isinstance(addr, tuple) and len(addr) == 2):
                        raise TypeError("2-tuple is expected")
                    infos = await _ensure_resolved(
                        loop, addr, family=family, type=socket.SOCK_DGRAM, proto=proto, flags=flags
                    )
                    if not infos:
                        raise OSError("getaddrinfo() returned empty list")
                    for fam, _, pro, _, address in infos:
                        addr_infos.setdefault((fam, pro), [None, None])[idx] = address
            pairs = [
                (key, pair)
                for key, pair in addr_infos.items()
                if not ((local_addr and pair[0] is None) or (remote_addr and pair[1] is None))
            ]
            if not pairs:
                raise ValueError("can not get address information")
        exceptions: list[OSError] = []
        endpoint_or_none: SimSocket | None = None
        for (fam, pro), (local_address, remote_address) in pairs:
            attempt = None
            try:
                attempt = SimSocket(fam, socket.SOCK_DGRAM, pro, network=net)
                if reuse_port:
                    attempt.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_REUSEPORT", 15), True)
                if allow_broadcast:
                    attempt.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                attempt.setblocking(False)
                if local_addr:
                    attempt.bind(local_address)
                if remote_addr:
                    if not allow_broadcast:
                        await sock_connect(loop, attempt, remote_address)
                    r_addr = remote_address
            except OSError as exc:
                if attempt is not None:
                    attempt.close()
                exceptions.append(exc)
            except BaseException:
                if attempt is not None:
                    attempt.close()
                raise
            else:
                endpoint_or_none = attempt
                break
        if endpoint_or_none is None:
            raise exceptions[0]
        endpoint = endpoint_or_none
    protocol = protocol_factory()
    waiter = loop.create_future()
    transport = DatagramTransport(loop, endpoint, protocol, r_addr, waiter)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol


# --- sock_* --------------------------------------------------------------------------------


async def _wait(
    sock: SimSocket, loop: SimLoop, attempt: Callable[[], Any], *, write: bool = False
) -> Any:
    """Retry ``attempt`` each time ``sock`` becomes ready, until it stops raising
    ``BlockingIOError`` (as the selector loop's ``sock_*`` methods do)."""
    try:
        return attempt()
    except (BlockingIOError, InterruptedError):
        pass
    future = _when_ready(sock, loop, attempt, write)
    try:
        return await future
    finally:
        # An error raised here holds this frame in its traceback: no cycle through the future
        # that holds the error (as stock asyncio's sock_* methods, gh-124859).
        future = None  # type: ignore[assignment]


def _when_ready(
    sock: SimSocket, loop: SimLoop, attempt: Callable[[], Any], write: bool
) -> asyncio.Future[Any]:
    """A future with the outcome of ``attempt``, retried each time ``sock`` becomes ready."""
    future = loop.create_future()
    ready = functools.partial(_retry, future, sock, attempt, write)
    if write:
        sock._set_writer(ready)
    else:
        sock._set_reader(ready)
    future.add_done_callback(functools.partial(_forget_if_cancelled, sock, write))
    return future


def _retry(
    future: asyncio.Future[Any] | None, sock: SimSocket, attempt: Callable[[], Any], write: bool
) -> None:
    """``sock`` is ready: try again; on an outcome, settle ``future`` and stop watching."""
    assert future is not None
    if future.done():
        return
    try:
        result = attempt()
    except (BlockingIOError, InterruptedError):
        return
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)
    finally:
        # The error's traceback holds this frame: no cycle through the future holding it.
        future = None
    if write:
        sock._clear_writer()
    else:
        sock._clear_reader()


def _forget_if_cancelled(sock: SimSocket, write: bool, future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        if write:
            sock._clear_writer()
        else:
            sock._clear_reader()


async def sock_recv(loop: SimLoop, sock: Any, n: int) -> bytes:
    _check_ssl_socket(sock)
    sim = sim_socket(loop, sock)
    _check_nonblocking(loop, sim)
    data: bytes = await _wait(sim, loop, lambda: sim.recv(n))
    return data


async def sock_recv_into(loop: SimLoop, sock: Any, buf: Any) -> int:
    _check_ssl_socket(sock)
    sim = sim_socket(loop, sock)
    _check_nonblocking(loop, sim)
    n: int = await _wait(sim, loop, lambda: sim.recv_into(buf))
    return n


async def sock_recvfrom(loop: SimLoop, sock: Any, bufsize: int) -> tuple[bytes, Any]:
    _check_ssl_socket(sock)
    sim = sim_socket(loop, sock)
    _check_nonblocking(loop, sim)
    result: tuple[bytes, Any] = await _wait(sim, loop, lambda: sim.recvfrom(bufsize))
    return result


async def sock_recvfrom_into(
    loop: SimLoop, sock: Any, buf: Any, nbytes: int = 0
) -> tuple[int, Any]:
    _check_ssl_socket(sock)
    sim = sim_socket(loop, sock)
    _check_nonblocking(loop, sim)
    result: tuple[int, Any] = await _wait(sim, loop, lambda: sim.recvfrom_into(buf, nbytes))
    return result


async def sock_sendall(loop: SimLoop, sock: Any, data: Any) -> None:
    _check_ssl_socket(sock)
    sim = sim_socket(loop, sock)
    _check_nonblocking(loop, sim)
    view = memoryview(data).cast("B")
    position = [0]

    def attempt() -> None:
        while position[0] < len(view):
            position[0] += sim.send(view[position[0] :])

    await _wait(sim, loop, attempt, write=True)


async def sock_sendto(loop: SimLoop, sock: Any, data: Any, address: Any) -> int:
    _check_ssl_socket(sock)
    sim = sim_socket(loop, sock)
    _check_nonblocking(loop, sim)
    n: int = await _wait(sim, loop, lambda: sim.sendto(data, address), write=True)
    return n


async def sock_connect(loop: SimLoop, sock: Any, address: Any) -> None:
    _check_ssl_socket(sock)
    sim = sim_socket(loop, sock)
    _check_nonblocking(loop, sim)
    if sim.family in (socket.AF_INET, socket.AF_INET6):
        resolved = await _ensure_resolved(
            loop, address, family=sim.family, type=sim.type, proto=sim.proto
        )
        address = resolved[0][4]
    if sim.type == socket.SOCK_DGRAM:
        sim.connect_ex(address)
        return
    if sim.family == socket.AF_UNIX:
        target = sim._normal_address(address)
        found = sim.host.unix_paths.get(target)
        if found is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")
    error = sim.connect_ex(address)
    if error not in (0, errno.EINPROGRESS):
        raise OSError(error, f"Connect call failed {address}")

    def connected() -> None:
        failure = sim._connect_error
        if failure is not None:
            sim._connect_error = None
            raise OSError(failure.errno, f"Connect call failed {address}")
        if sim._state == "connecting":
            raise BlockingIOError

    await _wait(sim, loop, connected, write=True)


async def sock_accept(loop: SimLoop, sock: Any) -> tuple[Any, Any]:
    _check_ssl_socket(sock)
    sim = sim_socket(loop, sock)
    _check_nonblocking(loop, sim)

    def attempt() -> tuple[SimSocket, Any]:
        conn, address = sim.accept()
        conn.setblocking(False)
        return conn, address

    result: tuple[Any, Any] = await _wait(sim, loop, attempt)
    return result


async def sock_sendfile(
    loop: SimLoop,
    sock: Any,
    file: Any,
    offset: int = 0,
    count: int | None = None,
    *,
    fallback: bool = True,
) -> int:
    if not fallback:
        raise asyncio.SendfileNotAvailableError(
            "the simulated network sends files by reading and writing them"
        )
    if offset:
        file.seek(offset)
    total = 0
    while count is None or total < count:
        chunk = file.read(min(256 * 1024, count - total) if count is not None else 256 * 1024)
        if not chunk:
            break
        await sock_sendall(loop, sock, chunk)
        total += len(chunk)
    if total:
        file.seek(offset + total)
    return total


async def sendfile(
    loop: SimLoop,
    transport: Any,
    file: Any,
    offset: int = 0,
    count: int | None = None,
    *,
    fallback: bool = True,
) -> int:
    if transport.is_closing():
        raise RuntimeError("Transport is closing")
    if not fallback:
        raise asyncio.SendfileNotAvailableError(
            "the simulated network sends files by reading and writing them"
        )
    if not isinstance(file, io.IOBase) and not hasattr(file, "read"):
        raise TypeError(f"file should be opened in binary mode, got {file!r}")
    if offset:
        file.seek(offset)
    protocol = transport.get_protocol()
    total = 0
    while count is None or total < count:
        chunk = file.read(min(256 * 1024, count - total) if count is not None else 256 * 1024)
        if not chunk:
            break
        transport.write(chunk)
        total += len(chunk)
        drain = getattr(protocol, "_drain_helper", None)
        if (
            drain is not None
            and transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]
        ):
            await drain()
    if total:
        file.seek(offset + total)
    return total


async def start_tls(
    loop: SimLoop,
    transport: Any,
    protocol: Any,
    sslcontext: Any,
    *,
    server_side: bool = False,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> Any:
    return await asyncio.BaseEventLoop.start_tls(
        loop,
        transport,
        protocol,
        sslcontext,
        server_side=server_side,
        server_hostname=server_hostname,
        ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout,
    )
