"""``simloop.lowlevel``, the extension surface, fed hostile values: every function, each
argument in turn (the others valid)."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from fuzz_support import (
    Contract,
    close_if_coroutine,
    fuzz,
    is_bool,
    is_int,
    is_real,
    two_steps,
    values,
)
from hypothesis import given
from hypothesis import strategies as st

import simloop
from simloop import _stdlib, lowlevel


def run_inside(body: Callable[[], Any]) -> Any:
    """``body()`` inside a simulated run (a step of its main task); its result."""

    async def main() -> Any:
        result = body()
        await asyncio.sleep(0)
        return result

    return simloop.run(main(), seed=1)


def _is_weights(value: Any, n: int) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == n
        and all(is_real(w) and not isinstance(w, bool) and 0 <= w < math.inf for w in value)
        and isinstance(value, (list, tuple))
        and all(isinstance(w, (int, float)) for w in value)
        and 0 < sum(value) < math.inf
    )


def _is_labels(value: Any, n: int) -> bool:
    if value is None or callable(value):
        return True
    return isinstance(value, (list, tuple)) and len(value) == n


def _failed_program() -> simloop.ExplorationResult:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("fails")

    return simloop.explore(fails, runs=1)


def _recording() -> simloop.Trace:
    loop = simloop.SimLoop(seed=2)
    try:
        loop.run_until_complete(two_steps())
        return loop.trace
    finally:
        loop.close()


def _program() -> lowlevel.AsyncProgram:
    return lowlevel.AsyncProgram(two_steps, lowlevel.LoopOptions())


class Choose1:
    def choose(self, point: lowlevel.ChoicePoint) -> int:
        return 1


@attrs.frozen
class Entry:
    """An entry point and one of its arguments: ``call(value)`` calls it with ``value`` for
    that argument; ``model(value)`` says whether it is valid (None: no model)."""

    argument: str
    call: Callable[[Any], Any]
    model: Callable[[Any], bool | None]
    valid: st.SearchStrategy[Any] = attrs.field(factory=st.nothing)


ENTRIES: dict[str, Entry] = {
    # --- choices ---
    "ChoicePoint(kind=)": Entry(
        "kind",
        lambda v: lowlevel.ChoicePoint(v, 2),
        lambda v: isinstance(v, str) and v != "",
        st.text(),
    ),
    "ChoicePoint(n=)": Entry(
        "n",
        lambda v: lowlevel.ChoicePoint("x", v),
        lambda v: is_int(v) and v >= 2,
        st.integers(-2, 10**6),
    ),
    "ChoicePoint(labels=)": Entry(
        "labels",
        lambda v: lowlevel.ChoicePoint("x", 2, labels=v),
        lambda v: _is_labels(v, 2),
        st.lists(st.text(), min_size=2, max_size=2),
    ),
    "ChoicePoint(weights=)": Entry(
        "weights",
        lambda v: lowlevel.ChoicePoint("x", 2, weights=v),
        lambda v: v is None or _is_weights(v, 2),
        st.lists(st.floats(0, 1e300), min_size=2, max_size=2),
    ),
    "choose(point=)": Entry(
        "point",
        lambda v: run_inside(lambda: lowlevel.choose(v)),
        lambda v: False,
    ),
    "weighted_option(draw=)": Entry(
        "draw",
        lambda v: lowlevel.weighted_option(v, [1, 2]),
        lambda v: is_real(v) and isinstance(v, (int, float)) and 0 <= v < 1,
        st.floats(0, 1, exclude_max=True),
    ),
    "weighted_option(weights=)": Entry(
        "weights",
        lambda v: lowlevel.weighted_option(0.5, v),
        lambda v: isinstance(v, (list, tuple)) and _is_weights(v, len(v)) and len(v) > 0,
        st.lists(st.floats(0, 10), min_size=1, max_size=3),
    ),
    # --- schedulers and searches ---
    "check_scheduler(scheduler=)": Entry(
        "scheduler",
        lowlevel.check_scheduler,
        lambda v: isinstance(v, (simloop.Fifo, simloop.RandomWalk, Choose1)),
        st.sampled_from([simloop.Fifo(), simloop.RandomWalk(1), Choose1()]),
    ),
    "set_scheduler(scheduler=)": Entry(
        "scheduler",
        lambda v: _set_scheduler(v),
        lambda v: isinstance(v, (simloop.Fifo, simloop.RandomWalk, Choose1)),
        st.sampled_from([simloop.Fifo(), simloop.RandomWalk(1), Choose1()]),
    ),
    "set_scheduler(loop=)": Entry(
        "loop",
        lambda v: lowlevel.set_scheduler(v, simloop.Fifo()),
        lambda v: False,
    ),
    "make_search(spec=)": Entry(
        "spec",
        lambda v: lowlevel.make_search(v),
        lambda v: None,  # a name, a search, or a callable taking a seed: too many to model
        st.sampled_from(["pct:2", "random", simloop.PCT(2)]),
    ),
    "make_search(seed=)": Entry(
        "seed",
        lambda v: lowlevel.make_search("pct", seed=v),
        lambda v: v is None or is_int(v),
        st.integers(),
    ),
    "parse_search_name(spec=)": Entry(
        "spec",
        lowlevel.parse_search_name,
        lambda v: None,
        st.sampled_from(["pct:2", "random", "exhaustive:3"]),
    ),
    "register_search(name=)": Entry(
        "name",
        lambda v: _register(name=v),
        lambda v: isinstance(v, str) and v.isidentifier() and v == v.lower(),
        st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
    ),
    "register_search(factory=)": Entry(
        "factory", lambda v: _register(factory=v), lambda v: callable(v)
    ),
    "register_search(summary=)": Entry(
        "summary", lambda v: _register(summary=v), lambda v: isinstance(v, str), st.text()
    ),
    "register_search(parameter=)": Entry(
        "parameter",
        lambda v: _register(parameter=v),
        lambda v: v is None or isinstance(v, str),
        st.text(),
    ),
    "register_search(minimum=)": Entry(
        "minimum", lambda v: _register(minimum=v), is_int, st.integers()
    ),
    # --- time ---
    "seconds_to_ns(seconds=)": Entry(
        "seconds",
        lambda v: lowlevel.seconds_to_ns(v, name="seconds"),
        # A bool is the int it is here, as in asyncio.sleep(True); options refuse bools.
        lambda v: is_real(v) or isinstance(v, bool),
        st.floats(allow_nan=False),
    ),
    "format_seconds(ns=)": Entry("ns", lowlevel.format_seconds, is_int, st.integers()),
    "call_at_ns(when_ns=)": Entry(
        "when_ns",
        lambda v: run_inside(lambda: lowlevel.call_at_ns(v, _nothing).cancel()),
        is_int,
        st.integers(),
    ),
    "call_later_ns(delay_ns=)": Entry(
        "delay_ns",
        lambda v: run_inside(lambda: lowlevel.call_later_ns(v, _nothing).cancel()),
        lambda v: is_int(v) and v >= 0,
        st.integers(),
    ),
    "now_ns(loop=)": Entry("loop", lambda v: lowlevel.now_ns(loop=v), lambda v: False),
    # --- observing and failing ---
    "fail(exc=)": Entry(
        "exc",
        lambda v: run_inside(lambda: lowlevel.fail(v)),
        lambda v: False,  # valid exceptions fail the run: not drawn
    ),
    "record_mark(label=)": Entry(
        "label",
        lambda v: run_inside(lambda: lowlevel.record_mark(v, True)),
        lambda v: isinstance(v, str),
        st.text(),
    ),
    "describe_tasks(loop=)": Entry(
        "loop", lambda v: lowlevel.describe_tasks(loop=v), lambda v: False
    ),
    "main_task(loop=)": Entry("loop", lambda v: lowlevel.main_task(loop=v), lambda v: False),
    "idle_now(loop=)": Entry("loop", lambda v: lowlevel.idle_now(loop=v), lambda v: False),
    "ready_handles(loop=)": Entry(
        "loop", lambda v: lowlevel.ready_handles(loop=v), lambda v: False
    ),
    "task_label(task=)": Entry("task", lowlevel.task_label, lambda v: False),
    "handle_label(handle=)": Entry("handle", lowlevel.handle_label, lambda v: False),
    "timer_label(timer=)": Entry("timer", lowlevel.timer_label, lambda v: False),
    "callback_label(callback=)": Entry("callback", lowlevel.callback_label, lambda v: True),
    "suspension_point(task=)": Entry("task", lowlevel.suspension_point, lambda v: False),
    "task_of(handle=)": Entry("handle", lowlevel.task_of, lambda v: False),
    "task_woken_by(timer=)": Entry("timer", lowlevel.task_woken_by, lambda v: None),
    "describe(value=)": Entry("value", lowlevel.describe, lambda v: True),
    "is_library_frame(frame=)": Entry("frame", lowlevel.is_library_frame, lambda v: False),
    "add_library_dir(path=)": Entry(
        "path",
        lambda v: _add_library_dir(v),
        lambda v: isinstance(v, str) and "\0" not in v,
        st.text().filter(lambda t: "\0" not in t),
    ),
    # --- options ---
    "LoopOptions.build(options=)": Entry(
        "options",
        lambda v: lowlevel.LoopOptions.build(v, seed=1),
        lambda v: v is None or isinstance(v, lowlevel.LoopOptions),
        st.just(lowlevel.LoopOptions()),
    ),
    "option_doc(name=)": Entry(
        "name",
        lowlevel.option_doc,
        lambda v: v in lowlevel.LOOP_OPTION_DEFAULTS if isinstance(v, str) else False,
        st.sampled_from(sorted(lowlevel.LOOP_OPTION_DEFAULTS)),
    ),
    # --- programs and runs ---
    "AsyncProgram(main=)": Entry(
        "main",
        lambda v: lowlevel.AsyncProgram(v, lowlevel.LoopOptions()),
        lambda v: None if callable(v) else False,
    ),
    "AsyncProgram(options=)": Entry(
        "options",
        lambda v: lowlevel.AsyncProgram(two_steps, v),
        lambda v: isinstance(v, lowlevel.LoopOptions),
        st.just(lowlevel.LoopOptions()),
    ),
    "explore_program(program=)": Entry(
        "program",
        lambda v: lowlevel.explore_program(
            v, runs=1, search=simloop.RandomSearch(), shrink=False, shrink_budget=0
        ),
        lambda v: False,
    ),
    "explore_program(first_runs=)": Entry(
        "first_runs",
        lambda v: lowlevel.explore_program(
            _program(),
            runs=1,
            search=simloop.RandomSearch(),
            shrink=False,
            shrink_budget=0,
            first_runs=v,
        ),
        lambda v: isinstance(v, tuple) and all(isinstance(t, simloop.Trace) for t in v),
        st.just(()),
    ),
    "replay_program(schedule=)": Entry(
        "schedule",
        lambda v: lowlevel.replay_program(_program(), v, record_events=False),
        lambda v: False,
    ),
    "run_coroutine(loop=)": Entry(
        "loop",
        lambda v: _run_coroutine(v, two_steps(), None),
        lambda v: False,
    ),
    "run_coroutine(coro=)": Entry(
        "coro",
        lambda v: _run_coroutine(simloop.SimLoop(), v, None),
        lambda v: False,
    ),
    "run_coroutine(name=)": Entry(
        "name",
        lambda v: _run_coroutine(simloop.SimLoop(), two_steps(), v),
        lambda v: v is None or isinstance(v, str),
        st.text(),
    ),
    "make_failure(exc=)": Entry(
        "exc",
        lambda v: lowlevel.make_failure(v, 1, 1),
        lambda v: isinstance(v, BaseException),
    ),
    "make_failure(step=)": Entry(
        "step", lambda v: lowlevel.make_failure(ValueError(), v, 1), is_int, st.integers()
    ),
    "format_failure(result=)": Entry(
        "result",
        lowlevel.format_failure,
        lambda v: False,
    ),
    "shut_down(loop=)": Entry("loop", lowlevel.shut_down, lambda v: False),
    "abandon(loop=)": Entry("loop", lowlevel.abandon, lambda v: False),
}


def _nothing() -> None:
    pass


def _set_scheduler(scheduler: Any) -> None:
    loop = simloop.SimLoop(scheduler=simloop.Replay([], strict=False))
    try:
        lowlevel.set_scheduler(loop, scheduler)
        loop.run_until_complete(two_steps())
    finally:
        lowlevel.abandon(loop)
        loop.close()


def _register(**changes: Any) -> None:
    arguments: dict[str, Any] = {
        "name": "fuzzed",
        "factory": lambda _: simloop.RandomSearch(),
        "summary": "a search the fuzz suite made",
        "parameter": None,
        "minimum": 0,
    }
    arguments.update(changes)
    name = arguments.pop("name")
    known = dict(lowlevel.SEARCHES)
    try:
        lowlevel.register_search(name, **arguments)
        assert lowlevel.SEARCHES[name].summary == arguments["summary"]
    finally:
        # Registering is what it is for; the registry is put back for the next example.
        lowlevel.SEARCHES.clear()
        lowlevel.SEARCHES.update(known)


def _add_library_dir(path: Any) -> None:
    known = list(_stdlib.LIBRARY_DIRS)
    try:
        lowlevel.add_library_dir(path)
        assert os.path.join(os.path.abspath(path), "") in _stdlib.LIBRARY_DIRS
    finally:
        _stdlib.LIBRARY_DIRS[:] = known


def _run_coroutine(loop: Any, coro: Any, name: Any) -> Any:
    try:
        return lowlevel.run_coroutine(loop, coro, name=name)
    finally:
        close_if_coroutine(coro)
        if isinstance(loop, simloop.SimLoop) and not loop.is_closed():
            loop.close()


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_lowlevel(contract: Contract, entry: str) -> None:
    spec = ENTRIES[entry]

    @fuzz(30)
    @given(value=values(spec.valid))
    def check(value: Any) -> None:
        contract.check(
            entry,
            lambda: spec.call(value),
            valid=spec.model(value),
            argument=spec.argument,
            value=value,
        )

    check()


def test_valid_values_for_the_rest() -> None:
    """Entries whose valid values are not drawn above work with one."""
    assert lowlevel.format_failure(_failed_program()).startswith("simloop: failed")
    assert lowlevel.replay_program(_program(), _recording(), record_events=False).failure is None
    observed = run_inside(
        lambda: (
            is_bool(lowlevel.idle_now()),
            len(lowlevel.describe_tasks()) >= 1,
            lowlevel.main_task() is not None,
        )
    )
    assert observed == (True, True, True)
