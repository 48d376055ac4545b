"""Schedulers and instruments that break their contract: usage errors naming them.

A scheduler that raises or answers something other than an option, and an instrument whose
hook raises something other than a failure, are bugs in those objects, not in the program they
run: the run ends with :class:`simloop.ExtensionError` naming the object (the original
exception as its cause), never with a failure of the program, and without the note that says
how to replay the run. (What exploration does with them is in
tests/exploration/test_explore_extensions.py.) And ``lowlevel.fail()``, the way a component
fails the run on purpose.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from core_support import abandon, collected_quietly

import simloop
from simloop import lowlevel


def extension_error(call: Any) -> simloop.ExtensionError:
    """The ExtensionError ``call()`` raises: a usage error (TypeError, ValueError)."""
    error = collected_quietly(call)
    assert type(error) is simloop.ExtensionError, repr(error)
    assert isinstance(error, simloop.InvalidArgumentError)
    assert isinstance(error, TypeError)
    assert isinstance(error, ValueError)
    assert not getattr(error, "__notes__", None), error.__notes__  # no replay note
    return error


async def two_tasks() -> None:
    async def step() -> None:
        await asyncio.sleep(0)

    await asyncio.gather(step(), step())


class Named:
    """A scheduler or instrument with a name that messages can be checked against."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class OutOfRange(Named):
    def choose(self, point: lowlevel.ChoicePoint) -> int:
        return point.n


class Raising(Named):
    def choose(self, point: lowlevel.ChoicePoint) -> int:
        raise ZeroDivisionError("no answer")


def test_a_scheduler_answering_out_of_range() -> None:
    loop = simloop.SimLoop(scheduler=OutOfRange("Wrong()"))
    try:
        err = extension_error(lambda: loop.run_until_complete(two_tasks()))
    finally:
        abandon(loop)
    assert str(err) == (
        "scheduler Wrong() answered 2 to a 'ready' choice among 2 options; it must answer an int "
        "in range(2)"
    )


@pytest.mark.parametrize("record_events", [False, True], ids=["hot path", "observed path"])
@pytest.mark.parametrize(
    "answer", [-1, 2, 1.0, True, None, "1"], ids=["-1", "2", "1.0", "True", "None", "str"]
)
def test_every_answer_that_is_not_an_option(answer: object, record_events: bool) -> None:
    class Answers(Named):
        def choose(self, point: lowlevel.ChoicePoint) -> object:
            return answer

    with pytest.raises(simloop.ExtensionError) as caught:
        simloop.run(two_tasks(), scheduler=Answers("A()"), record_events=record_events)
    assert str(caught.value) == (
        f"scheduler A() answered {answer!r} to a 'ready' choice among 2 options; it must answer "
        "an int in range(2)"
    )


@pytest.mark.parametrize("record_events", [False, True], ids=["hot path", "observed path"])
def test_a_scheduler_that_raises(record_events: bool) -> None:
    with pytest.raises(simloop.ExtensionError) as caught:
        simloop.run(two_tasks(), scheduler=Raising("R()"), record_events=record_events)
    assert str(caught.value) == (
        "scheduler R() raised ZeroDivisionError: no answer answering a 'ready' choice among 2 "
        "options; that is a bug in the scheduler, not a failure of the program"
    )
    assert isinstance(caught.value.__cause__, ZeroDivisionError)
    assert not getattr(caught.value, "__notes__", None)


class Uniform(Named):
    """A scheduler that declares a uniform random source (the hot path draws from it)."""

    def __init__(self, name: str, draws: Any) -> None:
        super().__init__(name)
        self.uniform_random = draws

    def choose(self, point: lowlevel.ChoicePoint) -> int:
        return 0


@pytest.mark.parametrize("draw", [1.0, 1.5, -0.5, float("nan"), 0, "0.5"])
def test_a_uniform_random_outside_zero_one(draw: object) -> None:
    # The hot path picks int(draw * n) without looking: a draw of -0.5 would silently pick
    # the last option, 1.5 an option that does not exist.
    with pytest.raises(simloop.ExtensionError) as caught:
        simloop.run(two_tasks(), scheduler=Uniform("U()", lambda: draw))
    assert str(caught.value) == (
        f"scheduler U(): its uniform_random() returned {draw!r}; it must return floats in [0, 1)"
    )


def test_a_uniform_random_that_raises() -> None:
    def draws() -> float:
        raise KeyError("empty")

    with pytest.raises(simloop.ExtensionError) as caught:
        simloop.run(two_tasks(), scheduler=Uniform("U()", draws))
    assert str(caught.value) == (
        "scheduler U() raised KeyError: 'empty' answering a 'ready' choice among 2 options; "
        "that is a bug in the scheduler, not a failure of the program"
    )


def test_a_good_uniform_random_still_takes_the_fast_path() -> None:
    """A checked draw (any function) and a random.Random's own method choose alike."""
    import random

    source = random.Random(5)
    checked = Uniform("U()", lambda: source.random())
    plain = Uniform("U()", random.Random(5).random)
    runs = [simloop.SimLoop(scheduler=s, record_events=False) for s in (checked, plain)]
    for loop in runs:
        loop.run_until_complete(two_tasks())
        loop.close()
    assert runs[0].trace.choices == runs[1].trace.choices
    assert runs[0].trace.deviations > 0


def test_a_scheduler_whose_bind_raises() -> None:
    class BadBind(Raising):
        def bind(self, loop: simloop.SimLoop) -> None:
            raise RuntimeError("cannot bind")

    with pytest.raises(simloop.ExtensionError) as caught:
        simloop.run(two_tasks(), scheduler=BadBind("B()"))
    assert str(caught.value) == (
        "scheduler B() raised RuntimeError: cannot bind in its bind(loop) hook; that is a bug in "
        "the scheduler, not a failure of the program"
    )


def test_a_program_that_catches_the_error_cannot_hide_it() -> None:
    """A choice made inside the program's own call (an extension's ``lowlevel.choose``): a
    program that catches every exception there still ends with the scheduler's error."""

    class BadCoin(Named):
        def choose(self, point: lowlevel.ChoicePoint) -> int:
            if point.kind == "test.coin":
                raise ValueError("no coins today")
            return 0

    caught_inside: list[str] = []

    async def swallows() -> str:
        try:
            lowlevel.choose(lowlevel.ChoicePoint("test.coin", 2))
        except Exception as exc:
            caught_inside.append(type(exc).__name__)
        await asyncio.sleep(1)
        return "finished as if nothing happened"

    with pytest.raises(simloop.ExtensionError, match="no coins today"):
        simloop.run(swallows(), scheduler=BadCoin("C()"))
    assert caught_inside == ["ExtensionError"]


def test_a_broken_scheduler_leaves_no_task_pending() -> None:
    """The run ends with the error, and its tasks are cancelled and finished all the same."""
    finished: list[str] = []

    async def worker(name: str) -> None:
        try:
            await asyncio.sleep(10)
        finally:
            finished.append(name)

    async def main() -> None:
        background = [asyncio.create_task(worker(name)) for name in ("a", "b")]
        assert background
        await asyncio.gather(asyncio.sleep(0), asyncio.sleep(0))

    extension_error(lambda: simloop.run(main(), scheduler=OutOfRange("W()")))
    assert sorted(finished) == ["a", "b"]


# --- instruments --------------------------------------------------------------------------


class BrokenHook(simloop.Instrument):
    def __init__(self, hook: str, exc: BaseException) -> None:
        self.hook = hook
        self.exc = exc
        setattr(self, hook, self.raise_it)

    def raise_it(self, *args: object) -> None:
        raise self.exc

    def __repr__(self) -> str:
        return f"Broken({self.hook})"


HOOKS = ["run_started", "run_stopped", "choice_made", "step_started", "step_finished"]


@pytest.mark.parametrize("hook", [*HOOKS, "clock_advanced"])
def test_an_instrument_hook_that_raises_is_a_bug_of_the_instrument(hook: str) -> None:
    async def main() -> None:
        await two_tasks()
        await asyncio.sleep(1)  # the clock advances

    instrument = BrokenHook(hook, AttributeError("no such thing"))
    with pytest.raises(simloop.ExtensionError) as caught:
        simloop.run(main(), seed=1, instruments=[instrument])
    assert str(caught.value) == (
        f"instrument Broken({hook}) raised AttributeError: no such thing in its {hook}() hook; "
        "that is a bug in the instrument, not a failure of the program (an instrument fails a "
        "run by raising AssertionError or a simloop.SimulationError, or with "
        "simloop.lowlevel.fail)"
    )
    assert isinstance(caught.value.__cause__, AttributeError)


@pytest.mark.parametrize(
    "exc",
    [AssertionError("broken"), simloop.InvariantError("broken", name="x", step=1)],
    ids=["AssertionError", "InvariantError"],
)
@pytest.mark.parametrize("hook", ["step_started", "step_finished", "choice_made"])
def test_an_instrument_fails_the_run_by_raising_an_assertion(hook: str, exc: BaseException) -> None:
    with pytest.raises(type(exc)) as caught:
        simloop.run(two_tasks(), seed=1, instruments=[BrokenHook(hook, exc)])
    assert caught.value is exc
    notes = getattr(exc, "__notes__", [])
    assert any(note.startswith("simloop: failed") for note in notes), notes


def test_add_instrument_refuses_what_is_not_an_instrument() -> None:
    class Half:
        def step_started(self, *args: object) -> None:
            pass

        def __repr__(self) -> str:
            return "Half()"

    loop = simloop.SimLoop()
    try:
        with pytest.raises(simloop.InvalidArgumentError) as caught:
            loop.add_instrument(Half())  # type: ignore[arg-type]
    finally:
        loop.close()
    assert str(caught.value) == (
        "add_instrument(): Half() is not an instrument (it lacks run_started, run_stopped, "
        "choice_made, step_finished, clock_advanced); subclass simloop.Instrument, whose hooks "
        "default to doing nothing"
    )


# --- lowlevel.fail() --------------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", [simloop.Fifo(), simloop.RandomWalk(3)], ids=repr)
def test_a_failure_in_the_batch_that_stops_the_loop_ends_that_run(
    scheduler: lowlevel.Scheduler,
) -> None:
    """``lowlevel.fail()`` from a callback that runs in the same batch as the main task's done
    callback (which stops the loop): the run ends with it, instead of returning the result and
    leaving the failure to whatever runs on the loop next."""

    async def fails_on_the_way_out() -> str:
        asyncio.get_running_loop().call_soon(lowlevel.fail, RuntimeError("component broke"))
        return "result"

    with pytest.raises(RuntimeError, match="component broke"):
        simloop.run(fails_on_the_way_out(), scheduler=scheduler)

    loop = simloop.SimLoop(scheduler=scheduler)
    try:
        with pytest.raises(RuntimeError, match="component broke"):
            loop.run_until_complete(fails_on_the_way_out())
        # Nothing is left over for the next run on the same loop.
        assert loop.run_until_complete(asyncio.sleep(0, "next")) == "next"
    finally:
        loop.close()
