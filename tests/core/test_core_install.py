"""simulated() and loop_factory(): SimLoop for programs that make their own loops."""

from __future__ import annotations

import asyncio
import sys
import warnings

import pytest
from core_support import invalid_argument, wall_clock

import simloop


async def describe_loop() -> tuple[str, float, int | None, str]:
    await asyncio.sleep(100)
    loop = asyncio.get_running_loop()
    assert isinstance(loop, simloop.SimLoop)
    return type(loop).__name__, loop.time(), loop.seed, repr(loop.scheduler)


def get_policy() -> asyncio.AbstractEventLoopPolicy:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # policies are deprecated in 3.14
        return asyncio.get_event_loop_policy()


def test_simulated_makes_asyncio_run_use_simloop() -> None:
    before = get_policy()
    started = wall_clock()
    with simloop.simulated(seed=2):
        assert asyncio.run(describe_loop()) == ("SimLoop", 100.0, 2, "RandomWalk(seed=2)")
    assert wall_clock() - started < 0.5
    assert get_policy() is before


def test_simulated_makes_new_event_loop_a_simloop() -> None:
    with simloop.simulated(start_time=5):
        loop = asyncio.new_event_loop()
        try:
            assert isinstance(loop, simloop.SimLoop)
            assert loop.time() == 5.0
        finally:
            loop.close()
    other = asyncio.new_event_loop()
    try:
        assert not isinstance(other, simloop.SimLoop)
    finally:
        other.close()


def test_simulated_makes_get_event_loop_a_simloop_and_closes_it() -> None:
    before = get_policy()
    with simloop.simulated():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # implicit loop creation
            loop = asyncio.get_event_loop()
        assert isinstance(loop, simloop.SimLoop)
        assert loop.run_until_complete(asyncio.sleep(7, result="slept")) == "slept"
        assert loop.time() == 7.0
    assert loop.is_closed()  # the loop the program left behind is closed on exit
    assert get_policy() is before


def test_simulated_restores_the_policy_after_an_exception() -> None:
    before = get_policy()

    def fail_inside() -> None:
        with simloop.simulated():
            asyncio.run(asyncio.sleep(0))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fail_inside()
    assert get_policy() is before


def test_simulated_checks_its_options_at_once() -> None:
    before = get_policy()

    def enter() -> None:
        with simloop.simulated(max_steps=0):
            pass

    err = invalid_argument(enter)
    assert str(err) == "`max_steps` must be a positive int or None, not 0"
    assert get_policy() is before


def test_loop_factory_with_runner() -> None:
    factory = simloop.loop_factory(seed=3)
    with asyncio.Runner(loop_factory=factory) as runner:
        assert runner.run(describe_loop()) == ("SimLoop", 100.0, 3, "RandomWalk(seed=3)")
        # The same loop runs the next coroutine: its clock goes on.
        assert runner.run(describe_loop())[1] == 200.0
        assert isinstance(runner.get_loop(), simloop.SimLoop)


def test_loop_factory_makes_a_fresh_loop_each_time() -> None:
    factory = simloop.loop_factory(seed=3, start_time=1)
    first, second = factory(), factory()
    try:
        assert first is not second
        assert first.seed == second.seed == 3
        assert first.time() == second.time() == 1.0
    finally:
        first.close()
        second.close()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is 3.12+")
def test_loop_factory_with_asyncio_run() -> None:
    result = asyncio.run(describe_loop(), loop_factory=simloop.loop_factory())  # type: ignore[call-arg]
    assert result == ("SimLoop", 100.0, None, "Fifo()")
