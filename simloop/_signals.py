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
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import signal
import threading
import weakref
from collections.abc import Callable
from typing import Any

from simloop._errors import EscapedSimulationError

#: Signals no process can catch: installing a handler for them fails as on a real system.
_UNCATCHABLE = frozenset(
    getattr(signal, name) for name in ("SIGKILL", "SIGSTOP") if hasattr(signal, name)
)


def _noop_handler(signum: int, frame: Any) -> None:
    """The Python-level handler a signal has while the loop handles it (as stock asyncio's)."""


class SignalTable:
    """The handlers one simulated run installed, by signal number."""

    __slots__ = ("__weakref__", "handlers", "loop_callbacks")

    def __init__(self) -> None:
        #: What ``signal.signal`` installed: a callable, ``SIG_IGN`` or ``SIG_DFL``.
        self.handlers: dict[int, Any] = {}
        #: What ``loop.add_signal_handler`` installed: (callback, args, context).
        self.loop_callbacks: dict[int, tuple[Callable[..., object], tuple[Any, ...], Any]] = {}


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
