"""The contract every public entry point keeps, whatever it is fed, and the hostile values.

An entry point called with any value either

* raises a *named error* at once: a :class:`simloop.SimulationError`, or a ``TypeError`` /
  ``ValueError`` whose message names the argument (in backticks);
* or behaves correctly: it accepts the value only if the entry's *model* (a few lines per
  argument, written independently of simloop's own checks) says the value is valid, and then
  does what it says (each entry may check the effect).

A hostile value's own exception, raised by its own method when simloop uses it (an
``__iter__`` or ``__bool__`` that raises), may propagate: it is the caller's code failing, as
it would in any library. Failing while *reporting* a value is simloop's fault, though: a value
whose ``__repr__`` raises must still get a named error.

Never: a hang (a watchdog interrupts the call), another exception (a traceback from inside
simloop), a value the model rejects but simloop silently accepts (a *misreading*), a valid
value refused, a complaint when the garbage is collected ("Exception ignored in ..."), or a
process-wide global left changed (the patched ``time``, ``random``, ``os``... functions, the
``random`` state, the event loop policy and running loop, async generator hooks, threads).

:class:`Contract` checks one call and counts its outcome per entry point; the counts are shown
in the terminal summary (see conftest.py).
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import decimal
import enum
import fractions
import gc
import math
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import simloop
from simloop import _guards

#: Seconds a single call may take before it counts as a hang (generous: the machine is shared).
HANG_SECONDS = float(os.environ.get("SIMLOOP_FUZZ_HANG_SECONDS", "20"))

#: The bound of a time in seconds that simloop treats as finite (see simloop._clock).
FAR_SECONDS = 1e15


#: Examples per test in the long profile (0: the CI profile).
LONG = int(os.environ.get("SIMLOOP_FUZZ_EXAMPLES", "0") or 0)


def fuzz(examples: int) -> settings:
    """Settings for a fuzz test: ``examples`` fixed examples, or the long profile's count."""
    common = {
        "deadline": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
    }
    if LONG:
        return settings(max_examples=LONG, **common)
    return settings(max_examples=examples, derandomize=True, database=None, **common)


class Hang(Exception):
    """A call took longer than HANG_SECONDS."""


# --- hostile values ---------------------------------------------------------------------------


class RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr raises")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("RaisingRepr()")  # how Hypothesis shows a failing example


class RaisingEquality:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("== raises")

    def __hash__(self) -> int:
        raise RuntimeError("hash raises")

    def __repr__(self) -> str:
        return "RaisingEquality()"


class RaisingBool:
    def __bool__(self) -> bool:
        raise RuntimeError("bool raises")

    def __repr__(self) -> str:
        return "RaisingBool()"


class RaisingNumber:
    """Looks like a number to anything that converts it, and raises when it does."""

    def __index__(self) -> int:
        raise RuntimeError("index raises")

    def __float__(self) -> float:
        raise RuntimeError("float raises")

    def __int__(self) -> int:
        raise RuntimeError("int raises")

    def __lt__(self, other: object) -> bool:
        raise RuntimeError("< raises")

    __le__ = __gt__ = __ge__ = __lt__

    def __repr__(self) -> str:
        return "RaisingNumber()"


class RaisingIter:
    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("iter raises")

    def __len__(self) -> int:
        raise RuntimeError("len raises")

    def __repr__(self) -> str:
        return "RaisingIter()"


class EndlessIter:
    """An iterable that never ends: whoever lists it must stop, or fail, not hang."""

    def __iter__(self) -> Iterator[int]:
        while True:
            yield 0

    def __repr__(self) -> str:
        return "EndlessIter()"


class Int(int):
    """An int subclass with a repr of its own."""

    def __repr__(self) -> str:
        return f"Int({int(self)})"


class Float(float):
    def __repr__(self) -> str:
        return f"Float({float(self)})"


class Text(str):
    """A str subclass whose methods return plain strs (as str's do)."""


class Color(enum.IntEnum):
    RED = 1
    BIG = 2**70


def _callable(*args: Any, **kwargs: Any) -> None:
    return None


#: Values of the wrong kind for nearly every argument.
WRONG_TYPES: list[Any] = [
    None,
    "",
    "x",
    b"1",
    [],
    {},
    (),
    set(),
    object(),
    _callable,
    int,
    float,
    complex(1, 1),
    RaisingRepr(),
    RaisingEquality(),
    RaisingBool(),
    RaisingNumber(),
    RaisingIter(),
    EndlessIter(),
    Text("1"),
]

#: Numbers at the edges.
EXTREME_NUMBERS: list[Any] = [
    0,
    1,
    -1,
    2,
    True,
    False,
    2**31,
    2**63,
    -(2**63),
    10**30,
    -(10**30),
    10**400,
    -(10**400),
    0.0,
    -0.0,
    0.5,
    1e-10,
    5e-324,
    1e15,
    1e15 - 0.5,
    -1e15,
    1e308,
    -1e308,
    math.inf,
    -math.inf,
    math.nan,
    decimal.Decimal("0.1"),
    decimal.Decimal("NaN"),
    decimal.Decimal("sNaN"),
    decimal.Decimal("Infinity"),
    decimal.Decimal("1e999999999"),
    decimal.Decimal("-1e999999999"),
    decimal.Decimal("1e-999999999"),
    fractions.Fraction(1, 3),
    fractions.Fraction(10**400, 3),
    fractions.Fraction(-(10**400), 3),
    Int(3),
    Float(0.25),
    Color.RED,
    Color.BIG,
]

#: Strings that mean something to a parser somewhere.
HOSTILE_TEXT: list[str] = [
    "none",
    "None",
    "null",
    "inf",
    "-inf",
    "nan",
    "1e3",
    "0x10",
    "1_000",
    "+1",
    " 5 ",
    "\uff15",  # a fullwidth digit five: int() reads it
    "-0",
    "true",
    "false",
    "yes",
    "on",
    "\0",
    "\n",
    "pct:2",
    "pct:",
    "pct:-1",
    "pct:99999999999999999999999",
    "exhaustive:9999999999",
    "sl2-",
    "sl2-AAAA",
    "sl1-eNo",
    "x" * 10_000,
    "\ud800",
]


def pick(items: list[Any]) -> st.SearchStrategy[Any]:
    """One of ``items`` (by index: Hypothesis would hash them, and some refuse)."""
    return st.sampled_from(range(len(items))).map(items.__getitem__)


def hostile() -> st.SearchStrategy[Any]:
    """Any of the values above, arbitrary text, ints and floats."""
    return st.one_of(
        pick(WRONG_TYPES),
        pick(EXTREME_NUMBERS),
        pick(HOSTILE_TEXT),
        st.integers(),
        st.floats(),
        st.text(max_size=20),
        st.lists(st.integers(-3, 5), max_size=4),
    )


def values(*valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Hostile values, and (as often) the valid ones given."""
    return st.one_of(*valid, hostile()) if valid else hostile()


# --- models: what a value must be ---------------------------------------------------------------

_REALS = (int, float, decimal.Decimal, fractions.Fraction)


def is_real(value: Any) -> bool:
    """A real number that is not a bool and not NaN."""
    if isinstance(value, bool) or not isinstance(value, _REALS):
        return False
    if isinstance(value, float):
        return not math.isnan(value)
    if isinstance(value, decimal.Decimal):
        return not value.is_nan()
    return True


def is_finite_seconds(value: Any) -> bool:
    """A time simloop can reach: a real number strictly between -1e15 and 1e15 seconds."""
    return is_real(value) and -FAR_SECONDS < value < FAR_SECONDS


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_bool(value: Any) -> bool:
    return isinstance(value, bool)


# --- the contract -------------------------------------------------------------------------------


def _patched_attributes() -> list[tuple[Any, str]]:
    # What the determinism guards patch (see simloop/_guards.py), and more.
    found = [(owner, name) for owner, name, _ in _guards._PATCHES]
    found += [
        (datetime.datetime, "now"),
        (datetime.datetime, "utcnow"),
        (datetime.datetime, "today"),
        (datetime.date, "today"),
        (uuid, "uuid4"),
        (asyncio.runners, "_cancel_all_tasks"),
        (sys, "unraisablehook"),
        (sys, "excepthook"),
        (threading, "excepthook"),
    ]
    return found


_ATTRIBUTES = _patched_attributes()


def global_state() -> dict[str, Any]:
    """What the process looks like from outside any simulation."""
    with _quiet_deprecations():
        policy = asyncio.get_event_loop_policy()
    return {
        **{
            f"{getattr(owner, '__name__', owner)}.{name}": getattr(owner, name, None)
            for owner, name in _ATTRIBUTES
        },
        "random state": random.getstate(),
        "event loop policy": policy,
        "running loop": asyncio._get_running_loop(),
        "asyncgen hooks": tuple(sys.get_asyncgen_hooks()),
        "guards installed": _guards.is_installed(),
        "threads": threading.active_count(),
        "searches": tuple(simloop.lowlevel.SEARCHES),
        "gc enabled": gc.isenabled(),
        "recursion limit": sys.getrecursionlimit(),
        "cwd": os.getcwd(),
        "SIGINT": signal.getsignal(signal.SIGINT),
    }


@contextmanager
def _quiet_deprecations() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # policies, from 3.14
        yield


@contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread if the block takes longer than ``seconds``."""

    def expired(signum: int, frame: Any) -> None:
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def names_argument(exc: BaseException, argument: str | None) -> bool:
    """Whether an error is a named one: simloop's own, or a TypeError/ValueError whose
    message names ``argument`` in backticks."""
    if isinstance(exc, simloop.SimulationError):
        return True
    if isinstance(exc, (TypeError, ValueError)) and argument is not None:
        return f"`{argument}`" in str(exc)
    return False


NAMED = "named error"
ACCEPTED = "accepted"
USAGE = "usage error"
OWN = "value's own error"
STOCK = "stock asyncio's error"

#: What the hostile values' methods raise (see above); "repr raises" is not among them.
_OWN_ERRORS = {
    f"{method} raises"
    for method in ("iter", "len", "bool", "index", "float", "int", "<", "==", "hash")
}


def is_own_error(exc: BaseException) -> bool:
    return type(exc) is RuntimeError and str(exc) in _OWN_ERRORS


@attrs.define
class Contract:
    """Checks calls against the contract and counts what each entry point did."""

    counts: collections.Counter[tuple[str, str]] = attrs.field(factory=collections.Counter)

    def check(
        self,
        entry: str,
        call: Callable[[], Any],
        *,
        valid: bool | None,
        argument: str | None,
        value: Any = None,
        effect: Callable[[Any], None] | None = None,
        stock_error: tuple[type[BaseException], str] | None = None,
    ) -> str:
        """Call ``call()`` and check the contract (see the module docstring).

        ``valid``: what the model says of the value (None: no model, either outcome is
        fine if it is clean). ``effect(result)`` checks what an accepted call did.
        ``stock_error``: the exception (type and message) stock asyncio raises for the same
        call, which is correct behaviour too. Returns the outcome's name.
        """
        before = global_state()
        unraisable: list[Any] = []
        previous_hook = sys.unraisablehook
        sys.unraisablehook = unraisable.append
        shown = _shown(value)
        try:
            try:
                with watchdog(HANG_SECONDS):
                    result = call()
            except Hang:
                raise AssertionError(f"{entry}: hangs with {shown}") from None
            except Exception as exc:
                if is_own_error(exc):
                    outcome = OWN
                elif stock_error is not None and (type(exc), str(exc)) == stock_error:
                    outcome = STOCK
                elif not names_argument(exc, argument):
                    raise AssertionError(
                        f"{entry}: with {shown}, raised {type(exc).__name__}: {exc!s:.300} "
                        f"(not a named error: a simloop error, or TypeError/ValueError naming "
                        f"`{argument}`)"
                    ) from exc
                elif valid is True:
                    raise AssertionError(
                        f"{entry}: refused the valid value {shown}: {exc!s:.300}"
                    ) from exc
                else:
                    outcome = NAMED
            else:
                if valid is False:
                    raise AssertionError(
                        f"{entry}: accepted {shown}, which it should refuse (a misreading)"
                    )
                if effect is not None:
                    effect(result)
                outcome = ACCEPTED
                del result
            gc.collect()
        finally:
            sys.unraisablehook = previous_hook
        assert not unraisable, f"{entry}: with {shown}, collected garbage complained: " + "; ".join(
            f"{u.exc_type.__name__}: {u.exc_value} in {u.object!r:.100}" for u in unraisable
        )
        after = global_state()
        changed = sorted(key for key in before if before[key] != after[key])
        assert not changed, f"{entry}: with {shown}, left changed: {changed}"
        self.counts[entry, outcome] += 1
        return outcome

    def count(self, entry: str, outcome: str) -> None:
        """Count an outcome checked elsewhere (a pytest run's exit status)."""
        self.counts[entry, outcome] += 1


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a hostile repr
        text = f"<{type(value).__name__} whose repr raises>"
    return f"{type(value).__name__} {text:.120}"


# --- small programs ----------------------------------------------------------------------------


async def two_steps() -> str:
    """Two tasks, a sleep: choices, time and a result to check."""
    await asyncio.gather(asyncio.sleep(0), asyncio.sleep(0.5))
    return "done"


def close_if_coroutine(value: Any) -> None:
    if asyncio.iscoroutine(value):
        value.close()


def real_clock() -> float:
    return time.perf_counter()
