"""Virtual time: integer nanoseconds inside, float seconds outside.

Keeping the clock as an integer means sums are exact: ten ``sleep(0.1)`` end at exactly
``1_000_000_000`` ns, which reads back as ``1.0``, where float arithmetic would drift to
``0.9999999999999999``. Conversions round to the nearest nanosecond and then make sure the
result is never *earlier* than the float the caller asked for, so a timer never fires early.
"""

from __future__ import annotations

from simloop._errors import InvalidArgumentError
from simloop._text import describe

NS_PER_SECOND = 1_000_000_000

#: A deadline that never comes. Timers at or past it never fire (``call_later(math.inf)``);
#: a run with nothing else left to do is a deadlock, not an endless wait.
NEVER_NS = 1 << 80

# Beyond about 31 million years of virtual time, a deadline counts as never.
_FAR_SECONDS = 1e15


def seconds_to_ns(seconds: float, *, name: str = "time") -> int:
    """Convert float seconds to integer nanoseconds, rounding up if rounding would be early.

    Infinite (or absurdly large) times become :data:`NEVER_NS`. ``name`` is used in the error
    message for a value that is not a number.
    """
    try:
        if seconds >= _FAR_SECONDS:
            return NEVER_NS
        if seconds <= -_FAR_SECONDS:
            return -NEVER_NS
        ns = round(seconds * NS_PER_SECOND)
    except (TypeError, ValueError, ArithmeticError):  # ArithmeticError: a Decimal NaN
        msg = f"`{name}` must be a number of seconds, not {describe(seconds)}"
        raise InvalidArgumentError(msg) from None
    # round() may land a hair below the requested time once converted back to float; step
    # up until it doesn't. One step is always enough in the range we accept.
    while ns / NS_PER_SECOND < seconds:
        ns += 1
    return ns


def ns_to_seconds(ns: int) -> float:
    """Convert integer nanoseconds to float seconds, exactly rounded."""
    return ns / NS_PER_SECOND


def format_seconds(ns: int) -> str:
    """A short human reading of a virtual time, e.g. ``"3.5s"`` or ``"0.000001s"``."""
    if ns.__class__ is not int and (isinstance(ns, bool) or not isinstance(ns, int)):
        msg = f"`ns` must be an int number of nanoseconds, not {describe(ns)}"
        raise InvalidArgumentError(msg)
    if ns >= NEVER_NS:
        return "never"
    # In integers: a float would overflow for the largest, and round the longest runs.
    seconds, fraction = divmod(abs(ns), NS_PER_SECOND)
    text = f"{'-' if ns < 0 else ''}{seconds}.{fraction:09d}".rstrip("0").rstrip(".")
    return f"{text}s"
