"""Observers of a run: the trace recorder, invariant checkers and debuggers are instruments.

A loop with no instrument runs a lean batch loop; attaching one switches it to a batch loop
that calls these hooks, so an unused hook costs nothing and a run without instruments pays
nothing for their existence.
"""

from __future__ import annotations

from asyncio import events
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simloop._choices import ChoicePoint
    from simloop._loop import SimLoop


class Instrument:
    """Base class for observers attached with :meth:`SimLoop.add_instrument`.

    Override the hooks you need; the defaults do nothing. Hooks run inside the simulation, in
    the loop's thread: they must not start tasks or schedule callbacks, or they would change
    the run they observe (a check that fails the run does so with
    :func:`simloop.lowlevel.fail` or by raising from its hook).
    """

    def run_started(self, loop: SimLoop) -> None:
        """A ``run_forever`` (or ``run_until_complete``) call begins."""

    def run_stopped(self, loop: SimLoop) -> None:
        """That call ends, normally or with an exception."""

    def choice_made(self, loop: SimLoop, point: ChoicePoint, choice: int) -> None:
        """The scheduler answered ``choice`` to ``point`` (``point.kind``, ``point.n``
        options; ``point.describe(choice)`` says what it means)."""

    def step_started(
        self,
        loop: SimLoop,
        index: int,
        handle: events.Handle,
        choice: int,
        options: int,
        stock: events.Handle,
    ) -> None:
        """Step ``index`` is about to run ``handle``, picked as ``choice`` of ``options``.

        ``stock`` is the callback stock asyncio would have run instead (``handle`` itself
        when ``choice`` is 0).
        """

    def step_finished(self, loop: SimLoop, index: int, handle: events.Handle) -> None:
        """Step ``index`` returned (its exceptions have gone to the exception handler)."""

    def clock_advanced(self, loop: SimLoop, old_ns: int, new_ns: int) -> None:
        """Nothing was ready, so virtual time jumped from ``old_ns`` to the next timer."""
