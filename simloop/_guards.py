"""The determinism boundary: what user code may and may not reach while a simulation runs.

While a :class:`~simloop.SimLoop` runs in a thread, this module makes the process-global
sources of nondeterminism deterministic *for that thread*:

* the clocks read virtual time: ``time.time``, ``monotonic``, ``perf_counter`` and their
  ``_ns`` twins through every reference to them, even one bound before the run
  (:mod:`simloop._cpython` swaps their C implementation), the calendar functions,
  ``clock_gettime`` of the wall and monotonic clocks, and ``datetime``'s ``now()`` and
  ``today()``; ``time.sleep`` advances virtual time;
* the global :mod:`random` generator draws from a generator of the thread's run (the global
  generator itself is left alone, for other threads), and ``os.urandom``, ``os.getrandom``,
  ``uuid.uuid4``/``uuid1``, :class:`random.SystemRandom` and unseeded ``random.Random()`` from
  generators seeded by the run's seed;
* what still reads the real world is reported at its call site, once (a
  :class:`~simloop.RealClockWarning`): CPU-time clocks, and blocking waits on other threads
  (``threading.Event.wait``, ``Condition.wait``, ``Thread.join``, so ``queue.Queue.get``);

and it turns calls that would reach the real world (threads, real socket connections and
bindings, blocking DNS lookups, subprocesses) into
:class:`~simloop.EscapedSimulationError` at the call site. (The loop's own network methods run
on the simulated network, :mod:`simloop.net`; anyio's worker threads run as executor jobs:
see :mod:`simloop._anyio`; signal handlers are installed on the run, not the process: see
:mod:`simloop._signals`.)

The patches are installed when the first loop starts running and removed when the last one
stops, also after an exception or ``KeyboardInterrupt``. Each patched function checks which
thread calls it, so other threads (a pytest timeout thread, a stock event loop in a thread of
its own, another simulation) keep their own behaviour: the registries below are per thread.
"""

from __future__ import annotations

import _random
import concurrent.futures._base
import contextlib
import datetime
import functools
import os
import queue
import random
import signal
import socket
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from simloop import _anyio, _cpython, _stdlib
from simloop._clock import NS_PER_SECOND, seconds_to_ns
from simloop._errors import BlockingCallWarning, EscapedSimulationError, RealClockWarning

_get_ident = threading.get_ident
_getframe = sys._getframe

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
    has spent in ``time.sleep``); ``block(ns)`` makes ``time.sleep`` take virtual time (and
    raises when that breaks the loop's limits). ``warn`` says whether calls that behave
    differently in virtual time are reported with a warning (simloop's harness) or not (a bare
    loop, which stays as quiet as stock asyncio).
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
        warn: bool = False,
    ) -> None:
        self.seed = seed
        self.patch_time = patch_time
        self.patch_random = patch_random
        self.forbid_escapes = forbid_escapes
        self.track_locks = track_locks
        self.epoch_ns = epoch_ns
        self.clock_ns = clock_ns
        self.block = block
        self.warn = warn
        #: What lock tracking records in this loop's runs (numbers, creation sites, holders).
        self.primitives = _stdlib.PrimitiveTracker()
        self._depth = 0  # sessions open (they nest)
        self._sessions = 0  # how many times the guards went on (each reseeds the generator)
        self._session_seed = 0
        self._global_random: random.Random | None = None
        self._bytes_random: random.Random | None = None
        self._seeds_random: random.Random | None = None
        self._previous: tuple[Any, ...] = (None, None, None, None)

    # Separate generators for separate purposes, so that adding a draw of one kind does not
    # shift the draws of the others. Each is seeded from the run's seed and its purpose, and
    # created on first use: seeding costs more than most short runs.

    def _purpose_seed(self, purpose: int) -> int:
        # Zigzag the seed to a non-negative int (random.seed ignores the sign), then make room
        # for the purpose in the low bits.
        zigzag = self.seed * 2 if self.seed >= 0 else -self.seed * 2 - 1
        return zigzag * 4 + purpose

    @property
    def global_random(self) -> random.Random:
        """What ``random.random()`` & co. draw from in this thread during the session."""
        if self._global_random is None:
            # Made without Random.__init__, whose seeding (from the OS, or in a run from
            # seeds_random) would be wasted; the same C seeding the global generator uses.
            generator: Any = random.Random.__new__(random.Random)
            _random.Random.seed(generator, self._session_seed)
            generator.gauss_next = None
            self._global_random = generator
        return self._global_random

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
        self._depth += 1

    def exit(self) -> None:
        """Close a session: the last one turns the guards off."""
        self._depth -= 1
        if self._depth == 0:
            self._turn_off()

    def _turn_on(self) -> None:
        global _installed
        ident = _get_ident()
        with _lock:
            if _installed == 0:
                _install()
            _installed += 1
            # anyio's asyncio backend may have been imported since the patches went in.
            _anyio.route_worker_threads()
            self._previous = (
                _time_guards.pop(ident, None),
                _random_guards.pop(ident, None),
                _fence_guards.pop(ident, None),
                _stdlib.track_primitives(ident, self.primitives if self.track_locks else None),
            )
            if self.patch_time:
                _time_guards[ident] = self
            if self.patch_random:
                _random_guards[ident] = self
            if self.forbid_escapes:
                _fence_guards[ident] = self
        if self.patch_random:
            # Each session of the loop draws afresh, from the run's seed and the session's
            # number: deterministic, and not a repeat of the previous session's sequence.
            session = self._sessions
            self._sessions += 1
            seed = self._purpose_seed(0)
            self._session_seed = seed if session == 0 else (seed << 32) | session
            self._global_random = None

    def _turn_off(self) -> None:
        """Turn them off again in this thread (the last one out removes the patches)."""
        global _installed
        ident = _get_ident()
        with _lock:
            for registry, previous in zip(
                (_time_guards, _random_guards, _fence_guards), self._previous, strict=False
            ):
                registry.pop(ident, None)
                if previous is not None:
                    registry[ident] = previous
            _stdlib.track_primitives(ident, self._previous[3])
            self._previous = (None, None, None, None)
            _installed -= 1
            if _installed == 0:
                _uninstall()


def _warn_at_call_site(message: str, category: type[Warning]) -> None:
    """Warn once per call site, naming the code that called the patched function: the first
    frame outside this module and the standard library's blocking helpers (``queue.get()``
    waits on a ``threading.Condition`` on the user's behalf)."""
    frame = _getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename in _PLUMBING_FILES:
        frame = frame.f_back
    site = (frame.f_code.co_filename, frame.f_lineno)
    if site in _warned_sites:
        return
    _warned_sites.add(site)
    warnings.warn_explicit(
        message,
        category,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=frame.f_globals.get("__name__"),
        registry=frame.f_globals.setdefault("__warningregistry__", {}),
    )


#: Call sites already warned about (file, line): each is reported once per process.
_warned_sites: set[tuple[str, int]] = set()


# --- clocks -----------------------------------------------------------------------------------
#
# time.time, monotonic, perf_counter and their _ns twins take no argument and cannot fail, so
# their C implementation is swapped (see simloop._cpython): every reference reads virtual time
# in a simulating thread, and the real clock, at C speed, elsewhere. Where that cannot be done,
# the module attributes are replaced instead (then a reference bound before the run reads the
# real clock).


def _virtual_time(guards: RunGuards) -> float:
    return (guards.epoch_ns + guards.clock_ns()) / NS_PER_SECOND


def _virtual_time_ns(guards: RunGuards) -> int:
    return guards.epoch_ns + guards.clock_ns()


def _virtual_monotonic(guards: RunGuards) -> float:
    return guards.clock_ns() / NS_PER_SECOND


def _virtual_monotonic_ns(guards: RunGuards) -> int:
    return guards.clock_ns()


_CLOCKS: dict[str, Callable[[RunGuards], object]] = {
    "time": _virtual_time,
    "time_ns": _virtual_time_ns,
    "monotonic": _virtual_monotonic,
    "monotonic_ns": _virtual_monotonic_ns,
    "perf_counter": _virtual_monotonic,
    "perf_counter_ns": _virtual_monotonic_ns,
}

#: The module dicts of the standard library code that times out blocking waits on other
#: threads with a clock (``from time import monotonic as _time`` in threading and queue): those
#: waits take real time, so their clock stays real, or a wait with a timeout would never end.
_REAL_TIME_CALLERS = frozenset(
    id(vars(module)) for module in (threading, queue, concurrent.futures._base)
)


def _clock_reader(
    name: str, virtual: Callable[[RunGuards], object], real: Callable[[], Any], *, depth: int
) -> Callable[[], object]:
    """The function that reads clock ``name``: virtual time in a simulating thread, else
    ``real()``. ``depth``: the frame of the clock's caller, seen from the reader."""

    def read() -> object:
        guards = _time_guards.get(_get_ident()) if _time_guards else None
        if guards is None or id(_getframe(depth).f_globals) in _REAL_TIME_CALLERS:
            return real()
        return virtual(guards)

    read.__name__ = read.__qualname__ = name
    return read


def _swapped_clocks() -> dict[str, _cpython.SwappedBuiltin]:
    """The clocks whose C implementation can be swapped on this Python (all or none)."""
    if not all(_cpython.swappable(getattr(time, name)) for name in _CLOCKS):
        return {}
    return {
        name: _cpython.SwappedBuiltin(
            getattr(time, name),
            # Frames between the reader and the clock's caller: the swap's callback.
            functools.partial(_clock_reader, name, virtual, depth=2),
        )
        for name, virtual in _CLOCKS.items()
    }


_SWAPPED = _swapped_clocks()
#: The real clock functions, unaffected by the guards.
_real_time = _SWAPPED["time"].original if _SWAPPED else time.time
_real_time_ns = _SWAPPED["time_ns"].original if _SWAPPED else time.time_ns
_real_monotonic = _SWAPPED["monotonic"].original if _SWAPPED else time.monotonic
_real_monotonic_ns = _SWAPPED["monotonic_ns"].original if _SWAPPED else time.monotonic_ns
_real_perf_counter = _SWAPPED["perf_counter"].original if _SWAPPED else time.perf_counter
_real_perf_counter_ns = _SWAPPED["perf_counter_ns"].original if _SWAPPED else time.perf_counter_ns
_real_sleep = time.sleep

_REALS: dict[str, Callable[[], Any]] = {
    "time": _real_time,
    "time_ns": _real_time_ns,
    "monotonic": _real_monotonic,
    "monotonic_ns": _real_monotonic_ns,
    "perf_counter": _real_perf_counter,
    "perf_counter_ns": _real_perf_counter_ns,
}
#: Module-attribute replacements of the clocks, where their C implementation is not swapped.
_MODULE_CLOCKS: dict[str, Callable[[], object]] = (
    {}
    if _SWAPPED
    else {
        name: _clock_reader(name, virtual, _REALS[name], depth=1)
        for name, virtual in _CLOCKS.items()
    }
)


def _time() -> float:
    """time.time() as the calling thread should see it."""
    guards = _time_guards.get(_get_ident())
    return _real_time() if guards is None else _virtual_time(guards)


def _time_ns() -> int:
    """time.time_ns() as the calling thread should see it."""
    guards = _time_guards.get(_get_ident())
    return _real_time_ns() if guards is None else _virtual_time_ns(guards)


def _sleep(seconds: float) -> None:
    guards = _time_guards.get(_get_ident())
    if guards is None:
        _real_sleep(seconds)
        return
    if seconds < 0:
        msg = "sleep length must be non-negative"
        raise ValueError(msg)
    if not guards.block(seconds_to_ns(seconds, name="seconds")) and guards.warn:
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


# clock_gettime() of a wall or monotonic clock reads virtual time like the functions above;
# of a CPU-time clock, the real one, reported.
_real_clock_gettime = getattr(time, "clock_gettime", None)
_real_clock_gettime_ns = getattr(time, "clock_gettime_ns", None)
_WALL_CLOCK_IDS = frozenset(
    getattr(time, name) for name in ("CLOCK_REALTIME", "CLOCK_TAI") if hasattr(time, name)
)
_MONOTONIC_CLOCK_IDS = frozenset(
    getattr(time, name)
    for name in ("CLOCK_MONOTONIC", "CLOCK_MONOTONIC_RAW", "CLOCK_BOOTTIME", "CLOCK_UPTIME_RAW")
    if hasattr(time, name)
)


def _clock_gettime_ns_virtual(clk_id: int, guards: RunGuards) -> int | None:
    if clk_id in _WALL_CLOCK_IDS:
        return _virtual_time_ns(guards)
    if clk_id in _MONOTONIC_CLOCK_IDS:
        return guards.clock_ns()
    return None


def _clock_gettime(clk_id: int) -> float:
    assert _real_clock_gettime is not None
    guards = _time_guards.get(_get_ident())
    if guards is not None:
        ns = _clock_gettime_ns_virtual(clk_id, guards)
        if ns is not None:
            return ns / NS_PER_SECOND
        _report_real_clock(guards, f"time.clock_gettime({clk_id!r})")
    return _real_clock_gettime(clk_id)  # type: ignore[no-any-return]


def _clock_gettime_ns(clk_id: int) -> int:
    assert _real_clock_gettime_ns is not None
    guards = _time_guards.get(_get_ident())
    if guards is not None:
        ns = _clock_gettime_ns_virtual(clk_id, guards)
        if ns is not None:
            return ns
        _report_real_clock(guards, f"time.clock_gettime_ns({clk_id!r})")
    return _real_clock_gettime_ns(clk_id)  # type: ignore[no-any-return]


def _report_real_clock(guards: RunGuards, call: str) -> None:
    if guards.warn:
        _warn_at_call_site(
            f"{call} read a real clock inside a simulated run: CPU time is not simulated, so a "
            "run that depends on it may not replay. Measure elapsed time with "
            "time.perf_counter() or loop.time(), which read virtual time.",
            RealClockWarning,
        )


def _reported(module: Any, name: str, call: str) -> tuple[Any, str, Callable[..., Any]]:
    """A patch of ``module.name`` that reports a real-clock read in a simulating thread."""
    original = getattr(module, name)

    def reporting(*args: Any, **kwargs: Any) -> Any:
        guards = _time_guards.get(_get_ident()) if _time_guards else None
        if guards is not None:
            _report_real_clock(guards, call)
        return original(*args, **kwargs)

    reporting.__name__ = reporting.__qualname__ = name
    reporting.__doc__ = original.__doc__
    reporting.__wrapped__ = original  # type: ignore[attr-defined]
    return (module, name, reporting)


def _reported_wait(owner: type, name: str, call: str) -> tuple[Any, str, Callable[..., Any]]:
    """A patch of a blocking ``threading`` method that reports its use in a simulating thread:
    it waits for another thread, in real time, blocking every task of the run meanwhile."""
    original = owner.__dict__[name]

    def waiting(*args: Any, **kwargs: Any) -> Any:
        # Reported while the fence is up: with forbid_escapes=False, real threads are allowed,
        # and so is waiting for them.
        guards = _fence_guards.get(_get_ident()) if _fence_guards else None
        if guards is not None and guards.warn:
            _warn_at_call_site(
                f"{call} inside a simulated run waits for another thread in real time, and "
                "blocks every task meanwhile: the run may not replay. Await an asyncio "
                "primitive instead, or run the blocking call with `asyncio.to_thread(...)`.",
                RealClockWarning,
            )
        return original(*args, **kwargs)

    waiting.__name__ = waiting.__qualname__ = name
    waiting.__doc__ = original.__doc__
    waiting.__wrapped__ = original  # type: ignore[attr-defined]
    return (owner, name, waiting)


# --- randomness -------------------------------------------------------------------------------
#
# random's module functions (random.random, random.choice...) are bound methods of one global
# generator, random._inst, shared by every thread. While the guards are installed, that
# generator's class is _RoutedRandom: in a simulating thread its methods draw from the run's
# own generator (RunGuards.global_random); in any other thread, from the global generator's
# own state, as if nothing had changed. The methods written in Python (choice, randint,
# shuffle...) reach the generator through random() and getrandbits(), so routing those (and
# the methods with state of their own) routes them all, even a `from random import choice`
# bound before the run. random() and getrandbits() themselves are C methods: the module's
# names for them are rebound while the guards are installed; a reference to them bound before
# the run (`from random import random`) still draws from the global generator.

_ROUTED_METHODS = ("random", "getrandbits", "seed", "getstate", "setstate", "gauss")


def _routed(name: str) -> Callable[..., Any]:
    base = getattr(random.Random, name)

    def method(self: random.Random, *args: Any, **kwargs: Any) -> Any:
        guards = _random_guards.get(_get_ident()) if _random_guards else None
        if guards is None:
            return base(self, *args, **kwargs)
        return getattr(guards.global_random, name)(*args, **kwargs)

    method.__name__ = name
    method.__qualname__ = f"Random.{name}"
    method.__doc__ = base.__doc__
    return method


# Named like random's own class, which it stands in for in reprs and error messages.
_RoutedRandom = type(
    "Random",
    (random.Random,),
    {
        "__module__": "random",
        "__doc__": random.Random.__doc__,
        **{name: _routed(name) for name in _ROUTED_METHODS},
    },
)


def _route_global_random() -> list[tuple[Any, str, Any]]:
    """Route random's global generator per thread; the module attributes to rebind."""
    instance: Any = random._inst
    if type(instance) is not random.Random:
        return []  # replaced by someone else: leave it alone
    instance.__class__ = _RoutedRandom
    return [
        (random, name, getattr(instance, name))
        for name in _ROUTED_METHODS
        if getattr(getattr(random, name, None), "__self__", None) is instance
    ]


def _unroute_global_random() -> None:
    instance: Any = random._inst
    if type(instance) is _RoutedRandom:
        instance.__class__ = random.Random


_real_urandom = os.urandom
_real_getrandom = getattr(os, "getrandom", None)
_real_random_seed = random.Random.seed


def _urandom(size: int) -> bytes:
    guards = _random_guards.get(_get_ident())
    if guards is None:
        return _real_urandom(size)
    if size < 0:
        msg = "negative argument not allowed"
        raise ValueError(msg)
    return guards.bytes_random.randbytes(size)


def _getrandom(size: int, flags: int = 0) -> bytes:
    assert _real_getrandom is not None
    guards = _random_guards.get(_get_ident())
    if guards is None:
        return _real_getrandom(size, flags)  # type: ignore[no-any-return]
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


_real_uuid1 = uuid.uuid1


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


# --- signal handlers --------------------------------------------------------------------------
#
# In a fenced thread running a SimLoop, handlers are installed on the run and signals the
# program sends itself reach them there (simloop._signals). In a fenced thread without one,
# installing a handler is an escape; elsewhere, everything is real.

_real_signal = signal.signal
_real_getsignal = signal.getsignal
_real_raise_signal = signal.raise_signal
_real_kill = os.kill
# The interval timers (absent on Windows).
_real_alarm: Any = getattr(signal, "alarm", None)
_real_setitimer: Any = getattr(signal, "setitimer", None)
_real_getitimer: Any = getattr(signal, "getitimer", None)


def _simulated_signals_loop() -> Any:
    """The SimLoop whose run takes this thread's signal calls, or None."""
    if not (_fence_guards and _get_ident() in _fence_guards):
        return None
    from simloop import _noio

    return _noio.simulating_loop()


def _signal_signal(signalnum: Any, handler: Any) -> Any:
    if not (_fence_guards and _get_ident() in _fence_guards):
        return _real_signal(signalnum, handler)
    from simloop import _noio, _signals

    loop = _noio.simulating_loop()
    if loop is None:
        raise EscapedSimulationError(escape_message("signal.signal()", *_SIGNAL))
    previous = _signals.set_handler(loop, signalnum, handler)
    return _real_getsignal(signalnum) if previous is _signals.NOT_INSTALLED else previous


def _signal_getsignal(signalnum: Any) -> Any:
    loop = _simulated_signals_loop()
    if loop is not None:
        from simloop import _signals

        handler = _signals.get_handler(loop, signalnum)
        if handler is not _signals.NOT_INSTALLED:
            return handler
    return _real_getsignal(signalnum)


def _signal_raise_signal(signalnum: Any) -> None:
    loop = _simulated_signals_loop()
    if loop is not None:
        from simloop import _signals

        if _signals.deliver(loop, signalnum, sys._getframe(1)):
            return
    _real_raise_signal(signalnum)


def _os_kill(pid: int, signalnum: int) -> None:
    loop = _simulated_signals_loop()
    if loop is not None and pid == os.getpid():
        from simloop import _signals

        if _signals.deliver(loop, signalnum, sys._getframe(1)):
            return
    _real_kill(pid, signalnum)


def _timer_loop(call: str) -> Any:
    """The SimLoop whose run owns this thread's interval timer; None outside a fenced thread
    (the real timer is used). A fenced thread with no SimLoop cannot have one."""
    if not (_fence_guards and _get_ident() in _fence_guards):
        return None
    from simloop import _noio

    loop = _noio.simulating_loop()
    if loop is None:
        raise EscapedSimulationError(escape_message(call, *_SIGNAL))
    return loop


def _signal_alarm(seconds: Any) -> int:
    loop = _timer_loop("signal.alarm()")
    if loop is None:
        left: int = _real_alarm(seconds)
        return left
    from simloop import _signals

    return _signals.set_alarm(loop, seconds)


def _signal_setitimer(which: Any, seconds: Any, interval: Any = 0.0) -> tuple[float, float]:
    loop = _timer_loop("signal.setitimer()")
    if loop is None:
        previous: tuple[float, float] = _real_setitimer(which, seconds, interval)
        return previous
    from simloop import _signals

    return _signals.set_itimer(loop, which, seconds, interval)


def _signal_getitimer(which: Any) -> tuple[float, float]:
    loop = _simulated_signals_loop()
    if loop is None:
        current: tuple[float, float] = _real_getitimer(which)
        return current
    from simloop import _signals

    return _signals.get_itimer(loop, which)


_SIGNAL_PATCHES: list[tuple[Any, Any, str]] = [
    (_signal_signal, _real_signal, "signal"),
    (_signal_getsignal, _real_getsignal, "getsignal"),
    (_signal_raise_signal, _real_raise_signal, "raise_signal"),
    (_signal_alarm, _real_alarm, "alarm"),
    (_signal_setitimer, _real_setitimer, "setitimer"),
    (_signal_getitimer, _real_getitimer, "getitimer"),
]
for _patch, _original, _name in (*_SIGNAL_PATCHES, (_os_kill, _real_kill, "kill")):
    if _original is not None:
        _patch.__doc__ = _original.__doc__
        _patch.__wrapped__ = _original


# --- sockets bound inside a run ----------------------------------------------------------------
#
# Code that makes a socket itself, binds it and hands it to the loop (aiohttp's test server,
# ``socket.create_server()``, servers that take a listening socket) binds inside the
# simulation: in a simulating thread, ``bind`` asks the loop's network to adopt the socket then
# and there, and a simulated socket binds in its place (on a simulated port, so that the
# address is the same in every run). From then on the real socket's ``getsockname``,
# ``listen`` and ``close`` are the simulated one's. The network is :mod:`simloop.net`, reached
# through the loop's one hook into it (``simloop._noio``); a bind it does not take (an address
# family it does not simulate) reaches the real ``bind``, which the audit hook fences.

_real_socket_bind = socket.socket.bind
_real_socket_listen = socket.socket.listen
_real_socket_getsockname = socket.socket.getsockname
_real_socket_close = socket.socket.close
_real_socket_accept = socket.socket.accept


def _socket_bind(self: socket.socket, address: Any) -> None:
    if _fence_guards and _get_ident() in _fence_guards:
        from simloop import _noio  # the loop's hook into the network (imports the loop)

        if _noio.bind_real_socket(self, address):
            return
    _real_socket_bind(self, address)


_real_socketpair = socket.socketpair


def _socket_socketpair(*args: Any, **kwargs: Any) -> tuple[socket.socket, socket.socket]:
    pair = _real_socketpair(*args, **kwargs)
    if _fence_guards and _get_ident() in _fence_guards:
        from simloop import _noio

        _noio.adopt_socket_pair(*pair)
    return pair


_socket_socketpair.__doc__ = _real_socketpair.__doc__
_socket_socketpair.__wrapped__ = _real_socketpair  # type: ignore[attr-defined]


def _socket_listen(self: socket.socket, *backlog: int) -> None:
    from simloop import _noio

    stand_in = _noio.stand_in_of(self)
    if stand_in is None:
        _real_socket_listen(self, *backlog)
    else:
        stand_in.listen(*backlog)


def _socket_accept(self: socket.socket) -> Any:
    from simloop import _noio

    stand_in = _noio.stand_in_of(self)
    if stand_in is None:
        return _real_socket_accept(self)
    return stand_in.accept_for_real_socket(self.getblocking())


def _socket_getsockname(self: socket.socket) -> Any:
    from simloop import _noio

    stand_in = _noio.stand_in_of(self)
    return _real_socket_getsockname(self) if stand_in is None else stand_in.getsockname()


def _socket_close(self: socket.socket) -> None:
    from simloop import _noio

    _noio.release_real_socket(self)
    _real_socket_close(self)


# --- datetime ---------------------------------------------------------------------------------
#
# ``datetime.datetime.now``/``utcnow`` and ``datetime.date.today`` (which ``datetime.today``
# inherits) read the system clock in C, not through ``time.time``, and the types are immutable:
# their attributes cannot be set. The guards replace these methods in the types' own
# dictionaries (see simloop._cpython), so every reference to the classes sees the patch,
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
        namespace = _cpython.type_dict(owner)
        if namespace is None or name not in namespace:
            return []
        found.append((namespace, name, replacement))
    return found


_TYPE_PATCHES = _type_patch_targets()


def _types_modified() -> None:
    for owner in (datetime.datetime, datetime.date):
        _cpython.type_modified(owner)


def _patch_targets() -> list[tuple[Any, str, Any]]:
    """(owner, attribute, replacement) for every patch of an attribute."""
    targets: list[tuple[Any, str, Any]] = [
        *((time, name, replacement) for name, replacement in _MODULE_CLOCKS.items()),
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
        *((signal, name, patch) for patch, original, name in _SIGNAL_PATCHES if original),
        (os, "kill", _os_kill),
        _reported_wait(threading.Event, "wait", "threading.Event.wait()"),
        _reported_wait(threading.Condition, "wait", "threading.Condition.wait()"),
        _reported_wait(threading.Thread, "join", "threading.Thread.join()"),
        (socket.socket, "bind", _socket_bind),
        (socket, "socketpair", _socket_socketpair),
        (socket.socket, "listen", _socket_listen),
        (socket.socket, "getsockname", _socket_getsockname),
        (socket.socket, "close", _socket_close),
        (socket.socket, "accept", _socket_accept),
    ]
    if _real_getrandom is not None:
        targets.append((os, "getrandom", _getrandom))
    if _real_clock_gettime is not None:
        targets.append((time, "clock_gettime", _clock_gettime))
    if _real_clock_gettime_ns is not None:
        targets.append((time, "clock_gettime_ns", _clock_gettime_ns))
    for name in ("process_time", "process_time_ns", "thread_time", "thread_time_ns"):
        if hasattr(time, name):
            targets.append(_reported(time, name, f"time.{name}()"))
    if hasattr(os, "times"):
        targets.append(_reported(os, "times", "os.times()"))
    return targets


_PATCHES = _patch_targets()

#: Files whose frames are skipped to find the call site a warning names: the standard
#: library's blocking helpers, which call the waits above on the user's behalf.
_PLUMBING_FILES = frozenset(
    path
    for path in (__file__, threading.__file__, queue.__file__, concurrent.futures._base.__file__)
)

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
    for owner, name, replacement in [*_PATCHES, *_route_global_random()]:
        _originals.append((owner, name, owner.__dict__.get(name, _MISSING)))
        setattr(owner, name, replacement)
    for swap in _SWAPPED.values():
        swap.swap()
    if _TYPE_PATCHES:
        for namespace, name, replacement in _TYPE_PATCHES:
            _type_originals.append((namespace, name, namespace[name]))
            namespace[name] = replacement
        _types_modified()
    _stdlib.start_tracking_primitives()


def _uninstall() -> None:
    _anyio.unroute_worker_threads()
    _stdlib.stop_tracking_primitives()
    if _type_originals:
        while _type_originals:
            namespace, name, original = _type_originals.pop()
            namespace[name] = original
        _types_modified()
    for swap in _SWAPPED.values():
        swap.restore()
    while _originals:
        owner, name, original = _originals.pop()
        if original is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _unroute_global_random()


_MISSING = object()


@contextlib.contextmanager
def patches_held() -> Iterator[None]:
    """Keep the patches in place over a series of runs (an exploration): each run then only
    turns its guards on and off in its own thread, instead of installing and removing every
    patch (a good part of the cost of a short run). Other threads see no difference: every
    patch behaves as the original in a thread that runs no simulation."""
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


def clocks_swapped() -> bool:
    """Whether the clocks are swapped in C on this Python (so references bound before a run
    read virtual time too), rather than replaced as module attributes."""
    return bool(_SWAPPED)


def real_time_functions() -> dict[str, Callable[..., Any]]:
    """The real clock functions (and ``sleep``), whatever the guards do, for code that must
    measure real time, also inside a simulated run."""
    return {**_REALS, "sleep": _real_sleep}


# uuid.uuid4 calls os.urandom at call time, so patching os.urandom covers it; check that this
# stays true on every Python we support, rather than find out from a flaky test.
assert "urandom" in uuid.uuid4.__code__.co_names, "uuid.uuid4 no longer calls os.urandom"
assert sys.version_info >= (3, 11)
