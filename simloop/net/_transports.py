"""asyncio transports over simulated sockets.

They follow stock asyncio's selector transports call for call (``selector_events.py``): the
same callbacks in the same order (``connection_made``, then reading starts, then the waiter
is woken), the same flow control (water marks, ``pause_writing``/``resume_writing``), the
same handling of EOF, errors and ``close``/``abort``. Where stock asyncio registers a reader
with its selector, these register one with the simulated socket.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import warnings
from typing import TYPE_CHECKING, Any

from simloop.net._sockets import SimSocket

if TYPE_CHECKING:
    from simloop.net._server import Server

logger = logging.getLogger("asyncio")

#: As asyncio's ``constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES``.
_LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5


def _set_result_unless_cancelled(fut: asyncio.Future[Any], result: Any) -> None:
    if not fut.cancelled():
        fut.set_result(result)


class _FlowControl:
    """Write-buffer water marks, as asyncio's ``_FlowControlMixin``."""

    _loop: asyncio.AbstractEventLoop
    _protocol: Any

    def _init_flow_control(self) -> None:
        self._protocol_paused = False
        self._set_write_buffer_limits()

    def _set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water = high
        self._low_water = low

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._set_write_buffer_limits(high=high, low=low)
        self._maybe_pause_protocol()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low_water, self._high_water)

    def get_write_buffer_size(self) -> int:
        raise NotImplementedError

    def _maybe_pause_protocol(self) -> None:
        size = self.get_write_buffer_size()
        if size <= self._high_water:
            return
        if not self._protocol_paused:
            self._protocol_paused = True
            try:
                self._protocol.pause_writing()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._loop.call_exception_handler(
                    {
                        "message": "protocol.pause_writing() failed",
                        "exception": exc,
                        "transport": self,
                        "protocol": self._protocol,
                    }
                )

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and self.get_write_buffer_size() <= self._low_water:
            self._protocol_paused = False
            try:
                self._protocol.resume_writing()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._loop.call_exception_handler(
                    {
                        "message": "protocol.resume_writing() failed",
                        "exception": exc,
                        "transport": self,
                        "protocol": self._protocol,
                    }
                )


class _BaseTransport(_FlowControl):
    """What stream and datagram transports share: closing, reading, extra info."""

    max_size = 256 * 1024  # bytes per read, as stock asyncio's recv()

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: SimSocket,
        protocol: Any,
        extra: dict[str, Any] | None = None,
        server: Server | None = None,
    ) -> None:
        self._loop = loop
        self._extra: dict[str, Any] = dict(extra or {})
        self._extra["socket"] = sock
        try:
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            self._extra["sockname"] = None
        if "peername" not in self._extra:
            try:
                self._extra["peername"] = sock.getpeername()
            except OSError:
                self._extra["peername"] = None
        self._sock: SimSocket | None = sock
        self._protocol_connected = False
        self.set_protocol(protocol)
        self._server = server
        self._buffer: collections.deque[Any] = collections.deque()
        self._buffer_size = 0
        self._conn_lost = 0
        self._closing = False
        self._paused = False
        self._init_flow_control()
        if server is not None:
            server._attach(self)

    def __repr__(self) -> str:
        state = " closed" if self._sock is None else (" closing" if self._closing else "")
        return f"<{type(self).__name__}{state}>"

    # get_extra_info is asyncio.BaseTransport's own, as for stock transports (a test that
    # patches asyncio.BaseTransport.get_extra_info reaches it).

    def abort(self) -> None:
        self._force_close(None)

    def set_protocol(self, protocol: Any) -> None:
        self._protocol = protocol
        self._protocol_connected = True

    def get_protocol(self) -> Any:
        return self._protocol

    def is_closing(self) -> bool:
        # Once its loop is closed, the simulated network it ran on is gone too. (So a run that
        # ends with connections open, as the failing runs of an exploration do, does not make
        # every StreamWriter left behind warn when it is collected.)
        return self._closing or self._loop.is_closed()

    def is_reading(self) -> bool:
        return not self.is_closing() and not self._paused

    def pause_reading(self) -> None:
        if not self.is_reading():
            return
        self._paused = True
        if self._sock is not None:
            self._sock._clear_reader()

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._add_reader()

    def _add_reader(self) -> None:
        if not self.is_reading() or self._sock is None:
            return
        self._sock._set_reader(self._read_ready)

    def _read_ready(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        sock = self._sock
        if sock is not None:
            sock._clear_reader()
        if not self._buffer:
            self._conn_lost += 1
            if sock is not None:
                sock._clear_writer()
            self._loop.call_soon(self._call_connection_lost, None)

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if self._sock is not None:
            # Stock asyncio warns of a transport nobody closed: it holds a file descriptor.
            # A simulated one holds nothing once its run is over (an exploration leaves many
            # behind in the runs that fail), so it only warns while its loop still runs.
            if not self._loop.is_closed():
                _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._sock.close()

    def _fatal_error(self, exc: BaseException, message: str = "Fatal error on transport") -> None:
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        sock = self._sock
        if self._buffer:
            self._buffer.clear()
            self._buffer_size = 0
            if sock is not None:
                sock._clear_writer()
        if not self._closing:
            self._closing = True
            if sock is not None:
                sock._clear_reader()
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            if self._sock is not None:
                self._sock.close()
            self._sock = None
            self._protocol = None
            server = self._server
            if server is not None:
                server._detach(self)
                self._server = None

    def get_write_buffer_size(self) -> int:
        return self._buffer_size


class StreamTransport(_BaseTransport, asyncio.Transport):
    """A TCP (or Unix stream) connection, as asyncio's ``_SelectorSocketTransport``."""

    # What BaseEventLoop.start_tls checks before it wraps a transport in TLS.
    _start_tls_compatible = True

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: SimSocket,
        protocol: Any,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
        server: Server | None = None,
    ) -> None:
        super().__init__(loop, sock, protocol, extra, server)
        self._eof = False
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._loop.call_soon(self._protocol.connection_made, self)
        # Only start reading when connection_made() has been called.
        self._loop.call_soon(self._add_reader)
        if waiter is not None:
            self._loop.call_soon(_set_result_unless_cancelled, waiter, None)

    def set_protocol(self, protocol: Any) -> None:
        self._buffered = isinstance(protocol, asyncio.BufferedProtocol)
        super().set_protocol(protocol)

    def _read_ready(self) -> None:
        if self._conn_lost:
            return
        sock = self._sock
        assert sock is not None
        if self._buffered:
            try:
                buf = self._protocol.get_buffer(-1)
                if not len(buf):
                    raise RuntimeError("get_buffer() returned an empty buffer")
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
                return
            try:
                nbytes = sock.recv_into(buf)
            except (BlockingIOError, InterruptedError):
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal read error on socket transport")
                return
            if not nbytes:
                self._on_eof()
                return
            try:
                self._protocol.buffer_updated(nbytes)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
            else:
                self._more_to_read()
            return
        try:
            data = sock.recv(self.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not data:
            self._on_eof()
            return
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")
        else:
            self._more_to_read()

    def _more_to_read(self) -> None:
        # A selector reports a socket that still has data readable again at its next poll.
        sock = self._sock
        if (
            sock is not None
            and sock._reader is not None
            and (sock._rx or sock._rx_eof or sock._error)
        ):
            sock._readable_soon()

    def _on_eof(self) -> None:
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if keep_open:
            # The protocol can write more, but nothing more can be read.
            if self._sock is not None:
                self._sock._clear_reader()
        else:
            self.close()

    def write(self, data: Any) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        if self._conn_lost:
            if self._conn_lost >= _LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        sock = self._sock
        assert sock is not None
        if not self._buffer:
            out = sock._out
            if (
                out is not None
                and out.ideal
                and out.held is None
                and not out.net._candidates
                and sock._error is None
                and not sock._wr_shut
                and len(data) <= out.capacity - out.queued
                and sock._state == "connected"
            ):
                # The short path of sock.send() on an ideal link (the common case).
                out.send_now(data if data.__class__ is bytes else bytes(data))
                return
            # Try to send now, as stock asyncio does.
            try:
                n = sock.send(data)
            except (BlockingIOError, InterruptedError):
                pass
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            else:
                if n == len(data):
                    return
                data = memoryview(data)[n:]
            sock._set_writer(self._write_ready)
        self._buffer.append(bytes(data))
        self._buffer_size += len(data)
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Any) -> None:
        if self._eof:
            raise RuntimeError("Cannot call writelines() after write_eof()")
        data = b"".join(list_of_data)
        if data:
            self.write(data)

    def _write_ready(self) -> None:
        if self._conn_lost or not self._buffer:
            return
        sock = self._sock
        assert sock is not None
        try:
            while self._buffer:
                chunk = self._buffer[0]
                n = sock.send(chunk)
                self._buffer_size -= n
                if n < len(chunk):
                    self._buffer[0] = chunk[n:]
                    break
                self._buffer.popleft()
        except (BlockingIOError, InterruptedError):
            pass
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            sock._clear_writer()
            self._buffer.clear()
            self._buffer_size = 0
            self._fatal_error(exc, "Fatal write error on socket transport")
            return
        self._maybe_resume_protocol()  # may append to the buffer
        if not self._buffer:
            if self._sock is not None:
                self._sock._clear_writer()
            if self._closing:
                self._call_connection_lost(None)
            elif self._eof and self._sock is not None:
                self._sock.shutdown(socket.SHUT_WR)

    def write_eof(self) -> None:
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffer and self._sock is not None:
            self._sock.shutdown(socket.SHUT_WR)

    def can_write_eof(self) -> bool:
        return True


class DatagramTransport(_BaseTransport, asyncio.DatagramTransport):
    """A UDP (or Unix datagram) endpoint, as asyncio's ``_SelectorDatagramTransport``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: SimSocket,
        protocol: Any,
        address: Any = None,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(loop, sock, protocol, extra)
        self._address = address
        self._loop.call_soon(self._protocol.connection_made, self)
        self._loop.call_soon(self._add_reader)
        if waiter is not None:
            self._loop.call_soon(_set_result_unless_cancelled, waiter, None)

    def _read_ready(self) -> None:
        if self._conn_lost:
            return
        sock = self._sock
        assert sock is not None
        try:
            data, addr = sock.recvfrom(self.max_size)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on datagram transport")
        else:
            self._protocol.datagram_received(data, addr)
        if (
            self._sock is not None
            and self._sock._reader is not None
            and (self._sock._dgrams or self._sock._error)
        ):
            self._sock._readable_soon()

    def sendto(self, data: Any, addr: Any = None) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._conn_lost and self._address:
            if self._conn_lost >= _LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        sock = self._sock
        if sock is None:
            return
        try:
            if self._extra.get("peername"):
                sock._send(bytes(data))
            else:
                sock._sendto(bytes(data), addr)
        except OSError as exc:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal write error on datagram transport")
