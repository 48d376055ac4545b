"""What the network takes from the loop: part of :mod:`simloop.lowlevel`.

The rest of :mod:`simloop.net` imports the extension surface from here, so that the network's
whole dependency on the loop is visible in one place: choice points and ``choose``, the
virtual clock and exact timers, ``current_loop``, per-loop state (``loop_local``) and whether
the loop runs asyncio's own order (``runs_stock_order``).
"""

from __future__ import annotations

from simloop.lowlevel import (
    ChoicePoint,
    call_at_ns,
    call_later_ns,
    choose,
    current_loop,
    fail,
    loop_local,
    now_ns,
    runs_stock_order,
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
