"""The simulated network: hosts, names, ports, links, partitions and the faults a search injects.

A :class:`Network` belongs to one loop (one run). It starts with one host, ``local``, where
code runs unless it entered another (``with host:``); every host has its own loopback
(``127.0.0.1``, ``::1``, the name ``localhost``), so a test that starts a server on localhost
and connects to it needs no set-up at all.

Addresses outside the network are never reached: a name that a real resolver could not find
either (``nosuchhost``, ``db.invalid``) fails with ``socket.gaierror`` as on a real machine,
and anything that might exist on the real internet (a public name or address, a private
address nobody declared) raises :class:`~simloop.EscapedSimulationError`, which says how to
declare it.
"""

from __future__ import annotations

import contextvars
import errno
import ipaddress
import socket
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from simloop import EscapedSimulationError, InvalidArgumentError, SimLoop
from simloop.net import _compat
from simloop.net._config import (
    IDEAL,
    Link,
    _seconds_to_ns,
    fault_weights,
    format_duration,
)

if TYPE_CHECKING:
    import asyncio

    from simloop.net._sockets import SimSocket

_T = TypeVar("_T")

#: The host code runs on, where it entered one (``with host:``); else the network's local host.
_current_host: contextvars.ContextVar[Host | None] = contextvars.ContextVar(
    "simloop_net_host", default=None
)

#: Names no real resolver answers either: these fail with gaierror, never escape (RFC 2606,
#: RFC 6761, RFC 8375 and the usual in-house suffixes).
_PRIVATE_SUFFIXES = (
    ".invalid",
    ".test",
    ".example",
    ".local",
    ".localhost",
    ".internal",
    ".lan",
    ".home.arpa",
)

_LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")

#: The first port handed out to a socket that binds port 0 or connects unbound (Linux's
#: ip_local_port_range starts here); handed out in order, so runs replay.
EPHEMERAL_FIRST = 32768
EPHEMERAL_LAST = 60999

#: Linux gives up a connect() that gets no answer after 6 SYN retries: about 127 s.
CONNECT_TIMEOUT = 127.0
#: ... and an established connection whose data goes unacknowledged after about 15 minutes.
RETRANSMIT_TIMEOUT = 924.6

#: Each direction of a TCP connection holds this much unread data (send plus receive buffer)
#: before writes block.
DEFAULT_BUFFER = 256 * 1024

_DECLARE = (
    "Declare it in the simulated network, e.g. `simloop.net.current().add_host({name!r}, "
    "{address!r})`, or use a host that the test declared."
)


def _escape(what: str, how: str) -> EscapedSimulationError:
    return EscapedSimulationError(
        f"{what} is outside the simulated network: reaching it would leave the simulation, so "
        f"the run could not be replayed. {how}"
    )


def _normal_name(name: str) -> str:
    return name.rstrip(".").lower()


def is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_loopback


def ip_family(address: str) -> int | None:
    """``AF_INET``/``AF_INET6`` for a numeric address, None for a name."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def is_wildcard(address: str) -> bool:
    return address in ("", "0.0.0.0", "::")


class Host:
    """A machine on the simulated network: a name, its addresses, and its own loopback.

    Code runs on a host inside ``with host:`` (and so do the tasks it creates there): its
    connections come from the host's address, and servers it starts bind there.

    Attributes: ``name`` (which resolves to its addresses from every host), ``addresses``
    (the first of each family is where its connections to other hosts come from), ``aliases``
    (other names that resolve to it), ``network``.
    """

    def __init__(
        self, network: Network, name: str, addresses: tuple[str, ...], aliases: tuple[str, ...]
    ) -> None:
        self.network = network
        #: The host's name, which resolves to its addresses from every host.
        self.name = name
        #: Its addresses (besides its loopback), the first of each family used as source.
        self.addresses = addresses
        #: Other names that resolve to it.
        self.aliases = aliases
        self._tokens: list[contextvars.Token[Host | None]] = []
        # Ports in use, per protocol: port -> sockets bound to it.
        self.tcp_ports: dict[int, list[SimSocket]] = {}
        self.udp_ports: dict[int, list[SimSocket]] = {}
        self.unix_paths: dict[str, SimSocket] = {}
        self._next_port = EPHEMERAL_FIRST

    def __repr__(self) -> str:
        return f"<Host {self.name} {' '.join(self.addresses)}>"

    def __enter__(self) -> Host:
        self._tokens.append(_current_host.set(self))
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current_host.reset(self._tokens.pop())

    def create_task(
        self, coro: Coroutine[Any, Any, _T], *, name: str | None = None
    ) -> asyncio.Task[_T]:
        """Start ``coro`` as a task that runs on this host."""
        import asyncio

        context = contextvars.copy_context()
        context.run(_current_host.set, self)
        return asyncio.get_running_loop().create_task(coro, name=name, context=context)

    def source_address(self, family: int) -> str:
        """The address connections of this family leave from, to other hosts."""
        for address in self.addresses:
            if ip_family(address) == family:
                return address
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    def owns(self, address: str) -> bool:
        return address in self.addresses or is_loopback(address) or is_wildcard(address)

    def ephemeral_port(self, table: dict[int, list[SimSocket]]) -> int:
        for _ in range(EPHEMERAL_LAST - EPHEMERAL_FIRST + 1):
            port = self._next_port
            self._next_port = EPHEMERAL_FIRST if port >= EPHEMERAL_LAST else port + 1
            if port not in table:
                return port
        raise OSError(errno.EADDRINUSE, "Address already in use")


class _Cut:
    """One rule that drops traffic: a partition, an isolation, or a one-way cut."""

    def __init__(self, description: str, blocks: Callable[[Host, str, Host, str], bool]) -> None:
        self.description = description
        self.blocks = blocks


class Network:
    """A simulated network for one run.

    Args:
        link: What may happen on every link (latency, split writes, lost datagrams...), unless
            :meth:`set_link` says otherwise for a pair of hosts. The default is an ideal
            loopback: no delay, and no choices beyond asyncio's own.
        fault_budget: At most this many faults (lost or duplicated datagrams, resets, injected
            partitions) a scheduler may inject in one run; ``None`` for no bound.
        localhost: The addresses ``localhost`` resolves to, in order.
        buffer_size: Bytes of unread data one direction of a TCP connection holds before
            writes block (and the writer's transport buffers, then pauses its protocol).
        local_address: The address of the ``local`` host, where code runs by default.
        connect_timeout: How long a connect() that gets no answer (a partition) waits.
        retransmit_timeout: How long an established connection retries unacknowledged data
            across a partition before it fails with ``TimeoutError``.

    Attributes: ``local``, the host code runs on unless it entered another; ``hosts``, every
    host by name; ``log``, what the network did that a person debugging a run wants to know
    (partitions, heals, resets, every fault a scheduler injected), each with its virtual time.
    """

    def __init__(
        self,
        *,
        link: Link = IDEAL,
        fault_budget: int | None = 3,
        localhost: Iterable[str] = ("127.0.0.1", "::1"),
        buffer_size: int = DEFAULT_BUFFER,
        local_address: str = "10.0.0.1",
        connect_timeout: float = CONNECT_TIMEOUT,
        retransmit_timeout: float = RETRANSMIT_TIMEOUT,
    ) -> None:
        if not isinstance(link, Link):
            msg = f"`link` must be a simloop.net.Link, not {type(link).__name__} {link!r}"
            raise InvalidArgumentError(msg)
        if fault_budget is not None and (
            isinstance(fault_budget, bool) or not isinstance(fault_budget, int) or fault_budget < 0
        ):
            kind = type(fault_budget).__name__
            msg = f"`fault_budget` must be a non-negative int or None, not {kind} {fault_budget!r}"
            raise InvalidArgumentError(msg)
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            kind = type(buffer_size).__name__
            msg = f"`buffer_size` must be a positive int, not {kind} {buffer_size!r}"
            raise InvalidArgumentError(msg)
        self.localhost = tuple(localhost)
        for address in self.localhost:
            if not is_loopback(address):
                msg = f"`localhost` must list loopback addresses, not {address!r}"
                raise InvalidArgumentError(msg)
        self.default_link = link
        self.fault_budget = fault_budget
        self.buffer_size = buffer_size
        self.connect_timeout_ns = _seconds_to_ns(connect_timeout, "connect_timeout")
        self.retransmit_timeout_ns = _seconds_to_ns(retransmit_timeout, "retransmit_timeout")
        self.loop: SimLoop | None = None
        #: Whether the loop runs stock asyncio's single queue (the Fifo scheduler).
        self.stock_order = False
        self.hosts: dict[str, Host] = {}
        self._by_address: dict[str, Host] = {}
        self._by_name: dict[str, Host] = {}
        self._links: dict[tuple[str, str], Link] = {}
        self._cuts: list[_Cut] = []
        self._heal_callbacks: list[Callable[[], None]] = []
        self._next_fd = 1000
        self._packets = 0
        self._faults = 0
        self._next_auto = 2
        self._candidates: list[tuple[list[set[str]], tuple[int, ...]]] = []
        #: What the network did that a person debugging a run wants to know, in order:
        #: partitions, heals, resets and every fault a scheduler injected, with the time.
        self.log: list[str] = []
        #: The host code runs on unless it entered another.
        self.local = self.add_host("local", local_address)

    def __repr__(self) -> str:
        return f"<Network hosts={sorted(self.hosts)}>"

    # --- hosts and names ------------------------------------------------------------------

    def add_host(self, name: str, *addresses: str, aliases: Iterable[str] = ()) -> Host:
        """Declare a host; without addresses it gets the next free one of ``10.0.0.0/24``."""
        if not isinstance(name, str) or not name or ip_family(name) is not None:
            msg = f"`name` must be a host name, not {type(name).__name__} {name!r}"
            raise InvalidArgumentError(msg)
        key = _normal_name(name)
        if key in self._by_name or key == "localhost":
            msg = f"a host named {name!r} already exists"
            raise InvalidArgumentError(msg)
        if not addresses:
            while f"10.0.0.{self._next_auto}" in self._by_address:
                self._next_auto += 1
            addresses = (f"10.0.0.{self._next_auto}",)
            self._next_auto += 1
        for address in addresses:
            if ip_family(address) is None or is_loopback(address) or is_wildcard(address):
                msg = f"a host's addresses must be unicast IP addresses, not {address!r}"
                raise InvalidArgumentError(msg)
            if address in self._by_address:
                msg = f"the address {address} already belongs to {self._by_address[address].name}"
                raise InvalidArgumentError(msg)
        host = Host(
            self, name, tuple(str(ipaddress.ip_address(a)) for a in addresses), tuple(aliases)
        )
        self.hosts[name] = host
        self._by_name[key] = host
        for alias in host.aliases:
            self._by_name[_normal_name(alias)] = host
        for address in host.addresses:
            self._by_address[address] = host
        return host

    def host(self, name: str) -> Host:
        """The host of that name (or alias, or address)."""
        found = self._by_name.get(_normal_name(name)) or self._by_address.get(name)
        if found is None:
            msg = f"no host named {name!r} in this network (hosts: {', '.join(sorted(self.hosts))})"
            raise InvalidArgumentError(msg)
        return found

    def current_host(self) -> Host:
        """The host the calling code runs on."""
        host = _current_host.get()
        if host is None:
            return self.local
        if host.network is not self:
            msg = f"{host!r} belongs to another run's network; make hosts inside the run"
            raise InvalidArgumentError(msg)
        return host

    def resolve(self, name: str, origin: Host) -> list[str]:
        """The addresses a name resolves to, seen from ``origin``; gaierror or escape else."""
        key = _normal_name(name)
        if key == "localhost" or key.endswith(".localhost"):
            return list(self.localhost)
        host = self._by_name.get(key)
        if host is not None:
            return list(host.addresses)
        if "." not in key or key.endswith(_PRIVATE_SUFFIXES):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        raise _escape(
            f"The host name {name!r}",
            _DECLARE.format(name=name, address="10.0.0.9"),
        )

    def host_at(self, address: str, origin: Host) -> Host:
        """The host that owns an address (loopback and wildcard: ``origin`` itself)."""
        if is_loopback(address) or is_wildcard(address):
            return origin
        host = self._by_address.get(address.split("%", 1)[0])
        if host is None:
            raise _escape(f"The address {address}", _DECLARE.format(name="server", address=address))
        return host

    def name_of(self, address: str, origin: Host) -> str:
        """Reverse lookup (``getnameinfo``)."""
        if is_loopback(address):
            return "localhost"
        host = self._by_address.get(address)
        if host is None:
            raise _escape(f"The address {address}", _DECLARE.format(name="server", address=address))
        return host.name

    # --- links ------------------------------------------------------------------------------

    def set_link(self, a: str | Host, b: str | Host, link: Link, *, one_way: bool = False) -> None:
        """What may happen to traffic between hosts ``a`` and ``b`` (from ``a`` to ``b`` only,
        with ``one_way``); other pairs keep the network's default link."""
        if not isinstance(link, Link):
            msg = f"`link` must be a simloop.net.Link, not {type(link).__name__} {link!r}"
            raise InvalidArgumentError(msg)
        src, dst = self._as_host(a).name, self._as_host(b).name
        self._links[(src, dst)] = link
        if not one_way:
            self._links[(dst, src)] = link

    def link(self, src: Host, dst: Host) -> Link:
        return (
            self._links.get((src.name, dst.name), self.default_link)
            if self._links
            else self.default_link
        )

    def _as_host(self, target: str | Host) -> Host:
        if isinstance(target, Host):
            if target.network is not self:
                msg = f"{target!r} belongs to another network"
                raise InvalidArgumentError(msg)
            return target
        return self.host(target)

    # --- partitions -------------------------------------------------------------------------

    def _group(self, group: str | Host | Iterable[str | Host]) -> set[str]:
        """A group of hosts, by name: a host, a name, an address, or an iterable of those."""
        if isinstance(group, (str, Host)):
            group = [group]
        names: set[str] = set()
        for item in group:
            if isinstance(item, str) and (is_loopback(item) or _normal_name(item) == "localhost"):
                names.add(self.local.name)
            else:
                names.add(self._as_host(item).name)
        return names

    def partition(self, *groups: str | Host | Iterable[str | Host]) -> None:
        """Split the network: no traffic between hosts of different groups (hosts named in no
        group form one more group). Connections stay open: TCP retries until :meth:`heal`."""
        sides = [self._group(g) for g in groups]
        named = set().union(*sides) if sides else set()
        rest = {name for name in self.hosts if name not in named}
        if rest:
            sides.append(rest)
        side_of = {name: i for i, side in enumerate(sides) for name in side}
        description = "partition " + " | ".join(",".join(sorted(s)) for s in sides)

        def blocks(src: Host, src_addr: str, dst: Host, dst_addr: str) -> bool:
            return side_of.get(src.name) != side_of.get(dst.name)

        self._add_cut(_Cut(description, blocks))

    def isolate(self, *targets: str | Host) -> None:
        """Cut every packet to and from these hosts, their own loopback included: on one host,
        ``isolate("127.0.0.1")`` makes a local server unreachable."""
        names = self._group(targets)

        def blocks(src: Host, src_addr: str, dst: Host, dst_addr: str) -> bool:
            return src.name in names or dst.name in names

        self._add_cut(_Cut("isolate " + ",".join(sorted(names)), blocks))

    def cut(
        self, src: str | Host | Iterable[str | Host], dst: str | Host | Iterable[str | Host]
    ) -> None:
        """A one-way partition: packets from ``src`` to ``dst`` are lost, the other way flows."""
        froms, tos = self._group(src), self._group(dst)

        def blocks(s: Host, s_addr: str, d: Host, d_addr: str) -> bool:
            return s.name in froms and d.name in tos

        self._add_cut(_Cut(f"cut {','.join(sorted(froms))} -> {','.join(sorted(tos))}", blocks))

    def heal(self) -> None:
        """End every partition, isolation and cut; traffic held back flows again."""
        if not self._cuts:
            return
        self._cuts.clear()
        self._record("heal")
        callbacks, self._heal_callbacks = self._heal_callbacks, []
        for callback in callbacks:
            callback()

    def partition_for(self, *groups: str | Host | Iterable[str | Host], seconds: float) -> None:
        """:meth:`partition` (one group: :meth:`isolate`) now, :meth:`heal` after ``seconds``."""
        delay = _seconds_to_ns(seconds, "seconds")
        if len(groups) == 1:
            self.isolate(*([groups[0]] if isinstance(groups[0], (str, Host)) else groups[0]))
        else:
            self.partition(*groups)
        cut = self._cuts[-1]
        _compat.call_later_ns(delay, self._lift, cut, loop=self._require_loop())

    def _lift(self, cut: _Cut) -> None:
        if cut in self._cuts:
            self._cuts.remove(cut)
            self._record(f"end of {cut.description}")
            callbacks, self._heal_callbacks = self._heal_callbacks, []
            for callback in callbacks:
                callback()

    def _add_cut(self, cut: _Cut) -> None:
        self._cuts.append(cut)
        self._record(cut.description)

    def blocked(self, src: Host, src_addr: str, dst: Host, dst_addr: str) -> bool:
        return any(cut.blocks(src, src_addr, dst, dst_addr) for cut in self._cuts)

    def on_heal(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` the next time a cut is lifted."""
        self._heal_callbacks.append(callback)

    # --- faults a search injects --------------------------------------------------------------

    def may_partition(
        self,
        *groups: str | Host | Iterable[str | Host],
        seconds: Iterable[float] = (1.0, 10.0, 60.0),
    ) -> None:
        """Let the scheduler start this partition (one group: isolate it) at any packet, for
        one of ``seconds``; each counts against ``fault_budget``."""
        sides = [self._group(g) for g in groups]
        durations = tuple(sorted({_seconds_to_ns(s, "seconds") for s in seconds}))
        if not durations:
            msg = "`seconds` must list at least one duration"
            raise InvalidArgumentError(msg)
        self._candidates.append((sides, durations))

    def budget_left(self) -> bool:
        return self.fault_budget is None or self._faults < self.fault_budget

    def spend_fault(self, description: str) -> None:
        self._faults += 1
        self._record(description)

    def maybe_inject_partition(self) -> None:
        """At a packet: the scheduler may start one of the declared partitions."""
        if not self._candidates or self._cuts or not self.budget_left():
            return
        labels = ["no partition"] + [
            ("isolate " if len(sides) == 1 else "partition ")
            + " | ".join(",".join(sorted(s)) for s in sides)
            for sides, _ in self._candidates
        ]
        loop = self._require_loop()
        c = _compat.choose(
            _compat.ChoicePoint(
                "net.partition", len(labels), labels=labels, weights=fault_weights(len(labels))
            ),
            loop=loop,
        )
        if not c:
            return
        sides, durations = self._candidates[c - 1]
        d = 0
        if len(durations) > 1:
            d = _compat.choose(
                _compat.ChoicePoint(
                    "net.partition.seconds",
                    len(durations),
                    labels=[f"for {format_duration(ns)}" for ns in durations],
                ),
                loop=loop,
            )
        self._faults += 1
        if len(sides) == 1:
            self.isolate(*sides[0])
        else:
            self.partition(*sides)
        self.log[-1] += f" (injected, for {format_duration(durations[d])})"
        _compat.call_later_ns(durations[d], self._lift, self._cuts[-1], loop=loop)

    # --- bookkeeping ------------------------------------------------------------------------

    def _require_loop(self) -> SimLoop:
        if self.loop is None:
            self.bind(_compat.current_loop())
        assert self.loop is not None
        return self.loop

    def bind(self, loop: SimLoop) -> None:
        if self.loop is loop:
            return
        if self.loop is not None:
            msg = "this Network already belongs to another loop: make one Network per run"
            raise InvalidArgumentError(msg)
        if _compat.loop_local("network", lambda: self, loop=loop) is not self:
            msg = "this loop already has a network: install yours before the first network call"
            raise InvalidArgumentError(msg)
        self.loop = loop
        self.stock_order = _compat.runs_stock_order(loop=loop)

    def now_ns(self) -> int:
        return _compat.now_ns(loop=self._require_loop())

    def _record(self, event: str) -> None:
        loop = self.loop
        when = "" if loop is None else f"t={_compat.now_ns(loop=loop) / 1e9:g}s "
        self.log.append(f"{when}{event}")

    def new_fd(self) -> int:
        self._next_fd += 1
        return self._next_fd

    def next_packet(self) -> int:
        self._packets += 1
        return self._packets


def network_of(loop: SimLoop) -> Network:
    """The loop's network, made on first use."""
    network: Network = _compat.loop_local("network", Network, loop=loop)
    if network.loop is None:
        network.bind(loop)
    return network
