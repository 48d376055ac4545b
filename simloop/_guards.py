"""The determinism boundary: what user code may and may not reach while a simulation runs.

While a :class:`~simloop.SimLoop` runs in a thread, this module makes the process-global
sources of nondeterminism deterministic *for that thread*:

* the clock functions of :mod:`time` read virtual time, and ``time.sleep`` advances it;
* the global :mod:`random` generator, ``os.urandom``, ``uuid.uuid4``/``uuid1``,
  :class:`random.SystemRandom` and unseeded ``random.Random()`` draw from generators seeded by
  the run's seed;

and it turns calls that would reach the real world (threads, real socket connections and
bindings, blocking DNS lookups, subprocesses, signal handlers) into
:class:`~simloop.EscapedSimulationError` at the call site. (The loop's own network methods run
on the simulated network, :mod:`simloop.net`.)

The patches are installed when the first loop starts running and removed when the last one
stops, also after an exception or ``KeyboardInterrupt``. Each patched function checks which
thread calls it, so other threads (a pytest timeout thread, say) keep the real behaviour.
"""

from __future__ import annotations

import _random
import contextlib
import datetime
import gc
import os
import random
import signal
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from simloop import _stdlib
from simloop._clock import NS_PER_SECOND, seconds_to_ns
from simloop._errors import BlockingCallWarning, EscapedSimulationError

_get_ident = threading.get_ident

#: The guards on in each thread that runs a simulation, for each kind of guard.
_time_guards: dict[int, RunGuards] = {}
_random_guards: dict[int, RunGuards] = {}
_fence_guards: dict[int, RunGuards] = {}

_lock = threading.Lock()
_installed = 0
_originals: list[tuple[Any, str, Any]] = []
_type_originals: list[tuple[dict[str, Any], str, Any]] = []


class RunGuards:
    """The guards of one loop: on for each *session* of the loop (:meth:`enter`/:meth:`exit`,
    which nest), in the thread that runs it.

    ``clock_ns()`` is the virtual time the clocks read (the loop's, plus what an executor job
    has spent in ``time.sleep``); ``block(ns)`` makes ``time.sleep`` take virtual time.
    """

    def __init__(
        self,
        *,
        seed: int,
        patch_time: bool,
        patch_random: bool,
        forbid_escapes: bool,
        track_locks: bool,
        epoch_ns: int,
        clock_ns: Callable[[], int],
        block: Callable[[int], bool],
    ) -> None:
        self.seed = seed
        self.patch_time = patch_time
        self.patch_random = patch_random
        self.forbid_escapes = forbid_escapes
        self.track_locks = track_locks
        self.epoch_ns = epoch_ns
        self.clock_ns = clock_ns
        self.block = block
        self._depth = 0  # sessions open (they nest)
        self._sessions = 0  # how many times the guards went on (each reseeds the generator)
        self._saved_global_state: Any = None  # the user's, while the simulation runs
        self._bytes_random: random.Random | None = None
        self._seeds_random: random.Random | None = None
        self._previous: tuple[RunGuards | None, RunGuards | None, RunGuards | None] = (
            None,
            None,
            None,
        )

    # Separate generators for separate purposes, so that adding a draw of one kind does not
    # shift the draws of the others. Each is seeded from the run's seed and its purpose, and
    # created on first use: seeding costs more than most short runs.

    def _purpose_seed(self, purpose: int) -> int:
        # Zigzag the seed to a non-negative int (random.seed ignores the sign), then make room
        # for the purpose in the low bits.
        zigzag = self.seed * 2 if self.seed >= 0 else -self.seed * 2 - 1
        return zigzag * 4 + purpose

    @property
    def bytes_random(self) -> random.Random:
        """Feeds ``os.urandom``, ``uuid``, ``random.SystemRandom``."""
        if self._bytes_random is None:
            self._bytes_random = random.Random(self._purpose_seed(1))
        return self._bytes_random

    @property
    def seeds_random(self) -> random.Random:
        """Seeds ``random.Random()`` instances created without a seed."""
        if self._seeds_random is None:
            self._seeds_random = random.Random(self._purpose_seed(2))
        return self._seeds_random

    @property
    def active(self) -> bool:
        """Whether a session is open."""
        return self._depth > 0

    def enter(self) -> None:
        """Open a session: the guards (and lock tracking) go on for the calling thread, unless
        a session is already open."""
        if self._depth == 0:
            self._turn_on()
            if self.track_locks:
                _stdlib.start_tracking_lock_owners()
        self._depth += 1

    def exit(self) -> None:
        """Close a session: the last one turns the guards off."""
        self._depth -= 1
        if self._depth == 0:
            try:
                if self.track_locks:
                    _stdlib.stop_tracking_lock_owners()
            finally:
                self._turn_off()

    def _turn_on(self) -> None:
        global _installed
        ident = _get_ident()
        with _lock:
            if _installed == 0:
                _install()
            _installed += 1
            self._previous = (
                _time_guards.pop(ident, None),
                _random_guards.pop(ident, None),
                _fence_guards.pop(ident, None),
            )
            if self.patch_time:
                _time_guards[ident] = self
            if self.patch_random:
                _random_guards[ident] = self
            if self.forbid_escapes:
                _fence_guards[ident] = self
        if self.patch_random:
            self._saved_global_state = random.getstate()
            # Each session of the loop seeds the global generator afresh, from the run's seed
            # and the session's number: deterministic, not a repeat of the previous session's
            # sequence, and cheaper than saving the simulation's state at every exit.
            session = self._sessions
            self._sessions += 1
            seed = self._purpose_seed(0)
            _seed_global_generator(seed if session == 0 else (seed << 32) | session)

    def _turn_off(self) -> None:
        """Turn them off again, and give the global generator back its state."""
        global _installed
        if self.patch_random:
            random.setstate(self._saved_global_state)
            self._saved_global_state = None
        ident = _get_ident()
        with _lock:
            for registry, previous in zip(
                (_time_guards, _random_guards, _fence_guards), self._previous, strict=True
            ):
                registry.pop(ident, None)
                if previous is not None:
                    registry[ident] = previous
            _installed -= 1
            if _installed == 0:
                _uninstall()


# --- time -------------------------------------------------------------------------------------

_real_time = time.time
_real_time_ns = time.time_ns
_real_monotonic = time.monotonic
_real_monotonic_ns = time.monotonic_ns
_real_perf_counter = time.perf_counter
_real_perf_counter_ns = time.perf_counter_ns
_real_sleep = time.sleep


def _time() -> float:
    guards = _time_guards.get(_get_ident())
    if guards is None:
        return _real_time()
    return (guards.epoch_ns + guards.clock_ns()) / NS_PER_SECOND


def _time_ns() -> int:
    guards = _time_guards.get(_get_ident())
    if guards is None:
        return _real_time_ns()
    return guards.epoch_ns + guards.clock_ns()


def _monotonic() -> float:
    guards = _time_guards.get(_get_ident())
    if guards is None:
        return _real_monotonic()
    return guards.clock_ns() / NS_PER_SECOND


def _monotonic_ns() -> int:
    guards = _time_guards.get(_get_ident())
    if guards is None:
        return _real_monotonic_ns()
    return guards.clock_ns()


def _perf_counter() -> float:
    guards = _time_guards.get(_get_ident())
    if guards is None:
        return _real_perf_counter()
    return guards.clock_ns() / NS_PER_SECOND


def _perf_counter_ns() -> int:
    guards = _time_guards.get(_get_ident())
    if guards is None:
        return _real_perf_counter_ns()
    return guards.clock_ns()


def _sleep(seconds: float) -> None:
    guards = _time_guards.get(_get_ident())
    if guards is None:
        _real_sleep(seconds)
        return
    if seconds < 0:
        msg = "sleep length must be non-negative"
        raise ValueError(msg)
    if not guards.block(seconds_to_ns(seconds, name="seconds")):
        warnings.warn(
            f"time.sleep({seconds!r}) inside a simulated run: it would block a real event loop "
            "for that long, stalling every task. simloop advanced virtual time instead. Use "
            "`await asyncio.sleep(...)`, or run blocking code with `asyncio.to_thread(...)`.",
            BlockingCallWarning,
            stacklevel=2,
        )


# Calendar functions read the wall clock when called without a time: give them virtual time.
_real_localtime = time.localtime
_real_gmtime = time.gmtime
_real_ctime = time.ctime
_real_asctime = time.asctime
_real_strftime = time.strftime


def _simulating_time() -> bool:
    """Whether the calling thread runs a simulation whose clocks are virtual."""
    return bool(_time_guards) and _get_ident() in _time_guards


def _localtime(seconds: float | None = None) -> time.struct_time:
    if seconds is None and _simulating_time():
        seconds = _time()
    return _real_localtime(seconds)


def _gmtime(seconds: float | None = None) -> time.struct_time:
    if seconds is None and _simulating_time():
        seconds = _time()
    return _real_gmtime(seconds)


def _ctime(seconds: float | None = None) -> str:
    if seconds is None and _simulating_time():
        seconds = _time()
    return _real_ctime(seconds)


def _asctime(t: Any = None) -> str:
    if t is None and _simulating_time():
        t = _real_localtime(_time())
    return _real_asctime() if t is None else _real_asctime(t)


def _strftime(format: str, t: Any = None) -> str:
    if t is None and _simulating_time():
        t = _real_localtime(_time())
    return _real_strftime(format) if t is None else _real_strftime(format, t)


# --- randomness -------------------------------------------------------------------------------

_real_urandom = os.urandom
_real_random_urandom = getattr(random, "_urandom", os.urandom)
_real_random_seed = random.Random.seed


def _seed_global_generator(seed: int) -> None:
    """``random.seed(seed)`` for a non-negative int, without the Python-level wrapper."""
    generator: Any = random._inst
    _random.Random.seed(generator, seed)
    generator.gauss_next = None


_real_uuid1 = uuid.uuid1


def _urandom(size: int) -> bytes:
    guards = _random_guards.get(_get_ident())
    if guards is None:
        return _real_urandom(size)
    if size < 0:
        msg = "negative argument not allowed"
        raise ValueError(msg)
    return guards.bytes_random.randbytes(size)


def _random_seed(self: random.Random, a: Any = None, version: int = 2) -> None:
    if a is None and _random_guards:
        guards = _random_guards.get(_get_ident())
        if guards is not None:
            # An unseeded Random() would seed itself from the OS; seed it from the run instead.
            a = guards.seeds_random.getrandbits(128)
    _real_random_seed(self, a, version)


def _uuid1(node: int | None = None, clock_seq: int | None = None) -> uuid.UUID:
    guards = _random_guards.get(_get_ident())
    if guards is None:
        return _real_uuid1(node, clock_seq)
    rng = guards.bytes_random
    # RFC 4122: 100-ns intervals since 1582-10-15; the node gets the multicast bit, as RFC 4122
    # asks of a random node id.
    timestamp = (_time_ns() // 100) + 0x01B21DD213814000
    if clock_seq is None:
        clock_seq = rng.getrandbits(14)
    if node is None:
        node = rng.getrandbits(48) | (1 << 40)
    time_low = timestamp & 0xFFFFFFFF
    time_mid = (timestamp >> 32) & 0xFFFF
    time_hi_version = (timestamp >> 48) & 0x0FFF
    clock_seq_low = clock_seq & 0xFF
    clock_seq_hi_variant = (clock_seq >> 8) & 0x3F
    fields = (time_low, time_mid, time_hi_version, clock_seq_hi_variant, clock_seq_low, node)
    return uuid.UUID(fields=fields, version=1)


# --- escapes ----------------------------------------------------------------------------------


def escape_message(call: str, why: str, instead: str) -> str:
    """The text of an :class:`EscapedSimulationError`: the call, why it escapes, what to do."""
    return (
        f"{call} was called inside a simulated run: {why}, so the run could not be replayed. "
        f"{instead}"
    )


def _fenced(call: str, why: str, instead: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def guard(*args: Any, **kwargs: Any) -> Any:
        if _fence_guards and _get_ident() in _fence_guards:
            raise EscapedSimulationError(escape_message(call, why, instead))
        return original(*args, **kwargs)

    guard.__name__ = getattr(original, "__name__", "guard")
    guard.__qualname__ = getattr(original, "__qualname__", "guard")
    guard.__doc__ = getattr(original, "__doc__", None)
    guard.__wrapped__ = original  # type: ignore[attr-defined]
    return guard


_ALLOW = "Pass forbid_escapes=False to allow it (the run is then not reproducible)."
_NETWORK = (
    "a real network call depends on the world outside the simulation",
    "Use the event loop's network methods (`await loop.getaddrinfo(...)`, `loop.sock_connect`, "
    "`asyncio.open_connection`...), which simloop simulates (see simloop.net). "
    f"{_ALLOW}",
)
_THREAD = (
    "a real thread runs outside simloop's control",
    "Use `await asyncio.to_thread(...)` or `loop.run_in_executor(...)`, which simloop runs "
    f"deterministically. {_ALLOW}",
)
_PROCESS = (
    "a subprocess runs outside simloop's control",
    f"Fake the subprocess in the test, or run this test on a real event loop. {_ALLOW}",
)
_SIGNAL = (
    "real signals arrive at times simloop does not control",
    f"Call the handler directly from the test instead. {_ALLOW}",
)


# --- datetime ---------------------------------------------------------------------------------
#
# ``datetime.datetime.now``/``utcnow`` and ``datetime.date.today`` (which ``datetime.today``
# inherits) read the system clock in C, not through ``time.time``, and the types are immutable:
# their attributes cannot be set. The guards replace these methods in the types' own
# dictionaries (the dict behind the read-only ``__dict__`` proxy, reached through the garbage
# collector's view of it) and then tell CPython the type changed (``PyType_Modified``), so its
# attribute cache forgets the old methods. Every reference to the classes sees the patch,
# ``from datetime import datetime`` included, and instances stay what they were (pickling,
# ``type(x) is datetime`` and ``isinstance`` are unaffected). Outside a simulated run, the
# replacements call the real methods.

_real_datetime_now = datetime.datetime.__dict__["now"]
_real_datetime_utcnow = datetime.datetime.__dict__["utcnow"]
_real_date_today = datetime.date.__dict__["today"]


def _datetime_now(cls: Any, tz: datetime.tzinfo | None = None) -> Any:
    if not _simulating_time():
        return _real_datetime_now.__get__(None, cls)(tz)
    return cls.fromtimestamp(_time(), tz)


def _datetime_utcnow(cls: Any) -> Any:
    if not _simulating_time():
        return _real_datetime_utcnow.__get__(None, cls)()
    if sys.version_info >= (3, 12):
        # As the real one does from 3.12 on.
        warnings.warn(
            "datetime.datetime.utcnow() is deprecated: use datetime.datetime.now(datetime.UTC)",
            DeprecationWarning,
            stacklevel=2,
        )
    return cls.fromtimestamp(_time(), datetime.UTC).replace(tzinfo=None)


def _date_today(cls: Any) -> Any:
    if not _simulating_time():
        return _real_date_today.__get__(None, cls)()
    return cls.fromtimestamp(_time())


try:
    import ctypes
except ImportError:  # pragma: no cover - a CPython built without ctypes
    ctypes = None  # type: ignore[assignment]


def _type_dict(owner: type) -> dict[str, Any] | None:
    """The writable dict behind a type's ``__dict__`` proxy (None where that cannot be had)."""
    if sys.implementation.name != "cpython" or ctypes is None:
        return None
    referents = gc.get_referents(owner.__dict__)
    if len(referents) != 1 or not isinstance(referents[0], dict):
        return None
    found: dict[str, Any] = referents[0]
    return found


def _type_patch_targets() -> list[tuple[dict[str, Any], str, Any]]:
    """(the type's dict, attribute, replacement) for the methods of immutable types the guards
    replace; empty where they cannot (not CPython)."""
    targets = [
        (datetime.datetime, "now", classmethod(_datetime_now)),
        (datetime.datetime, "utcnow", classmethod(_datetime_utcnow)),
        (datetime.date, "today", classmethod(_date_today)),
    ]
    found = []
    for owner, name, replacement in targets:
        namespace = _type_dict(owner)
        if namespace is None or name not in namespace:
            return []
        found.append((namespace, name, replacement))
    return found


_TYPE_PATCHES = _type_patch_targets()
#: The types whose attribute caches must be told of a change (PyType_Modified), as arguments.
_PATCHED_TYPES = (
    [ctypes.py_object(datetime.datetime), ctypes.py_object(datetime.date)] if _TYPE_PATCHES else []
)
_type_modified = ctypes.pythonapi.PyType_Modified if _TYPE_PATCHES else None


def _types_modified() -> None:
    assert _type_modified is not None
    for owner in _PATCHED_TYPES:
        _type_modified(owner)


def _patch_targets() -> list[tuple[Any, str, Any]]:
    """(owner, attribute, replacement) for every patch."""
    return [
        (time, "time", _time),
        (time, "time_ns", _time_ns),
        (time, "monotonic", _monotonic),
        (time, "monotonic_ns", _monotonic_ns),
        (time, "perf_counter", _perf_counter),
        (time, "perf_counter_ns", _perf_counter_ns),
        (time, "sleep", _sleep),
        (time, "localtime", _localtime),
        (time, "gmtime", _gmtime),
        (time, "ctime", _ctime),
        (time, "asctime", _asctime),
        (time, "strftime", _strftime),
        (os, "urandom", _urandom),
        (random, "_urandom", _urandom),
        (random.Random, "seed", _random_seed),
        (uuid, "uuid1", _uuid1),
        (
            threading.Thread,
            "start",
            _fenced("threading.Thread.start()", *_THREAD, threading.Thread.start),
        ),
        (signal, "signal", _fenced("signal.signal()", *_SIGNAL, signal.signal)),
    ]


_PATCHES = _patch_targets()

# Sockets, name lookups and subprocesses are fenced with an audit hook (PEP 578) rather than
# patches: it sees them however they are reached (``socket.socket``, ``_socket``,
# ``subprocess``, ``os.posix_spawn``...), and costs nothing to turn on and off. An audit hook
# cannot be removed, so it is added once, the first time a simulation runs, and does nothing
# in threads that run no simulation.
_AUDITED_ESCAPES: dict[str, tuple[str, str, str]] = {
    # Creating a socket reaches nothing: aiohappyeyeballs (aiohttp) makes its own and hands
    # them to loop.sock_connect, which adopts them into the simulated network. What would
    # reach the real network from one is fenced instead.
    "socket.connect": ("socket.socket.connect()", *_NETWORK),
    "socket.bind": ("socket.socket.bind()", *_NETWORK),
    "socket.sendto": ("socket.socket.sendto()", *_NETWORK),
    "socket.sendmsg": ("socket.socket.sendmsg()", *_NETWORK),
    "socket.getaddrinfo": ("socket.getaddrinfo()", *_NETWORK),
    "socket.gethostbyname": ("socket.gethostbyname()", *_NETWORK),
    "socket.gethostbyaddr": ("socket.gethostbyaddr()", *_NETWORK),
    "socket.getnameinfo": ("socket.getnameinfo()", *_NETWORK),
    "subprocess.Popen": ("subprocess.Popen()", *_PROCESS),
    "os.system": ("os.system()", *_PROCESS),
    "os.posix_spawn": ("os.posix_spawn()", *_PROCESS),
    "os.spawn": ("os.spawn*()", *_PROCESS),
    "os.exec": ("os.exec*()", *_PROCESS),
    "os.fork": ("os.fork()", *_PROCESS),
    "_thread.start_new_thread": ("_thread.start_new_thread()", *_THREAD),
    "_thread.start_joinable_thread": ("_thread.start_joinable_thread()", *_THREAD),
}
_audit_hook_added = False


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if _fence_guards and event in _AUDITED_ESCAPES and _get_ident() in _fence_guards:
        raise EscapedSimulationError(escape_message(*_AUDITED_ESCAPES[event]))


def _install() -> None:
    global _audit_hook_added
    if not _audit_hook_added:
        sys.addaudithook(_audit_hook)
        _audit_hook_added = True
    for owner, name, replacement in _PATCHES:
        _originals.append((owner, name, owner.__dict__.get(name, _MISSING)))
        setattr(owner, name, replacement)
    if _TYPE_PATCHES:
        for namespace, name, replacement in _TYPE_PATCHES:
            _type_originals.append((namespace, name, namespace[name]))
            namespace[name] = replacement
        _types_modified()


def _uninstall() -> None:
    if _type_originals:
        while _type_originals:
            namespace, name, original = _type_originals.pop()
            namespace[name] = original
        _types_modified()
    while _originals:
        owner, name, original = _originals.pop()
        if original is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, original)


_MISSING = object()


@contextlib.contextmanager
def patches_held() -> Iterator[None]:
    """Keep the patches in place for a while (an exploration's many runs): each run's guards
    then only register for their thread, rather than patch and restore some thirty functions
    per run. Unregistered, every patched function behaves as the original."""
    global _installed
    with _lock:
        if _installed == 0:
            _install()
        _installed += 1
    try:
        yield
    finally:
        with _lock:
            _installed -= 1
            if _installed == 0:
                _uninstall()


def is_installed() -> bool:
    """Whether the patches are in place (some loop is running somewhere)."""
    return _installed > 0


def real_time_functions() -> dict[str, Callable[..., Any]]:
    """The unpatched clock functions, for code that must measure real time."""
    return {
        "time": _real_time,
        "monotonic": _real_monotonic,
        "perf_counter": _real_perf_counter,
        "sleep": _real_sleep,
    }


# uuid.uuid4 calls os.urandom at call time, so patching os.urandom covers it; check that this
# stays true on every Python we support, rather than find out from a flaky test.
assert "urandom" in uuid.uuid4.__code__.co_names, "uuid.uuid4 no longer calls os.urandom"
assert sys.version_info >= (3, 11)
