"""Loop options, fed hostile values through every entry point that takes them."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import pytest
from fuzz_support import (
    Contract,
    fuzz,
    is_bool,
    is_finite_seconds,
    is_int,
    is_real,
    two_steps,
    values,
)
from hypothesis import given
from hypothesis import strategies as st

import simloop
from simloop import lowlevel


def _optional_positive_int(value: Any) -> bool:
    return value is None or (is_int(value) and value >= 1)


def _max_time(value: Any) -> bool:
    return value is None or (is_real(value) and value >= 0)


def _jitter(value: Any) -> bool:
    return is_finite_seconds(value) and value >= 0


def _optional_bool(value: Any) -> bool:
    return value is None or is_bool(value)


def _record_events(value: Any) -> bool:
    return is_bool(value) or (is_int(value) and value >= 1)


#: Each option with the model of its valid values and a strategy of valid ones.
OPTIONS: dict[str, tuple[Callable[[Any], bool], st.SearchStrategy[Any]]] = {
    "seed": (lambda v: v is None or is_int(v), st.one_of(st.none(), st.integers())),
    "start_time": (is_finite_seconds, st.floats(-1e6, 1e6)),
    "max_steps": (_optional_positive_int, st.one_of(st.none(), st.integers(1, 10**6))),
    "max_time": (_max_time, st.one_of(st.none(), st.floats(0, 1e9))),
    "timer_jitter": (_jitter, st.floats(0, 10)),
    "sleep_jitter": (_jitter, st.floats(0, 10)),
    "shuffle": (is_bool, st.booleans()),
    "record_events": (_record_events, st.one_of(st.booleans(), st.integers(1, 100))),
    "patch_time": (is_bool, st.booleans()),
    "patch_random": (is_bool, st.booleans()),
    "forbid_escapes": (is_bool, st.booleans()),
    "fail_on_unhandled": (_optional_bool, st.one_of(st.none(), st.booleans())),
    "warn": (_optional_bool, st.one_of(st.none(), st.booleans())),
    "track_locks": (is_bool, st.booleans()),
    "epoch": (is_finite_seconds, st.floats(-1e9, 1e9)),
}


def test_every_option_is_fuzzed() -> None:
    assert set(OPTIONS) | {"scheduler", "instruments"} == set(lowlevel.LOOP_OPTION_DEFAULTS)


LIMITS = (simloop.StepLimitError, simloop.TimeLimitError)


def finishes(run: Callable[[], Any]) -> Any:
    """``run()``'s result; a run stopped by a limit it was given is correct too."""
    try:
        return run()
    except LIMITS:
        return "done"


def option_values(name: str) -> st.SearchStrategy[Any]:
    return values(OPTIONS[name][1])


def same_value(given: Any, stored: Any) -> bool:
    if isinstance(given, float) and math.isnan(given):
        return False
    return bool(stored == given)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_simloop(contract: Contract, name: str) -> None:
    model = OPTIONS[name][0]

    @fuzz(40)
    @given(value=option_values(name))
    def check(value: Any) -> None:
        def effect(loop: simloop.SimLoop) -> None:
            try:
                assert same_value(value, getattr(loop.options, name)), getattr(loop.options, name)
                if name == "start_time":
                    assert abs(loop.time() - float(value)) <= 1e-9 * max(1.0, abs(float(value)))
                try:
                    loop.run_until_complete(two_steps())
                except LIMITS:
                    lowlevel.abandon(loop)  # a limit it was given: what is left stays so
            finally:
                loop.close()

        contract.check(
            f"SimLoop({name}=)",
            lambda: simloop.SimLoop(**{name: value}),
            valid=model(value),
            argument=name,
            value=value,
            effect=effect,
        )
        contract.check(
            f"LoopOptions.build({name}=)",
            lambda: lowlevel.LoopOptions.build(**{name: value}),
            valid=model(value),
            argument=name,
            value=value,
        )

    check()


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_run_explore_replay(contract: Contract, name: str) -> None:
    model = OPTIONS[name][0]

    @fuzz(15)
    @given(value=option_values(name))
    def check(value: Any) -> None:
        valid = model(value)
        main = two_steps()
        try:
            contract.check(
                f"run({name}=)",
                lambda: finishes(lambda: simloop.run(main, **{name: value})),
                valid=valid,
                argument=name,
                value=value,
                effect=lambda result: _equal(result, "done"),
            )
        finally:
            main.close()  # refused before it ran: closed by run() already, or here
        if name == "record_events":
            # explore() refuses it by design: its runs record the schedule only.
            contract.check(
                "explore(record_events=)",
                lambda: simloop.explore(two_steps, runs=2, record_events=value),
                valid=False,
                argument=name,
                value=value,
            )
            return
        contract.check(
            f"explore({name}=)",
            lambda: simloop.explore(two_steps, runs=2, **{name: value}),
            valid=valid,
            argument=name,
            value=value,
            effect=lambda result: _explored(result, 2),
        )

    check()


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_loop_factory_and_simulated(contract: Contract, name: str) -> None:
    model = OPTIONS[name][0]

    @fuzz(15)
    @given(value=option_values(name))
    def check(value: Any) -> None:
        # With a step limit this low, asyncio.Runner's own cleanup hits it too and leaves the
        # program's tasks unfinished, as stock asyncio would with a cleanup that fails: the
        # options are checked, the program is not run.
        runs = not (name == "max_steps" and is_int(value) and value < 100)

        def run_with_factory(factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
            if not runs:
                return
            with asyncio.Runner(loop_factory=factory) as runner:
                assert finishes(lambda: runner.run(two_steps())) == "done"

        contract.check(
            f"loop_factory({name}=)",
            lambda: simloop.loop_factory(**{name: value}),
            valid=model(value),
            argument=name,
            value=value,
            effect=run_with_factory,
        )

        def simulated() -> None:
            with simloop.simulated(**{name: value}):
                if runs:
                    assert finishes(lambda: asyncio.run(two_steps())) == "done"

        contract.check(
            f"simulated({name}=)",
            simulated,
            valid=model(value),
            argument=name,
            value=value,
        )

    check()


def _equal(got: Any, expected: Any) -> None:
    assert got == expected, got


def _explored(result: simloop.ExplorationResult, runs: int) -> None:
    """Two passing schedules, or a failure from a limit the options set."""
    if result.found:
        assert result.failure is not None
        assert result.failure.kind in ("step limit", "time limit"), result.failure.summary()
        assert result.nondeterminism is None, result.nondeterminism
    else:
        assert result.runs == runs
