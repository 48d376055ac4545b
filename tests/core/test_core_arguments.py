"""InvalidArgumentError: each message names the argument and echoes the bad value."""

from __future__ import annotations

import asyncio
import gc
import itertools
import math
import sys
from typing import Any

import pytest
from core_support import collected_quietly, invalid_argument

import simloop


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": "1"}, "`seed` must be an int or None, not str '1'"),
        ({"seed": True}, "`seed` must be an int or None, not bool True"),
        ({"seed": 1.5}, "`seed` must be an int or None, not float 1.5"),
        ({"max_steps": 0}, "`max_steps` must be a positive int or None, not 0"),
        ({"max_steps": -5}, "`max_steps` must be a positive int or None, not -5"),
        ({"max_steps": 2.0}, "`max_steps` must be a positive int or None, not 2.0"),
        ({"max_steps": True}, "`max_steps` must be a positive int or None, not True"),
        ({"start_time": "0"}, "`start_time` must be a number of seconds, not str '0'"),
        ({"start_time": math.inf}, "`start_time` must be a finite number of seconds, not inf"),
        ({"start_time": math.nan}, "`start_time` must be a number of seconds, not float nan"),
        (
            {"max_time": -1},
            "`max_time` must be a non-negative number of seconds or None, not -1",
        ),
        ({"max_time": "10"}, "`max_time` must be a number of seconds, not str '10'"),
        (
            {"timer_jitter": -0.5},
            "`timer_jitter` must be a non-negative number of seconds, not -0.5",
        ),
        (
            {"timer_jitter": math.inf},
            "`timer_jitter` must be a non-negative number of seconds, not inf",
        ),
        (
            {"timer_jitter": None},
            "`timer_jitter` must be a number of seconds, not NoneType None",
        ),
        ({"epoch": "2000"}, "`epoch` must be a number of seconds, not str '2000'"),
        (
            {"scheduler": "fifo"},
            "`scheduler` must have a choose(point) method, not str 'fifo'",
        ),
    ],
)
def test_simloop_rejects_bad_options(options: dict[str, Any], message: str) -> None:
    assert str(invalid_argument(lambda: simloop.SimLoop(**options))) == message


def test_scheduler_without_choose_echoes_the_object() -> None:
    class NotAScheduler:
        def __repr__(self) -> str:
            return "<not a scheduler>"

    err = invalid_argument(lambda: simloop.SimLoop(scheduler=NotAScheduler()))
    assert str(err) == (
        "`scheduler` must have a choose(point) method, not NotAScheduler <not a scheduler>"
    )


def test_unknown_option_names_it_and_the_options() -> None:
    error = collected_quietly(lambda: simloop.SimLoop(bogus=1))
    assert isinstance(error, simloop.InvalidArgumentError)
    assert isinstance(error, TypeError)
    assert str(error).startswith("unknown loop option `bogus`; the options are seed, scheduler,")


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ("7", "`seed` must be an int, not str '7'"),
        (None, "`seed` must be an int, not NoneType None"),
        (True, "`seed` must be an int, not bool True"),
    ],
)
def test_random_walk_rejects_bad_seeds(seed: Any, message: str) -> None:
    assert str(invalid_argument(lambda: simloop.RandomWalk(seed))) == message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((5,), "`choices` must be an iterable of ints, not int 5"),
        (("012",), "`choices` must be a sequence of ints, not str '012'"),
        (({1, 0},), "`choices` must be a sequence of ints, not set {0, 1}"),
        (({0: 1},), "`choices` must be a sequence of ints, not dict {0: 1}"),
        (
            (itertools.repeat(0),),
            "`choices` must have at most 100,000,000 entries (is it endless?)",
        ),
        (([0, -1],), "`choices[1]` must be a non-negative int, not -1"),
        (([0, "1"],), "`choices[1]` must be a non-negative int, not '1'"),
        (([0, True],), "`choices[1]` must be a non-negative int, not True"),
        (([0, 1], 3), "`options` must be an iterable of ints, not int 3"),
        (([0, 1], [2, -3]), "`options[1]` must be a non-negative int, not -3"),
        (
            ([0, 1], [2]),
            "`options` must have one entry per choice: got 1 option count for 2 choices",
        ),
    ],
)
def test_replay_rejects_bad_schedules(args: tuple[Any, ...], message: str) -> None:
    assert str(invalid_argument(lambda: simloop.Replay(*args))) == message


async def nothing() -> None:
    pass


def test_run_rejects_a_coroutine_function() -> None:
    err = invalid_argument(lambda: simloop.run(nothing))  # type: ignore[arg-type]
    assert str(err) == f"`main` must be a coroutine, not function {nothing!r}"


def test_run_rejects_a_non_coroutine() -> None:
    err = invalid_argument(lambda: simloop.run(42))  # type: ignore[arg-type]
    assert str(err) == "`main` must be a coroutine, not int 42"


def test_run_rejects_bad_loop_options_and_closes_the_coroutine() -> None:
    coro = nothing()
    err = invalid_argument(lambda: simloop.run(coro, max_steps=0))
    assert str(err) == "`max_steps` must be a positive int or None, not 0"
    assert coro.cr_frame is None  # closed, so no "never awaited" warning


def test_run_rejects_a_bad_seed() -> None:
    coro = nothing()
    err = invalid_argument(lambda: simloop.run(coro, seed="x"))  # type: ignore[arg-type]
    assert str(err) == "`seed` must be an int or None, not str 'x'"


def test_loop_factory_checks_its_options_at_once() -> None:
    err = invalid_argument(lambda: simloop.loop_factory(timer_jitter=-1))
    assert str(err) == "`timer_jitter` must be a non-negative number of seconds, not -1"


@pytest.mark.parametrize(
    ("method", "value", "message"),
    [
        ("call_later", 1j, "`delay` must be a number of seconds, not complex 1j"),
        ("call_at", 1j, "`when` must be a number of seconds, not complex 1j"),
        ("call_at", "soon", "`when` must be a number of seconds, not str 'soon'"),
    ],
)
def test_timer_methods_reject_non_numbers(method: str, value: Any, message: str) -> None:
    loop = simloop.SimLoop()
    try:
        err = invalid_argument(lambda: getattr(loop, method)(value, print))
    finally:
        loop.close()
    assert str(err) == message


class Text(str):
    """A str that refuses to be repeated a billion times, as a machine with less memory would."""

    def __mul__(self, times: Any) -> Text:
        if times > 1000:
            raise MemoryError(f"repeating a string {times} times")
        return Text(str.__mul__(self, times))


def test_call_later_rejects_a_string_without_repeating_it() -> None:
    loop = simloop.SimLoop()
    try:
        err = invalid_argument(lambda: loop.call_later(Text("soon"), print))
    finally:
        loop.close()
    assert str(err) == "`delay` must be a number of seconds, not Text 'soon'"


@pytest.mark.parametrize(
    "options", [{"seed": "x"}, {"scheduler": "fifo"}, {"bogus": 1}, {"timer_jitter": -1}]
)
def test_rejected_loop_is_collected_quietly(options: dict[str, Any]) -> None:
    gc.collect()  # what earlier tests left behind is not this test's business
    unraisable: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        try:
            simloop.SimLoop(**options)
        except simloop.InvalidArgumentError as exc:
            exc.__traceback__ = None
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert [repr(u.exc_value) for u in unraisable] == []


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        (
            simloop.RandomWalk,
            "`scheduler` must be a scheduler object, not the class RandomWalk: pass an "
            "instance, e.g. simloop.RandomWalk(...)",
        ),
        (
            simloop.PCT,
            "`scheduler` must be a scheduler object, not the search class PCT: a search runs "
            "many schedules, so pass it to simloop.explore(main, search=PCT(...))",
        ),
        (
            simloop.Portfolio(),
            "`scheduler` must be a scheduler (it decides one run), not the search "
            "Portfolio(seed=0): pass the search to simloop.explore(main, search=...)",
        ),
    ],
)
def test_scheduler_must_be_a_scheduler_object(scheduler: Any, message: str) -> None:
    """A class or a search where a scheduler belongs was a TypeError deep inside, or ran
    silently when no choice came up."""
    assert str(invalid_argument(lambda: simloop.SimLoop(scheduler=scheduler))) == message
    with pytest.raises(simloop.InvalidArgumentError):
        simloop.run(asyncio.sleep(0), scheduler=scheduler)


def test_a_scheduler_with_the_old_signature_is_told_so() -> None:
    class Old:
        def choose(self, kind: str, n: int) -> int:
            return 0

    message = str(invalid_argument(lambda: simloop.SimLoop(scheduler=Old())))
    assert "has a choose(kind, n) method; schedulers now answer choose(point)" in message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shuffle": "x"}, "`shuffle` must be True or False, not str 'x'"),
        ({"patch_time": 1}, "`patch_time` must be True or False, not int 1"),
        (
            {"record_events": 0.5},
            "`record_events` must be True, False, or a positive int (how many of the latest "
            "steps to keep), not float 0.5",
        ),
        ({"start_time": True}, "`start_time` must be a number of seconds, not bool True"),
        ({"epoch": math.inf}, "`epoch` must be a finite number of seconds, not inf"),
        ({"max_time": "NaN"}, "`max_time` must be a number of seconds, not str 'NaN'"),
        (
            {"instruments": [object()]},
            "`instruments`: <object object at",
        ),
    ],
)
def test_options_are_checked_strictly(options: dict[str, Any], message: str) -> None:
    assert str(invalid_argument(lambda: simloop.SimLoop(**options))).startswith(message)


def test_a_decimal_nan_is_refused_like_a_float_nan() -> None:
    import decimal

    message = str(invalid_argument(lambda: simloop.SimLoop(timer_jitter=decimal.Decimal("NaN"))))
    assert message == "`timer_jitter` must be a number of seconds, not Decimal Decimal('NaN')"


def test_a_call_that_fails_before_init_runs_is_collected_quietly() -> None:
    """A positional argument fails in the call itself, before ``__init__``'s first line: the
    loop must still look closed to ``BaseEventLoop.__del__``."""
    error = collected_quietly(lambda: simloop.SimLoop(3))  # type: ignore[misc]
    assert type(error) is TypeError
    assert "positional argument" in str(error)


def test_collected_quietly_catches_a_complaint_from_del() -> None:
    """The helper above can fail: garbage that complains when collected is reported."""

    class Complains:
        def __del__(self) -> None:
            raise RuntimeError("collected noisily")

    def leaves_noisy_garbage() -> None:
        noisy = Complains()
        noisy.cycle = noisy  # type: ignore[attr-defined] - collected only by gc.collect()
        raise ValueError("bad argument")

    with pytest.raises(AssertionError, match="RuntimeError: collected noisily"):
        collected_quietly(leaves_noisy_garbage)
