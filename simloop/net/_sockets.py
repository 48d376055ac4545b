"""Simulated sockets: the kernel side of the network.

A :class:`SimSocket` behaves like a non-blocking socket of a real kernel: ``send`` copies into
the connection (or raises ``BlockingIOError`` when the peer's buffer is full), ``recv`` takes
what has arrived, ``accept`` takes an established connection. Readiness, which a selector
would report, is a callback the loop's transports and ``sock_*`` methods register
(``_set_reader``/``_set_writer``), called in the step in which a packet arrives.

Packets arrive through timers (``call_later_ns``): a packet with no delay arrives at the next
batch boundary, where stock asyncio would see the socket become readable at its next poll,
so the Fifo scheduler runs an ideal loopback in stock asyncio's order. Every way a packet may
differ from that (a delay, a split, a loss, a reset, a partition) is a ``ChoicePoint``.

Each direction of a TCP connection is a :class:`_Pipe` with its own in-order queue: an arrival
timer delivers every segment up to its own, so timers that fire out of order (a tie broken the
other way) coalesce segments, as a real receive buffer would, and never reorder them.
"""

from __future__ import annotations

import collections
import contextvars
import errno
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simloop import EscapedSimulationError, InvalidArgumentError
from simloop.net import _compat
from simloop.net._config import (
    COALESCE_HOLD_NS,
    REORDER_DELAY_NS,
    Link,
    fault_weights,
    format_duration,
)
from simloop.net._network import Host, Network, ip_family, is_loopback, is_wildcard

if TYPE_CHECKING:
    from simloop import SimLoop

Address = Any  # a sockaddr: (host, port), (host, port, flowinfo, scope_id), or a path

_SUPPORTED_FAMILIES = (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX)
MAX_DATAGRAM = 65507


def _reset_error() -> ConnectionResetError:
    return ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")


def _would_block() -> BlockingIOError:
    return BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")


def format_address(address: Address) -> str:
    if isinstance(address, tuple):
        host = address[0]
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return str(address) or "(unnamed)"


class _Pipe:
    """One direction of a TCP connection: bytes from ``src`` to ``dst``, in order."""

    __slots__ = (
        "batch",
        "batch_ns",
        "capacity",
        "dst",
        "dst_gone",
        "held",
        "held_timer",
        "ideal",
        "inflight",
        "last_arrival_ns",
        "link",
        "loop",
        "net",
        "parked",
        "queued",
        "retransmit_timer",
        "sent",
        "src",
    )

    def __init__(self, net: Network, src: SimSocket, dst: SimSocket, link: Link) -> None:
        self.net = net
        self.src = src
        self.dst = dst
        self.link = link
        self.capacity = net.buffer_size
        self.queued = 0  # sent, not yet read by dst: what the window counts
        self.inflight: collections.deque[tuple[int, bytes | None]] = collections.deque()
        self.sent = 0  # segments sent so far (their sequence numbers)
        self.last_arrival_ns = 0
        self.parked = False
        self.retransmit_timer: Any = None
        self.held: bytearray | None = None
        self.held_timer: Any = None
        self.dst_gone = False
        self.batch: list[int] | None = None  # what the latest arrival timer delivers up to
        self.batch_ns = -1  # ... and when it fires
        self.loop = net.loop
        # Nothing on this link is a choice: writes take the short path (send_now).
        self.ideal = link.latency.levels_ns == (0,) and not (
            link.split or link.coalesce or link.reset
        )

    @property
    def space(self) -> int:
        return self.capacity - self.queued

    def describe(self) -> str:
        return f"{self.src.describe_local()}→{self.dst.describe_local()}"

    def send_now(self, data: bytes) -> None:
        """:meth:`send` on an ideal link: no choice to make, the data arrives at the next
        batch boundary (the hot path of every write on a default network)."""
        self.queued += len(data)
        self.sent = sent = self.sent + 1
        self.inflight.append((sent, data))
        batch = self.batch
        if batch is not None:
            # An arrival timer is pending: it fires at the next batch boundary, which is
            # when this segment would arrive too (on an ideal link every timer is due "now").
            batch[0] = sent
            return
        # (last_arrival_ns and batch_ns only order delayed segments, which an ideal link
        # never has.)
        batch = self.batch = [sent]
        _compat.call_later_ns(0, self._arrive, batch, loop=self.loop)

    def send(self, data: bytes) -> None:
        """Queue ``data`` (already within the window) toward ``dst``."""
        if self.ideal and self.held is None and not self.net._candidates:
            self.send_now(data)
            return
        self.queued += len(data)
        net = self.net
        loop = net.loop
        assert loop is not None
        link = self.link
        net.maybe_inject_partition()
        if link.reset and net.budget_left():
            packet = net.next_packet()
            what = f"packet {packet} {self.describe()}"
            c = _compat.choose(
                _compat.ChoicePoint(
                    "net.reset",
                    2,
                    labels=[f"{what} delivered", f"{what}: connection reset"],
                    weights=fault_weights(2),
                ),
                loop=loop,
            )
            if c:
                net.spend_fault(f"reset of {self.describe()} (injected)")
                self.src.connection_reset(_reset_error())
                return
        if self.held is not None:
            # A write held back to coalesce with this one: they travel together.
            self.held.extend(data)
            data = bytes(self.held)
            self.held = None
            if self.held_timer is not None:
                self.held_timer.cancel()
                self.held_timer = None
        options = link.segment_options if len(data) > 1 else 1
        if options > 1:
            packet = net.next_packet()
            what = f"packet {packet} {self.describe()} ({len(data)} bytes)"
            labels = [f"{what} delivered whole"]
            if link.split:
                labels.append(f"{what} split: {len(data) // 2} bytes first")
            if link.coalesce:
                labels.append(f"{what} held back to coalesce with the next write")
            c = _compat.choose(
                _compat.ChoicePoint("net.segment", options, labels=labels), loop=loop
            )
            if c and labels[c].endswith("next write"):
                self.held = bytearray(data)
                self.held_timer = _compat.call_later_ns(
                    COALESCE_HOLD_NS, self._release_held, loop=loop
                )
                return
            if c:
                half = len(data) // 2
                self._transmit(data[:half])
                self._transmit(data[half:], separate=True)
                return
        self._transmit(data)

    def send_fin(self) -> None:
        if self.held is not None:
            self._release_held()
        self._transmit(None)

    def _release_held(self) -> None:
        self.held_timer = None
        held, self.held = self.held, None
        if held:
            self._transmit(bytes(held))

    def _transmit(self, data: bytes | None, *, separate: bool = False) -> None:
        net = self.net
        loop = net.loop
        assert loop is not None
        levels = self.link.latency.levels_ns
        delay = levels[0]
        if len(levels) > 1:
            packet = net.next_packet()
            what = "FIN" if data is None else f"packet {packet}"
            labels = [f"{what} {self.describe()} delayed {format_duration(ns)}" for ns in levels]
            delay = levels[
                _compat.choose(
                    _compat.ChoicePoint("net.delay", len(levels), labels=labels), loop=loop
                )
            ]
        now = _compat.now_ns(loop=loop)
        arrival = max(now + delay, self.last_arrival_ns)
        self.last_arrival_ns = arrival
        self.sent += 1
        self.inflight.append((self.sent, data))
        batch = self.batch
        if batch is not None and self.batch_ns == arrival and not separate:
            # Segments that arrive together arrive as one, as in a receive buffer: the timer
            # already set for that instant takes this one too.
            batch[0] = self.sent
            return
        batch = self.batch = [self.sent]
        self.batch_ns = arrival
        _compat.call_at_ns(arrival, self._arrive, batch, loop=loop)

    def _arrive(self, batch: list[int]) -> None:
        """An arrival timer: deliver every segment up to ``batch[0]`` still in flight."""
        if batch is self.batch:
            self.batch = None
        upto = batch[0]
        if self.parked or not self.inflight or self.inflight[0][0] > upto:
            return
        src, dst = self.src, self.dst
        net = self.net
        if net._cuts and net.blocked(src.host, src.local_ip(), dst.host, dst.local_ip()):
            self._park()
            return
        if self.retransmit_timer is not None:
            self.retransmit_timer.cancel()
            self.retransmit_timer = None
        chunks = []
        fin = False
        inflight = self.inflight
        while inflight and inflight[0][0] <= upto:
            data = inflight.popleft()[1]
            if data is None:
                fin = True
            else:
                chunks.append(data)
        if self.dst_gone:
            # The receiver closed: its kernel answers with a reset.
            self.queued = 0
            inflight.clear()
            if chunks:
                src.connection_reset(_reset_error())
            return
        if chunks:
            dst._rx.extend(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if fin:
            dst._rx_eof = True
        dst._readable_event()

    def _park(self) -> None:
        """A partition holds the segments back: TCP retransmits them until it heals."""
        self.parked = True
        net = self.net
        net.on_heal(self._unpark)
        if self.retransmit_timer is None:
            self.retransmit_timer = _compat.call_later_ns(
                net.retransmit_timeout_ns, self._give_up, loop=net.loop
            )

    def _unpark(self) -> None:
        if not self.parked:
            return
        self.parked = False
        if self.inflight:
            _compat.call_later_ns(0, self._arrive, [self.inflight[-1][0]], loop=self.net.loop)

    def _give_up(self) -> None:
        self.retransmit_timer = None
        if self.parked and self.inflight:
            self.net._record(f"{self.describe()} timed out retransmitting across a partition")
            self.src.connection_reset(TimeoutError(errno.ETIMEDOUT, "Connection timed out"))

    def consumed(self, n: int) -> None:
        """``dst`` read ``n`` bytes: the window opens, and a blocked writer may go on."""
        full = self.queued >= self.capacity
        self.queued -= n
        if full and self.queued < self.capacity:
            self.src._writable_soon()


class SimSocket:
    """A simulated socket: what ``simloop.net.socket()`` returns, what servers' ``sockets``
    and transports' ``get_extra_info("socket")`` hold, and what ``loop.sock_*`` take.

    Only non-blocking use makes sense in a simulation: the loop's ``sock_*`` methods (or a
    transport) wait for it. A blocking call would stop the whole simulated world, so it
    raises :class:`~simloop.EscapedSimulationError` instead.
    """

    def __init__(
        self,
        family: int = socket.AF_INET,
        type: int = socket.SOCK_STREAM,
        proto: int = 0,
        *,
        network: Network | None = None,
        host: Host | None = None,
    ) -> None:
        if family not in _SUPPORTED_FAMILIES:
            msg = f"`family` must be AF_INET, AF_INET6 or AF_UNIX, not {family!r}"
            raise InvalidArgumentError(msg)
        kind = type & ~(getattr(socket, "SOCK_NONBLOCK", 0) | getattr(socket, "SOCK_CLOEXEC", 0))
        if kind not in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            msg = f"`type` must be SOCK_STREAM or SOCK_DGRAM, not {type!r}"
            raise InvalidArgumentError(msg)
        if network is None:
            from simloop.net._network import network_of

            network = network_of(_compat.current_loop())
        self.net = network
        self.host = host if host is not None else network.current_host()
        self.family = socket.AddressFamily(family)
        self.type = socket.SocketKind(kind)
        if proto == 0 and family != socket.AF_UNIX:
            proto = socket.IPPROTO_TCP if kind == socket.SOCK_STREAM else socket.IPPROTO_UDP
        self.proto = proto
        self._fd = network.new_fd()
        self._timeout: float | None = None
        self._options: dict[tuple[int, int], Any] = {}
        self._state = "new"  # bound, listening, connecting, connected, closed
        self._local: Address = None
        self._peer: Address = None
        self._reader: Callable[[], None] | None = None
        self._writer: Callable[[], None] | None = None
        # The contexts readiness callbacks run in: where they were registered, as a
        # selector's handles do.
        self._reader_context: contextvars.Context | None = None
        self._writer_context: contextvars.Context | None = None
        self._read_poll = False
        self._write_poll = False
        self._read_settling = False  # a read callback's follow-ups have not all run yet
        self._read_deferred = False  # ... and a read event waits for them
        self._error: OSError | None = None
        self._connect_error: OSError | None = None
        # Streams.
        self._rx = bytearray()
        self._rx_eof = False
        self._out: _Pipe | None = None
        self._in: _Pipe | None = None
        self._wr_shut = False
        self._backlog: collections.deque[SimSocket] = collections.deque()
        self._listen_backlog = 0
        # Datagrams.
        self._dgrams: collections.deque[tuple[bytes, Address]] = collections.deque()
        self._dgram_bytes = 0
        #: The real, never connected socket this one stands in for, if the loop adopted one.
        self._adopted: socket.socket | None = None

    def __repr__(self) -> str:
        kind = "stream" if self.type == socket.SOCK_STREAM else "datagram"
        where = f" {format_address(self._local)}" if self._local is not None else ""
        peer = f" -> {format_address(self._peer)}" if self._peer not in (None, "") else ""
        return f"<simloop.net.SimSocket {self.host.name} {kind}{where}{peer} {self._state}>"

    # --- the socket.socket surface --------------------------------------------------------

    def fileno(self) -> int:
        return -1 if self._state == "closed" else self._fd

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    def settimeout(self, value: float | None) -> None:
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout

    def setsockopt(self, level: int, option: int, value: Any, optlen: int | None = None) -> None:
        self._check_open()
        self._options[(level, option)] = value

    def getsockopt(self, level: int, option: int, buflen: int = 0) -> Any:
        self._check_open()
        if (level, option) == (socket.SOL_SOCKET, socket.SO_ERROR):
            error, self._connect_error = self._connect_error, None
            return 0 if error is None else error.errno
        if (level, option) == (socket.SOL_SOCKET, socket.SO_TYPE):
            return int(self.type)
        if (level, option) in (
            (socket.SOL_SOCKET, socket.SO_SNDBUF),
            (socket.SOL_SOCKET, socket.SO_RCVBUF),
        ):
            return self._options.get((level, option), self.net.buffer_size // 2)
        value = self._options.get((level, option), 0)
        return int(value) if isinstance(value, (bool, int)) else value

    def getsockname(self) -> Address:
        self._check_open()
        if self._local is None:
            if self.family == socket.AF_UNIX:
                return ""
            return ("0.0.0.0", 0) if self.family == socket.AF_INET else ("::", 0, 0, 0)
        return self._local

    def getpeername(self) -> Address:
        self._check_open()
        if self._peer is None or self._state not in ("connected",):
            if self.type == socket.SOCK_DGRAM and self._peer is not None:
                return self._peer
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        return self._peer

    def bind(self, address: Address) -> None:
        self._check_open()
        if self._local is not None:
            raise OSError(errno.EINVAL, "Invalid argument")
        self._bind(self._normal_address(address))

    def listen(self, backlog: int = 128) -> None:
        self._check_open()
        if self.type != socket.SOCK_STREAM:
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        if self._local is None:
            self._bind(self._wildcard(0))
        self._state = "listening"
        self._listen_backlog = max(1, backlog)

    def connect(self, address: Address) -> None:
        self._blocking_check("connect")
        error = self.connect_ex(address)
        if error:
            raise OSError(error, errno.errorcode.get(error, "error"))

    def connect_ex(self, address: Address) -> int:
        self._check_open()
        if self.type == socket.SOCK_DGRAM:
            self._connect_datagram(self._normal_address(address))
            return 0
        if self._state == "connected":
            return errno.EISCONN
        if self._state == "connecting":
            return errno.EALREADY
        self._start_connect(self._normal_address(address))
        return errno.EINPROGRESS

    def accept(self) -> tuple[SimSocket, Address]:
        self._blocking_check("accept")
        if self._state != "listening":
            raise OSError(errno.EINVAL, "Invalid argument")
        if not self._backlog:
            raise _would_block()
        conn = self._backlog.popleft()
        return conn, conn._peer

    def accept_for_real_socket(self, blocking: bool) -> tuple[SimSocket, Address]:
        """``accept()`` called on the real socket this one stands in for: a connection already
        waiting is taken whatever the blocking mode (as a real blocking accept returns at once);
        with none waiting, a blocking socket would stop the simulated world."""
        if self._state != "listening":
            raise OSError(errno.EINVAL, "Invalid argument")
        if not self._backlog:
            if not blocking:
                raise _would_block()
            raise EscapedSimulationError(
                "socket.accept() was called on a blocking socket with no connection waiting, "
                "inside a simulated run: it would stop the whole simulated world until one "
                "came, so the run could not go on. Call `sock.setblocking(False)` and use "
                "`await loop.sock_accept(sock)` instead."
            )
        conn = self._backlog.popleft()
        conn.setblocking(blocking)
        return conn, conn._peer

    def send(self, data: Any, flags: int = 0) -> int:
        self._blocking_check("send")
        return self._send(data)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._blocking_check("sendall")
        view = memoryview(data).cast("B")
        n = self._send(view)
        if n < len(view):
            raise _would_block()

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._blocking_check("recv")
        if self.type == socket.SOCK_DGRAM:
            return self.recvfrom(bufsize)[0]
        return self._recv(bufsize)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._blocking_check("recv_into")
        view = memoryview(buffer).cast("B")
        size = nbytes or len(view)
        data = self.recvfrom(size)[0] if self.type == socket.SOCK_DGRAM else self._recv(size)
        view[: len(data)] = data
        return len(data)

    def sendto(self, data: Any, flags_or_address: Any, address: Any = None) -> int:
        self._blocking_check("sendto")
        target = flags_or_address if address is None else address
        return self._sendto(bytes(data), target)

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Address]:
        self._blocking_check("recvfrom")
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if not self._dgrams:
            if self._state == "closed":
                raise OSError(errno.EBADF, "Bad file descriptor")
            raise _would_block()
        data, address = self._dgrams.popleft()
        self._dgram_bytes -= len(data)
        return data[:bufsize], address

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Address]:
        view = memoryview(buffer).cast("B")
        data, address = self.recvfrom(nbytes or len(view))
        view[: len(data)] = data
        return len(data), address

    def shutdown(self, how: int) -> None:
        self._check_open()
        if self._state != "connected":
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        if how in (socket.SHUT_WR, socket.SHUT_RDWR) and not self._wr_shut:
            self._wr_shut = True
            if self._out is not None:
                self._out.send_fin()

    def close(self) -> None:
        if self._state == "closed":
            return
        adopted, self._adopted = self._adopted, None
        if adopted is not None:
            adopted.close()  # the real socket it adopted (whose close comes back here: done)
        state = self._state
        self._state = "closed"
        self._reader = self._writer = None
        loop = self.net.loop
        if loop is None or loop.is_closed():
            # Collected after its run ended (a transport nobody closed): nothing to tell.
            self._unbind()
            return
        if state == "listening":
            while self._backlog:
                pending = self._backlog.popleft()
                pending._close_with_reset()
        elif state in ("connected", "connecting") and self.type == socket.SOCK_STREAM:
            incoming = self._in
            unread = bool(self._rx) or (
                incoming is not None and bool(incoming.inflight) and not incoming.parked
            )
            if incoming is not None:
                incoming.dst_gone = True
            if unread and self._out is not None:
                # Closing with unread data makes the kernel reset the connection.
                self._out.dst.connection_reset(_reset_error())
            elif self._out is not None and not self._wr_shut:
                self._wr_shut = True
                self._out.send_fin()
            self._rx.clear()
        self._unbind()

    def detach(self) -> int:
        fd = self.fileno()
        self.close()
        return fd

    def __enter__(self) -> SimSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------------

    def describe_local(self) -> str:
        if self._local is None:
            return self.host.name
        if self.family == socket.AF_UNIX:
            return f"{self.host.name}:{self._local or '(unnamed)'}"
        address = self._local[0]
        name = self.host.name
        if is_loopback(address) and name == "local":
            return format_address(self._local)
        return f"{name}:{self._local[1]}"

    def local_ip(self) -> str:
        if self._local is None or self.family == socket.AF_UNIX:
            return ""
        return str(self._local[0])

    def _check_open(self) -> None:
        if self._state == "closed":
            raise OSError(errno.EBADF, "Bad file descriptor")

    def _blocking_check(self, call: str) -> None:
        if self._timeout != 0.0:
            raise EscapedSimulationError(
                f"SimSocket.{call}() was called on a blocking socket inside a simulated run: it "
                "would stop the whole simulated world until it returned, so the run could not "
                f"go on. Call `sock.setblocking(False)` and use `await loop.sock_{call}(...)` "
                "instead."
            )

    def _normal_address(self, address: Address) -> Address:
        if self.family == socket.AF_UNIX:
            if isinstance(address, bytes):
                address = os.fsdecode(address)  # any bytes, as the kernel takes them
            if not isinstance(address, str):
                msg = f"AF_UNIX address must be str or bytes, not {type(address).__name__}"
                raise TypeError(msg)
            return address
        if not isinstance(address, tuple) or len(address) < 2:
            msg = f"{self.family.name} address must be a tuple (host, port), not {address!r}"
            raise TypeError(msg)
        host, port = address[0], address[1]
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise OverflowError("bind(): port must be 0-65535.")
        if host in ("", None):
            host = "0.0.0.0" if self.family == socket.AF_INET else "::"
        host = str(host)
        family = ip_family(host)
        if family is None:
            if host.lower() == "localhost":
                host = "127.0.0.1" if self.family == socket.AF_INET else "::1"
            else:
                # A name: a real socket would resolve it, synchronously. Resolve it in the
                # simulated network (the first address of the socket's family).
                for candidate in self.net.resolve(host, self.host):
                    if ip_family(candidate) == self.family:
                        host = candidate
                        break
                else:
                    raise socket.gaierror(
                        socket.EAI_ADDRFAMILY, "Address family for hostname not supported"
                    )
        elif family != self.family:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        if self.family == socket.AF_INET6:
            return (host, port, 0, 0)
        return (host, port)

    def _wildcard(self, port: int) -> Address:
        return ("0.0.0.0", port) if self.family == socket.AF_INET else ("::", port, 0, 0)

    def _ports(self) -> dict[int, list[SimSocket]]:
        return self.host.tcp_ports if self.type == socket.SOCK_STREAM else self.host.udp_ports

    def _bind(self, address: Address) -> None:
        if self.family == socket.AF_UNIX:
            if address and address in self.host.unix_paths:
                raise OSError(errno.EADDRINUSE, "Address already in use")
            self._local = address
            if address:
                self.host.unix_paths[address] = self
            self._state = "bound"
            return
        ip = address[0]
        if not self.host.owns(ip):
            if self.net._by_address.get(ip) is None and not is_loopback(ip):
                # Not an address of any simulated host: binding it would need the real one.
                self.net.host_at(ip, self.host)
            raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
        ports = self._ports()
        port = address[1]
        if port == 0:
            port = self.host.ephemeral_port(ports)
        else:
            reuse_port = bool(
                self._options.get((socket.SOL_SOCKET, getattr(socket, "SO_REUSEPORT", -1)))
            )
            for other in ports.get(port, ()):
                if other.family != self.family or other._state == "closed":
                    continue
                other_ip = other._local[0]
                if other_ip == ip or is_wildcard(other_ip) or is_wildcard(ip):
                    other_reuse = bool(
                        other._options.get((socket.SOL_SOCKET, getattr(socket, "SO_REUSEPORT", -1)))
                    )
                    if not (reuse_port and other_reuse):
                        raise OSError(errno.EADDRINUSE, "Address already in use")
        self._local = (ip, port) if self.family == socket.AF_INET else (ip, port, 0, 0)
        ports.setdefault(port, []).append(self)
        self._state = "bound"

    def _unbind(self) -> None:
        if self._local is None:
            return
        if self.family == socket.AF_UNIX:
            if self.host.unix_paths.get(self._local) is self:
                del self.host.unix_paths[self._local]
            return
        ports = self._ports()
        bound = ports.get(self._local[1])
        if bound is not None and self in bound:
            bound.remove(self)
            if not bound:
                del ports[self._local[1]]

    def _source_toward(self, target_ip: str, target_host: Host) -> str:
        """The source address the kernel routes from toward ``target_ip``."""
        if target_host is self.host and (
            is_loopback(target_ip) or target_ip in self.host.addresses or is_wildcard(target_ip)
        ):
            if is_loopback(target_ip) or is_wildcard(target_ip):
                return "127.0.0.1" if self.family == socket.AF_INET else "::1"
            return target_ip
        return self.host.source_address(self.family)

    def _bind_for_connect(self, target_ip: str, target_host: Host) -> None:
        """Before connecting, as the kernel does: an unbound socket is bound (see
        :meth:`_autobind`); one bound to a wildcard address takes the routed source address,
        keeping its port."""
        if self._local is None:
            self._autobind(target_ip, target_host)
        elif is_wildcard(self._local[0]):
            source = self._source_toward(target_ip, target_host)
            self._local = (source, *self._local[1:])

    def _autobind(self, target_ip: str, target_host: Host) -> None:
        """Bind before connecting or sending, as the kernel does: the source address toward
        that target, and the next ephemeral port."""
        source = self._source_toward(target_ip, target_host)
        ports = self._ports()
        port = self.host.ephemeral_port(ports)
        self._local = (source, port) if self.family == socket.AF_INET else (source, port, 0, 0)
        ports.setdefault(port, []).append(self)

    # --- readiness, as a selector would report it ------------------------------------------

    def _readable(self) -> bool:
        return bool(
            self._rx
            or self._rx_eof
            or self._error is not None
            or self._backlog
            or self._dgrams
            or self._state == "closed"
        )

    def _writable(self) -> bool:
        if self._error is not None or self._connect_error is not None:
            return True
        if self.type == socket.SOCK_DGRAM:
            return True
        if self._state != "connected":
            return False
        out = self._out
        return out is None or self._wr_shut or out.space > 0

    def _set_reader(
        self, callback: Callable[[], None], context: contextvars.Context | None = None
    ) -> None:
        self._reader = callback
        self._reader_context = contextvars.copy_context() if context is None else context
        if self._readable():
            self._readable_soon()

    def _clear_reader(self) -> None:
        self._reader = None

    def _set_writer(
        self, callback: Callable[[], None], context: contextvars.Context | None = None
    ) -> None:
        self._writer = callback
        self._writer_context = contextvars.copy_context() if context is None else context
        if self._writable():
            self._writable_soon()

    def _clear_writer(self) -> None:
        self._writer = None

    def _readable_event(self) -> None:
        """Something arrived: the reader (a transport, a sock_recv) runs now, in this step.

        One promise of stock asyncio must hold here that simloop's ready lanes would not keep
        by themselves: what a read callback schedules (a task woken by ``data_received``) runs
        before the socket's *next* read callback, which a selector only reports at a later
        poll. Programs rely on it (aiohttp's server assumes a request it was handed is
        processed before the connection's EOF is). So after each read callback, a marker is
        scheduled behind whatever it scheduled; until the marker has run, the socket's next
        read event waits, and the marker delivers it.
        """
        reader = self._reader
        if reader is None:
            return
        if self.net.stock_order:
            # Fifo runs stock asyncio's one queue, which keeps this promise by itself.
            assert self._reader_context is not None
            self._reader_context.run(reader)
            return
        if self._read_settling:
            self._read_deferred = True
            return
        self._read_settling = True
        assert self._reader_context is not None
        try:
            self._reader_context.run(reader)
        finally:
            reader = None  # no cycle through a stored error (see _writable_event)
        loop = self.net.loop
        assert loop is not None
        loop.call_soon(self._read_settled)

    def _read_settled(self) -> None:
        self._read_settling = False
        if self._read_deferred:
            self._read_deferred = False
            if self._reader is not None and self._readable():
                self._readable_event()

    def _writable_event(self) -> None:
        writer = self._writer
        if writer is not None:
            assert self._writer_context is not None
            try:
                self._writer_context.run(writer)
            finally:
                # An error the writer stored keeps this frame alive (its traceback's frames
                # link back here): it must not keep the writer, and its future, too.
                writer = None

    def _readable_soon(self) -> None:
        if not self._read_poll:
            self._read_poll = True
            _compat.call_later_ns(0, self._poll_read, loop=self.net.loop)

    def _writable_soon(self) -> None:
        if not self._write_poll and self._writer is not None:
            self._write_poll = True
            _compat.call_later_ns(0, self._poll_write, loop=self.net.loop)

    def _poll_read(self) -> None:
        self._read_poll = False
        if self._reader is not None and self._readable():
            self._readable_event()

    def _poll_write(self) -> None:
        self._write_poll = False
        if self._writer is not None and self._writable():
            self._writable_event()

    # --- streams ----------------------------------------------------------------------------

    def _start_connect(self, address: Address) -> None:
        net = self.net
        if self.family == socket.AF_UNIX:
            target_host = self.host
            target_ip = ""
        else:
            target_ip = address[0]
            if is_wildcard(target_ip):
                target_ip = "127.0.0.1" if self.family == socket.AF_INET else "::1"
                address = (target_ip, *address[1:])
            target_host = net.host_at(target_ip, self.host)
            self._bind_for_connect(target_ip, target_host)
        self._state = "connecting"
        self._peer = address
        loop = net.loop
        assert loop is not None
        net.maybe_inject_partition()
        link = net.link(self.host, target_host)
        levels = link.latency.levels_ns
        delay = levels[0]
        if len(levels) > 1:
            what = f"connection {self.describe_local()}→{format_address(address)}"
            labels = [f"{what} delayed {format_duration(ns)}" for ns in levels]
            delay = levels[
                _compat.choose(
                    _compat.ChoicePoint("net.delay", len(levels), labels=labels), loop=loop
                )
            ]
        _compat.call_later_ns(delay, self._syn_arrives, target_host, address, 0, loop=loop)

    def _syn_arrives(self, target_host: Host, address: Address, waited_ns: int) -> None:
        if self._state != "connecting":
            return
        net = self.net
        target_ip = "" if self.family == socket.AF_UNIX else address[0]
        if net._cuts and net.blocked(self.host, self.local_ip(), target_host, target_ip):
            # No answer: the kernel retries the SYN until the partition heals or it gives up.
            deadline = _compat.now_ns(loop=net.loop)
            timer = _compat.call_later_ns(
                net.connect_timeout_ns - waited_ns, self._connect_timed_out, loop=net.loop
            )

            def retry() -> None:
                timer.cancel()
                waited = waited_ns + _compat.now_ns(loop=net.loop) - deadline
                self._syn_arrives(target_host, address, waited)

            net.on_heal(retry)
            return
        listener = self._find_listener(target_host, address)
        if listener is None or len(listener._backlog) >= listener._listen_backlog:
            self._connect_failed(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
            return
        server_side = SimSocket(self.family, self.type, self.proto, network=net, host=target_host)
        server_side._state = "connected"
        if self.family == socket.AF_UNIX:
            server_side._local = listener._local
            server_side._peer = self._local if self._local is not None else ""
        else:
            server_side._local = address
            server_side._peer = self._local
        server_side._options = dict(listener._options)
        forward = net.link(self.host, target_host)
        backward = net.link(target_host, self.host)
        self._out = server_side._in = _Pipe(net, self, server_side, forward)
        server_side._out = self._in = _Pipe(net, server_side, self, backward)
        self._state = "connected"
        listener._backlog.append(server_side)
        listener._readable_event()
        self._writable_event()

    def _connect_timed_out(self) -> None:
        if self._state == "connecting":
            self._connect_failed(TimeoutError(errno.ETIMEDOUT, "Connection timed out"))

    def _connect_failed(self, error: OSError) -> None:
        self._state = "bound"
        self._peer = None
        self._connect_error = error
        self._writable_event()

    def _find_listener(self, host: Host, address: Address) -> SimSocket | None:
        if self.family == socket.AF_UNIX:
            found = host.unix_paths.get(address)
            return found if found is not None and found._state == "listening" else None
        ip, port = address[0], address[1]
        wildcard = None
        for candidate in host.tcp_ports.get(port, ()):
            if candidate._state != "listening" or candidate.family != self.family:
                continue
            bound_ip = candidate._local[0]
            if bound_ip == ip:
                return candidate
            if is_wildcard(bound_ip) and wildcard is None:
                wildcard = candidate
        return wildcard

    def _send(self, data: Any) -> int:
        if self._error is not None:
            raise self._error
        if self.type == socket.SOCK_DGRAM:
            if self._peer is None:
                raise OSError(errno.EDESTADDRREQ, "Destination address required")
            return self._sendto(bytes(data), self._peer)
        if self._state != "connected":
            if self._state == "closed":
                raise OSError(errno.EBADF, "Bad file descriptor")
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        if self._wr_shut:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        out = self._out
        assert out is not None
        size = len(data)
        if size == 0:
            return 0
        n = min(size, out.space)
        if n <= 0:
            raise _would_block()
        out.send(bytes(data[:n]) if n < size or not isinstance(data, bytes) else data)
        return n

    def _recv(self, bufsize: int) -> bytes:
        rx = self._rx
        if rx:
            if bufsize >= len(rx):
                data = bytes(rx)
                rx.clear()
            else:
                data = bytes(rx[:bufsize])
                del rx[:bufsize]
            incoming = self._in
            if incoming is not None:
                incoming.consumed(len(data))
            return data
        if self._error is not None:
            error = self._error
            raise error
        if self._rx_eof:
            return b""
        if self._state == "closed":
            raise OSError(errno.EBADF, "Bad file descriptor")
        if self._state != "connected":
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        raise _would_block()

    def connection_reset(self, error: OSError) -> None:
        """The connection this socket is an end of is reset (or timed out): both ends fail."""
        peer = None if self._out is None else self._out.dst
        for end in (self, peer):
            if end is None or end._state == "closed" or end._error is not None:
                continue
            end._error = error if end is self else type(error)(error.errno, error.strerror)
            end._rx.clear()
            for pipe in (end._out, end._in):
                if pipe is not None:
                    pipe.inflight.clear()
                    pipe.dst_gone = True
            # The reset reaches the end as a packet: its reader and writer hear of it at the
            # next batch boundary, never from inside the step that caused it.
            end._readable_soon()
            end._writable_soon()

    def _close_with_reset(self) -> None:
        """An accepted connection nobody took (its listener closed): the peer is reset."""
        if self._out is not None:
            self._out.dst.connection_reset(_reset_error())
        self._state = "closed"

    # --- datagrams --------------------------------------------------------------------------

    def _connect_datagram(self, address: Address) -> None:
        if self.family == socket.AF_UNIX:
            self._peer = address
            return
        target_host = self.net.host_at(address[0], self.host)
        self._bind_for_connect(address[0], target_host)
        self._peer = address

    def _sendto(self, data: bytes, address: Address) -> int:
        self._check_open()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if address is None:
            if self._peer is None:
                raise OSError(errno.EDESTADDRREQ, "Destination address required")
            address = self._peer
        address = self._normal_address(address)
        if len(data) > MAX_DATAGRAM:
            raise OSError(errno.EMSGSIZE, "Message too long")
        net = self.net
        loop = net.loop
        assert loop is not None
        if self.family == socket.AF_UNIX:
            target_host = self.host
        else:
            target_host = net.host_at(address[0], self.host)
            if self._local is None:
                self._autobind(address[0], target_host)
        net.maybe_inject_partition()
        link = net.link(self.host, target_host)
        copies = [0]
        extra = 0
        options = link.datagram_options
        if options > 1 and net.budget_left():
            packet = net.next_packet()
            what = f"datagram {packet} {self.describe_local()}→{format_address(address)}"
            fates = ["delivered"]
            if link.drop:
                fates.append("lost")
            if link.duplicate:
                fates.append("duplicated")
            if link.reorder:
                fates.append("reordered")
            c = _compat.choose(
                _compat.ChoicePoint(
                    "net.datagram",
                    len(fates),
                    labels=[f"{what} {f}" for f in fates],
                    weights=fault_weights(len(fates)),
                ),
                loop=loop,
            )
            fate = fates[c]
            if fate != "delivered":
                net.spend_fault(f"{what} {fate} (injected)")
            if fate == "lost":
                return len(data)
            if fate == "duplicated":
                copies = [0, 0]
            if fate == "reordered":
                extra = REORDER_DELAY_NS
        elif options > 1:
            net.next_packet()
        levels = link.latency.levels_ns
        for _ in copies:
            delay = levels[0]
            if len(levels) > 1:
                what = f"datagram {self.describe_local()}→{format_address(address)}"
                labels = [f"{what} delayed {format_duration(ns)}" for ns in levels]
                delay = levels[
                    _compat.choose(
                        _compat.ChoicePoint("net.delay", len(levels), labels=labels), loop=loop
                    )
                ]
            _compat.call_later_ns(
                delay + extra,
                self._datagram_arrives,
                target_host,
                address,
                data,
                self.getsockname(),
                loop=loop,
            )
        return len(data)

    def _datagram_arrives(
        self, target_host: Host, address: Address, data: bytes, source: Address
    ) -> None:
        net = self.net
        target_ip = "" if self.family == socket.AF_UNIX else address[0]
        if net._cuts and net.blocked(self.host, self.local_ip(), target_host, target_ip):
            return  # a datagram across a partition is lost
        receiver = self._find_datagram_receiver(target_host, address)
        if receiver is None:
            # ICMP port unreachable: a connected sender hears of it on its next receive.
            if self._peer is not None and self._state != "closed":
                self._error = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
                self._readable_event()
            return
        if (
            receiver._peer is not None
            and receiver._peer != source
            and receiver.family != socket.AF_UNIX
        ):
            return  # a connected socket only hears from its peer
        if receiver._dgram_bytes + len(data) > net.buffer_size:
            return  # the receive buffer is full: dropped, as a kernel does
        receiver._dgrams.append((data, source))
        receiver._dgram_bytes += len(data)
        receiver._readable_event()

    def _find_datagram_receiver(self, host: Host, address: Address) -> SimSocket | None:
        if self.family == socket.AF_UNIX:
            found = host.unix_paths.get(address)
            return (
                found
                if found is not None
                and found.type == socket.SOCK_DGRAM
                and found._state != "closed"
                else None
            )
        ip, port = address[0], address[1]
        wildcard = None
        for candidate in host.udp_ports.get(port, ()):
            if candidate._state == "closed" or candidate.family != self.family:
                continue
            bound_ip = candidate._local[0]
            if bound_ip == ip:
                return candidate
            if is_wildcard(bound_ip) and wildcard is None:
                wildcard = candidate
        return wildcard


def new_socket(
    family: int = socket.AF_INET, type: int = socket.SOCK_STREAM, proto: int = 0
) -> SimSocket:
    """A simulated socket on the host the caller runs on (inside a simulated run only)."""
    return SimSocket(family, type, proto)


def connected_pair(network: Network, proto: int = 0) -> tuple[SimSocket, SimSocket]:
    """Two ``AF_UNIX`` stream sockets connected to each other, as ``socket.socketpair()``
    makes them: no addresses (``''`` both ways), on the host the caller runs on."""
    ends = (
        SimSocket(socket.AF_UNIX, socket.SOCK_STREAM, proto, network=network),
        SimSocket(socket.AF_UNIX, socket.SOCK_STREAM, proto, network=network),
    )
    a, b = ends
    link = network.link(a.host, b.host)
    a._out = b._in = _Pipe(network, a, b, link)
    b._out = a._in = _Pipe(network, b, a, link)
    for end in ends:
        end._state = "connected"
        end._peer = ""
    return ends


def loop_of(sock: SimSocket) -> SimLoop:
    loop = sock.net.loop
    assert loop is not None
    return loop
