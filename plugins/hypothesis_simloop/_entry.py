"""Hypothesis's entry point for simloop: ``st.from_type(simloop.Scheduler)`` draws a schedule.

Hypothesis loads this hook while ``import hypothesis`` runs, which may happen in the middle of
importing :mod:`hypothesis_simloop` itself (its first line imports Hypothesis). So the hook
refers to :func:`hypothesis_simloop.schedules` only when a strategy is resolved, by then
defined.
"""

from __future__ import annotations

from typing import Any


def _scheduler_strategy(_type: type) -> Any:
    from hypothesis_simloop import schedules

    return schedules()


def setup_hook() -> None:
    """Register the strategy for :class:`simloop.Scheduler`."""
    from hypothesis import strategies as st

    import simloop

    st.register_type_strategy(simloop.Scheduler, _scheduler_strategy)
