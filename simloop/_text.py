"""Small helpers for the messages simloop writes."""

from __future__ import annotations


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``plural(1, "deviation")`` is ``"1 deviation"``; ``plural(2, ...)``, ``"2 deviations"``."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural_noun or noun + 's'}"
