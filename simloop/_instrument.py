"""Observers of a run: the trace recorder, invariant checkers and debuggers are instruments.

A loop with no instrument runs a lean batch loop; attaching one switches it to a batch loop
that calls these hooks, so an unused hook costs nothing and a run without instruments pays
nothing for their existence.
"""

from __future__ import annotations

from asyncio import events
from typing import TYPE_CHECKING

from simloop._errors import ExtensionError, InvalidArgumentError
from simloop._text import shown

if TYPE_CHECKING:
    from simloop._choices import ChoicePoint
    from simloop._loop import SimLoop


class Instrument:
    """Base class for observers attached with :meth:`SimLoop.add_instrument`.

    Override the hooks you need; the defaults do nothing. Hooks run inside the simulation, in
    the loop's thread: they must not start tasks or schedule callbacks, or they would change
    the run they observe. A check that fails the run does so with
    :func:`simloop.lowlevel.fail`, or by raising an ``AssertionError`` (as
    :class:`~simloop.InvariantError` is) or a :class:`~simloop.SimulationError` from its hook;
    any other exception from a hook is a bug in the instrument, and ends the run with an
    :class:`~simloop.ExtensionError` naming it rather than as a failure of the program.
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


#: The hooks an instrument has.
HOOKS = (
    "run_started",
    "run_stopped",
    "choice_made",
    "step_started",
    "step_finished",
    "clock_advanced",
)


def check_instrument(instrument: object, where: str) -> None:
    """Refuse an object that lacks an instrument's hooks, naming what it lacks."""
    missing = [hook for hook in HOOKS if not callable(getattr(instrument, hook, None))]
    if missing:
        msg = (
            f"{where}: {shown(instrument)} is not an instrument (it lacks {', '.join(missing)}); "
            "subclass simloop.Instrument, whose hooks default to doing nothing"
        )
        raise InvalidArgumentError(msg)


def instrument_error(instrument: object, hook: str, exc: BaseException) -> ExtensionError:
    """The error for an instrument whose hook raised something other than a failure."""
    msg = (
        f"instrument {shown(instrument)} raised {type(exc).__name__}: {exc} in its {hook}() hook; "
        "that is a bug in the instrument, not a failure of the program (an instrument fails "
        "a run by raising AssertionError or a simloop.SimulationError, or with "
        "simloop.lowlevel.fail)"
    )
    return ExtensionError(msg)
