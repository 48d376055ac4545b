"""What the network takes from the loop: :mod:`simloop.lowlevel`, and one helper it lacks.

The rest of :mod:`simloop.net` imports the extension surface from here, so that the network's
whole dependency on the loop is visible in one place: choice points and ``choose``, the
virtual clock and exact timers, ``current_loop``, and :func:`loop_local`, per-loop state for
an extension, which ``simloop.lowlevel`` does not offer (yet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simloop import SimLoop
from simloop.lowlevel import (
    ChoicePoint,
    call_at_ns,
    call_later_ns,
    choose,
    current_loop,
    fail,
    now_ns,
)

__all__ = [
    "ChoicePoint",
    "call_at_ns",
    "call_later_ns",
    "choose",
    "current_loop",
    "fail",
    "loop_local",
    "now_ns",
    "runs_stock_order",
]


def loop_local(loop: SimLoop, key: str, factory: Callable[[], Any]) -> Any:
    """Per-loop state of an extension: ``factory()`` the first time, the same object after.

    Kept on the loop itself, not in a module's dictionary, so that it lives exactly as long as
    the loop does (a dictionary of loops to networks kept every loop alive, the network
    holding its loop), and so that an extension imported twice (pytester drops the modules an
    in-process run imported) still finds the loop's one copy.
    """
    extensions: dict[str, Any] = vars(loop).setdefault("_simloop_extensions", {})
    found = extensions.get(key)
    if found is None:
        found = extensions[key] = factory()
    return found


def runs_stock_order(loop: SimLoop) -> bool:
    """Whether the loop runs asyncio's own single ready queue: its scheduler declares
    ``always_stock`` (:class:`~simloop.Fifo`), so the loop makes no choice at all."""
    return bool(getattr(loop.scheduler, "always_stock", False))
