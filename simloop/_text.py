"""Small helpers for the messages simloop writes."""

from __future__ import annotations


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``plural(1, "deviation")`` is ``"1 deviation"``; ``plural(2, ...)``, ``"2 deviations"``."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural_noun or noun + 's'}"


#: Longer reprs are cut in messages (a value can be a megabyte of text).
_SHOWN_LIMIT = 200


def shown(value: object) -> str:
    """``repr(value)`` for a message: cut short if long, and never raising (a value whose
    ``__repr__`` raises is shown by its type)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a message must not fail because of the value it shows
        return f"<{type(value).__name__} object>"
    return text if len(text) <= _SHOWN_LIMIT else text[:_SHOWN_LIMIT] + "..."


def describe(value: object) -> str:
    """``"str 'x'"``: an argument's type and value, for its error message."""
    return f"{type(value).__name__} {shown(value)}"
