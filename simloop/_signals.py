"""Signal handlers inside a simulation: installed on the run, never on the process.

Servers install signal handlers to shut down gracefully (uvicorn calls :func:`signal.signal`,
aiohttp's ``run_app`` calls ``loop.add_signal_handler``). Installing one changes nothing a run
can observe until a signal arrives, and a real signal arrives whenever the operating system
delivers it. So inside a simulation the handlers go into a table of the loop's, not into the
process: the process keeps its own (Ctrl-C still stops pytest), and a signal reaches the
simulated handlers only when the program sends one to its own process with
:func:`signal.raise_signal` or ``os.kill(os.getpid(), sig)``, at that call, every run alike.

Delivery follows what a real process does:

- a handler installed with ``signal.signal`` runs at once, in the sending code's thread, before
  ``raise_signal``/``os.kill`` returns (CPython runs Python handlers at the next bytecode
  boundary, which is the return of that call); what it raises, the call raises;
- a callback installed with ``loop.add_signal_handler`` is scheduled as a ready callback of the
  loop (a real loop learns of the signal through its wake-up file descriptor);
- ``SIG_IGN`` ignores it; ``SIG_DFL`` would end the process, which a simulation cannot do: the
  call raises :class:`~simloop.EscapedSimulationError` saying so.

A signal for which the run installed nothing is the process's business: it is sent for real.
The table lives as long as its loop; nothing is restored at the end, since nothing real changed.

The real-time interval timer (:func:`signal.alarm`, ``signal.setitimer(ITIMER_REAL, ...)``,
``getitimer``) is the run's too, and counts virtual time: armed for 5 s, it sends SIGALRM when
the loop's clock reaches 5 s later, exactly, in every run. It arrives between two steps, as a
real SIGALRM does while the loop waits in its selector: a handler of ``signal.signal`` runs
then (what it raises ends the run, as it would leave ``run_until_complete``), a callback of
``loop.add_signal_handler`` becomes ready. With no handler for SIGALRM in the run, the
process's own Python handler runs; if the process has none, SIGALRM would end it, which the run
reports as an :class:`~simloop.EscapedSimulationError` instead. The CPU-time timers
(``ITIMER_VIRTUAL``, ``ITIMER_PROF``) measure real CPU time, which no run controls: arming one
inside a run raises :class:`~simloop.EscapedSimulationError`.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import math
import signal
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

from simloop._clock import NS_PER_SECOND, format_seconds
from simloop._errors import EscapedSimulationError
from simloop._kernel import call_later_ns, fail, now_ns

#: Signals no process can catch: installing a handler for them fails as on a real system.
_UNCATCHABLE = frozenset(
    getattr(signal, name) for name in ("SIGKILL", "SIGSTOP") if hasattr(signal, name)
)


def _noop_handler(signum: int, frame: Any) -> None:
    """The Python-level handler a signal has while the loop handles it (as stock asyncio's)."""


class SignalTable:
    """The handlers one simulated run installed, by signal number."""

    __slots__ = (
        "__weakref__",
        "alarm",
        "alarm_due_ns",
        "alarm_interval_ns",
        "handlers",
        "loop_callbacks",
    )

    def __init__(self) -> None:
        #: What ``signal.signal`` installed: a callable, ``SIG_IGN`` or ``SIG_DFL``.
        self.handlers: dict[int, Any] = {}
        #: What ``loop.add_signal_handler`` installed: (callback, args, context).
        self.loop_callbacks: dict[int, tuple[Callable[..., object], tuple[Any, ...], Any]] = {}
        #: The armed ITIMER_REAL: the loop's timer that sends SIGALRM, or None; when it is
        #: due (virtual ns) and the interval it is re-armed with (0: once).
        self.alarm: asyncio.TimerHandle | None = None
        self.alarm_due_ns = 0
        self.alarm_interval_ns = 0


_tables: weakref.WeakKeyDictionary[Any, SignalTable] = weakref.WeakKeyDictionary()


def table_of(loop: Any) -> SignalTable:
    """The signal table of ``loop`` (made on first use)."""
    table = _tables.get(loop)
    if table is None:
        table = _tables[loop] = SignalTable()
    return table


def _signal_number(sig: Any) -> int:
    """``sig`` as ``signal.signal`` reads it: an int in the valid range, else its error."""
    if not isinstance(sig, int):
        msg = f"'{type(sig).__name__}' object cannot be interpreted as an integer"
        raise TypeError(msg)
    number = int(sig)
    if number not in signal.valid_signals():
        msg = "signal number out of range"
        raise ValueError(msg)
    return number


def _require_main_thread(what: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        msg = f"{what} only works in main thread of the main interpreter"
        raise ValueError(msg)


def set_handler(loop: Any, sig: Any, handler: Any) -> Any:
    """``signal.signal(sig, handler)`` inside a run on ``loop``: the previous handler, or
    :data:`NOT_INSTALLED` if the run had none (the process's own was the previous one)."""
    number = _signal_number(sig)
    _require_main_thread("signal")
    if handler not in (signal.SIG_IGN, signal.SIG_DFL) and not callable(handler):
        msg = "signal handler must be signal.SIG_IGN, signal.SIG_DFL, or a callable object"
        raise TypeError(msg)
    if number in _UNCATCHABLE:
        raise OSError(errno.EINVAL, "Invalid argument")
    table = table_of(loop)
    previous = get_handler(loop, number)
    table.handlers[number] = handler
    # A handler installed over the loop's replaces it, as on a real process (the loop would
    # no longer hear of the signal).
    table.loop_callbacks.pop(number, None)
    return previous


#: What :func:`get_handler` answers for a signal the run installed nothing for.
NOT_INSTALLED = object()


def get_handler(loop: Any, sig: Any) -> Any:
    """``signal.getsignal(sig)`` inside a run on ``loop``, or :data:`NOT_INSTALLED` if the run
    installed no handler for it (the process's own handler is then the answer)."""
    number = _signal_number(sig)
    table = _tables.get(loop)
    if table is not None and number in table.handlers:
        return table.handlers[number]
    return NOT_INSTALLED


def _loop_signal(sig: Any) -> int:
    """``sig`` as ``loop.add_signal_handler``/``remove_signal_handler`` check it (stock
    asyncio's ``_check_signal``)."""
    if not isinstance(sig, int):
        msg = f"sig must be an int, not {sig!r}"
        raise TypeError(msg)
    if sig not in signal.valid_signals():
        msg = f"invalid signal number {sig}"
        raise ValueError(msg)
    return int(sig)


def add_loop_handler(loop: Any, sig: Any, callback: Callable[..., object], args: Any) -> None:
    """``loop.add_signal_handler(sig, callback, *args)``, checked in stock asyncio's order."""
    if asyncio.iscoroutine(callback) or asyncio.iscoroutinefunction(callback):
        msg = "coroutines cannot be used with add_signal_handler()"
        raise TypeError(msg)
    number = _loop_signal(sig)
    if loop.is_closed():
        msg = "Event loop is closed"
        raise RuntimeError(msg)
    if threading.current_thread() is not threading.main_thread():
        msg = "set_wakeup_fd only works in main thread of the main interpreter"
        raise RuntimeError(msg)
    if number in _UNCATCHABLE:
        msg = f"sig {number:d} cannot be caught"
        raise RuntimeError(msg)
    table = table_of(loop)
    table.loop_callbacks[number] = (callback, tuple(args), contextvars.copy_context())
    table.handlers[number] = _noop_handler


def remove_loop_handler(loop: Any, sig: Any) -> bool:
    """``loop.remove_signal_handler(sig)``: whether a handler was installed."""
    number = _loop_signal(sig)
    table = _tables.get(loop)
    if table is None or table.loop_callbacks.pop(number, None) is None:
        return False
    # What stock asyncio leaves in place: the default handler (Python's own for SIGINT).
    table.handlers[number] = (
        signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL
    )
    return True


def deliver(loop: Any, sig: Any, frame: Any) -> bool:
    """The program sent ``sig`` to its own process during a run on ``loop``: run what the run
    installed for it. False if it installed nothing: the signal is the process's."""
    number = _signal_number(sig)
    table = _tables.get(loop)
    if table is None:
        return False
    loop_callback = table.loop_callbacks.get(number)
    if loop_callback is not None:
        callback, args, context = loop_callback
        loop.call_soon(callback, *args, context=context)
        return True
    if number not in table.handlers:
        return False
    handler = table.handlers[number]
    if handler is signal.SIG_IGN:
        return True
    if handler is signal.SIG_DFL:
        name = signal.Signals(number).name
        msg = (
            f"{name} was sent to the process inside a simulated run while the run had set its "
            f"handler to SIG_DFL: its default action would end the process, which a simulation "
            f"cannot do. Install a handler for {name} in the test, or do not send it."
        )
        raise EscapedSimulationError(msg)
    handler(number, frame)
    return True


# --- the real-time interval timer: SIGALRM in virtual time ------------------------------------

#: Microseconds: the resolution of ``setitimer``'s ``struct timeval``.
_NS_PER_US = 1_000
#: The largest number of seconds ``setitimer`` accepts (a 64-bit ``time_t``).
_MAX_SECONDS = 2**63 - 1


def _itimer_error() -> OSError:
    return signal.ItimerError(errno.EINVAL, "Invalid argument")


def _index(value: Any) -> int:
    """``value`` as an integer argument of the ``signal`` functions reads it (floats refused)."""
    if isinstance(value, float) or not hasattr(value, "__index__"):
        msg = f"'{type(value).__name__}' object cannot be interpreted as an integer"
        raise TypeError(msg)
    return int(value.__index__())


def _check_which(which: Any, what: str) -> int:
    """``which`` as ``setitimer``/``getitimer`` read it: ITIMER_REAL is simulated; the CPU-time
    timers are escapes; anything else fails as on a real system."""
    number = _index(which)
    if number == signal.ITIMER_REAL:
        return number
    cpu_timers = {signal.ITIMER_VIRTUAL: "ITIMER_VIRTUAL", signal.ITIMER_PROF: "ITIMER_PROF"}
    if number in cpu_timers:
        msg = (
            f"{what} of signal.{cpu_timers[number]} was called inside a simulated run: that timer "
            "counts the process's real CPU time, which differs from run to run, so the run could "
            "not be replayed. Use signal.ITIMER_REAL (or signal.alarm), which counts the run's "
            "virtual time, or an asyncio timeout."
        )
        raise EscapedSimulationError(msg)
    raise _itimer_error()


def _timeval_ns(seconds: Any) -> int:
    """``seconds`` as ``setitimer`` reads it, in virtual nanoseconds: rounded up to the
    microsecond (so a tiny positive delay still arms the timer, as on a real system)."""
    if isinstance(seconds, float):
        if math.isnan(seconds):
            msg = "Invalid value NaN (not a number)"
            raise ValueError(msg)
    else:
        seconds = _index(seconds)
    if seconds > _MAX_SECONDS:
        msg = "timestamp out of range for platform time_t"
        raise OverflowError(msg)
    if seconds < 0:
        raise _itimer_error()
    if isinstance(seconds, int):
        return seconds * NS_PER_SECOND
    microseconds: int = math.ceil(seconds * 1_000_000)
    return microseconds * _NS_PER_US


def _seconds(ns: int) -> float:
    """Virtual nanoseconds as ``getitimer`` reports them: seconds, rounded up to the µs."""
    return -(-ns // _NS_PER_US) / 1_000_000


def get_itimer(loop: Any, which: Any) -> tuple[float, float]:
    """``signal.getitimer(which)`` inside a run on ``loop``: (seconds left, interval)."""
    _check_which(which, "signal.getitimer()")
    table = _tables.get(loop)
    if table is None or table.alarm is None:
        return (0.0, 0.0)
    left = max(0, table.alarm_due_ns - now_ns(loop=loop))
    return (_seconds(left), _seconds(table.alarm_interval_ns))


def set_itimer(loop: Any, which: Any, seconds: Any, interval: Any = 0.0) -> tuple[float, float]:
    """``signal.setitimer(which, seconds, interval)`` inside a run on ``loop``: arm (or, with
    0 seconds, disarm) the run's ITIMER_REAL; returns what it was, as ``getitimer``."""
    _check_which(which, "signal.setitimer()")
    delay_ns = _timeval_ns(seconds)
    interval_ns = _timeval_ns(interval)
    previous = get_itimer(loop, which)
    table = table_of(loop)
    _arm(loop, table, delay_ns, interval_ns)
    return previous


def set_alarm(loop: Any, seconds: Any) -> int:
    """``signal.alarm(seconds)`` inside a run on ``loop``: the seconds left on the timer it
    replaces, rounded as the C library's ``alarm`` does (never 0 while one was armed)."""
    number = _index(seconds)
    if not -(2**31) <= number < 2**31:
        msg = f"Python int too {'large' if number > 0 else 'small'} to convert to C int"
        raise OverflowError(msg)
    table = table_of(loop)
    left_ns = max(0, table.alarm_due_ns - now_ns(loop=loop)) if table.alarm is not None else 0
    # alarm() takes an unsigned number of seconds: a negative one is a very long alarm.
    _arm(loop, table, (number % 2**32) * NS_PER_SECOND, 0)
    whole, rest = divmod(left_ns, NS_PER_SECOND)
    if rest >= NS_PER_SECOND // 2 or (whole == 0 and rest > 0):
        whole += 1
    return whole


def _arm(loop: Any, table: SignalTable, delay_ns: int, interval_ns: int) -> None:
    if table.alarm is not None:
        table.alarm.cancel()
        table.alarm = None
    table.alarm_due_ns = table.alarm_interval_ns = 0
    if delay_ns:
        table.alarm_due_ns = now_ns(loop=loop) + delay_ns
        table.alarm_interval_ns = interval_ns
        table.alarm = call_later_ns(delay_ns, _alarm_rang, weakref.ref(loop), loop=loop)


def _alarm_rang(loop_ref: weakref.ref[Any]) -> None:
    """The run's ITIMER_REAL is due: re-arm it if it has an interval, and send SIGALRM."""
    loop = loop_ref()
    table = _tables.get(loop)
    if loop is None or table is None:
        return
    table.alarm = None
    if table.alarm_interval_ns:
        _arm(loop, table, table.alarm_interval_ns, table.alarm_interval_ns)
    else:
        table.alarm_due_ns = 0
    try:
        if deliver(loop, signal.SIGALRM, sys._getframe(0)):
            return
        # The run installed nothing for SIGALRM: the process's own handler hears of it.
        handler = signal.getsignal(signal.SIGALRM)
        if callable(handler):
            handler(signal.SIGALRM, sys._getframe(0))
        elif handler is not signal.SIG_IGN:
            msg = (
                "SIGALRM from signal.alarm() or signal.setitimer() came due at "
                f"t={format_seconds(now_ns(loop=loop))} inside a simulated run, and neither the "
                "run nor the process has a handler for it: its default action would end the "
                "process, which a simulation cannot do. Install a handler with "
                "signal.signal(signal.SIGALRM, ...) or loop.add_signal_handler() before arming "
                "the timer, or disarm it with signal.alarm(0)."
            )
            raise EscapedSimulationError(msg)
    except BaseException as exc:  # noqa: BLE001 - a handler's exception ends the run
        fail(exc, loop=loop)
