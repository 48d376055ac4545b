"""The simulated network: real asyncio networking code, unmodified, inside a simulation.

Inside a :class:`~simloop.SimLoop`, the loop's network methods (``create_connection``,
``create_server``, ``getaddrinfo``, ``sock_*``...) and everything built on them (streams,
aiohttp, httpx, websockets) run over a simulated network instead of the OS: in memory, in
virtual time, deterministically. ``localhost`` works with no set-up; hosts, latency, faults and
partitions are declared on the loop's :class:`Network` (:func:`current`).

The functions of this module act on the network of the running loop.
"""

from __future__ import annotations

from collections.abc import Iterable

from simloop.net import _compat
from simloop.net._config import Latency, Link
from simloop.net._network import Host, Network, network_of
from simloop.net._server import Server
from simloop.net._sockets import SimSocket, new_socket

__all__ = [
    "Host",
    "Latency",
    "Link",
    "Network",
    "Server",
    "SimSocket",
    "add_host",
    "current",
    "cut",
    "heal",
    "install",
    "isolate",
    "partition",
    "partition_for",
    "socket",
]


def current() -> Network:
    """The running loop's network (made, with default settings, on first use)."""
    return network_of(_compat.current_loop())


def install(network: Network) -> Network:
    """Make ``network`` the running loop's network; call it before the first network call.

    A :class:`Network` belongs to one run: make it inside the run (in ``main``), so that every
    run of an exploration starts from a fresh one.
    """
    network.bind(_compat.current_loop())
    return network


def add_host(name: str, *addresses: str, aliases: Iterable[str] = ()) -> Host:
    """:meth:`Network.add_host` on the running loop's network."""
    return current().add_host(name, *addresses, aliases=aliases)


def partition(*groups: str | Host | Iterable[str | Host]) -> None:
    """:meth:`Network.partition` on the running loop's network."""
    current().partition(*groups)


def isolate(*targets: str | Host) -> None:
    """:meth:`Network.isolate` on the running loop's network."""
    current().isolate(*targets)


def cut(src: str | Host | Iterable[str | Host], dst: str | Host | Iterable[str | Host]) -> None:
    """:meth:`Network.cut` on the running loop's network."""
    current().cut(src, dst)


def heal() -> None:
    """:meth:`Network.heal` on the running loop's network."""
    current().heal()


def partition_for(*groups: str | Host | Iterable[str | Host], seconds: float) -> None:
    """:meth:`Network.partition_for` on the running loop's network."""
    current().partition_for(*groups, seconds=seconds)


def socket(family: int = 2, type: int = 1, proto: int = 0) -> SimSocket:
    """A simulated socket (``AF_INET``/``AF_INET6``/``AF_UNIX``, stream or datagram) on the
    host the caller runs on, for the loop's ``sock_*`` methods."""
    return new_socket(family, type, proto)


for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("simloop.net._"):
        _obj.__module__ = "simloop.net"
del _name, _obj
