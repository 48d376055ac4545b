"""A simulation has no real I/O: the loop methods that would touch the OS are simulated, or raise.

The network methods (connections, servers, datagrams, name lookups, ``sock_*``) run on the
loop's simulated network, :mod:`simloop.net`. This is the loop's one hook into it: the
network is imported when a program first uses it, never by the loop itself, and each loop gets
its own (made on first use, or installed with :func:`simloop.net.install`).

Signal handlers are installed on the run, not on the process (:mod:`simloop._signals`). The
others (file descriptors, pipes, subprocesses) raise
:class:`~simloop.EscapedSimulationError` naming the call, why it would make the run
unreproducible, and what to do instead.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, NoReturn

from simloop import _signals
from simloop._errors import EscapedSimulationError
from simloop._executor import loop_of_running_job
from simloop._guards import escape_message


def _network_io() -> Any:
    """The module of the loop's network methods, imported on first use."""
    from simloop.net import _loopio

    return _loopio


def simulating_loop() -> Any:
    """The SimLoop this thread runs, or whose executor job it runs (a job has no running
    loop, as in a worker thread); None if there is none."""
    loop = asyncio.events._get_running_loop()
    if loop is None:
        loop = loop_of_running_job()
    return loop if isinstance(loop, NoRealIO) else None


def bind_real_socket(sock: Any, address: Any) -> bool:
    """Bind a socket the program made itself (``socket.socket()``) inside the simulation, if
    a SimLoop runs in this thread: its network adopts the socket and a simulated one binds in
    its place. False if there is no SimLoop running, or the network does not take it."""
    loop = simulating_loop()
    if loop is None:
        return False
    return bool(_network_io().bind_real_socket(loop, sock, address))


def adopt_socket_pair(a: Any, b: Any) -> None:
    """``socket.socketpair()`` made ``a`` and ``b`` in a simulating thread: if a SimLoop runs
    there, its network adopts them as a connected pair."""
    loop = simulating_loop()
    if loop is not None:
        _network_io().adopt_socket_pair(loop, a, b)


def stand_in_of(sock: Any) -> Any:
    """The simulated socket that adopted the real socket ``sock``, or None."""
    loopio = sys.modules.get("simloop.net._loopio")
    return None if loopio is None else loopio.adopted_stand_in(sock)


def release_real_socket(sock: Any) -> None:
    """The real socket ``sock`` is being closed: close the simulated socket that adopted it."""
    loopio = sys.modules.get("simloop.net._loopio")
    if loopio is not None:
        loopio.release_real_socket(sock)


_FD_WHY = "watching a real file descriptor depends on the world outside the simulation"
_PROCESS_WHY = "a subprocess runs outside simloop's control"
_PROCESS_INSTEAD = "Fake the subprocess in the test, or run this test on a real event loop."


def _escape(call: str, why: str, instead: str) -> NoReturn:
    raise EscapedSimulationError(escape_message(f"loop.{call}()", why, instead))


class NoRealIO:
    """Mixin for SimLoop: every event-loop method that needs the OS raises an escape error."""

    def add_reader(self, fd: Any, callback: Any, *args: Any) -> None:
        _escape("add_reader", _FD_WHY, "Fake the I/O source in the test.")

    def add_writer(self, fd: Any, callback: Any, *args: Any) -> None:
        _escape("add_writer", _FD_WHY, "Fake the I/O source in the test.")

    def remove_reader(self, fd: Any) -> bool:
        return False

    def remove_writer(self, fd: Any) -> bool:
        return False

    def add_signal_handler(self, sig: int, callback: Any, *args: Any) -> None:
        # Installed on the run, not the process (see simloop._signals).
        _signals.add_loop_handler(self, sig, callback, args)

    def remove_signal_handler(self, sig: int) -> bool:
        return _signals.remove_loop_handler(self, sig)

    async def getaddrinfo(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().getaddrinfo(self, *args, **kwargs)

    async def getnameinfo(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().getnameinfo(self, *args, **kwargs)

    async def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().create_connection(self, *args, **kwargs)

    async def create_server(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().create_server(self, *args, **kwargs)

    async def create_datagram_endpoint(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().create_datagram_endpoint(self, *args, **kwargs)

    async def create_unix_connection(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().create_unix_connection(self, *args, **kwargs)

    async def create_unix_server(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().create_unix_server(self, *args, **kwargs)

    async def connect_accepted_socket(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().connect_accepted_socket(self, *args, **kwargs)

    async def start_tls(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().start_tls(self, *args, **kwargs)

    async def sendfile(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().sendfile(self, *args, **kwargs)

    async def sock_sendfile(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().sock_sendfile(self, *args, **kwargs)

    async def sock_recv(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().sock_recv(self, *args, **kwargs)

    async def sock_recv_into(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().sock_recv_into(self, *args, **kwargs)

    async def sock_recvfrom(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().sock_recvfrom(self, *args, **kwargs)

    async def sock_recvfrom_into(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().sock_recvfrom_into(self, *args, **kwargs)

    async def sock_sendall(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().sock_sendall(self, *args, **kwargs)

    async def sock_sendto(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().sock_sendto(self, *args, **kwargs)

    async def sock_connect(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().sock_connect(self, *args, **kwargs)

    async def sock_accept(self, *args: Any, **kwargs: Any) -> Any:
        return await _network_io().sock_accept(self, *args, **kwargs)

    async def connect_read_pipe(self, *args: Any, **kwargs: Any) -> Any:
        _escape("connect_read_pipe", "a real pipe is outside the simulation", "Fake the pipe.")

    async def connect_write_pipe(self, *args: Any, **kwargs: Any) -> Any:
        _escape("connect_write_pipe", "a real pipe is outside the simulation", "Fake the pipe.")

    async def subprocess_exec(self, *args: Any, **kwargs: Any) -> Any:
        _escape("subprocess_exec", _PROCESS_WHY, _PROCESS_INSTEAD)

    async def subprocess_shell(self, *args: Any, **kwargs: Any) -> Any:
        _escape("subprocess_shell", _PROCESS_WHY, _PROCESS_INSTEAD)
