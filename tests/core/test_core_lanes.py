"""Ready lanes: the plain implementation against a model, and the loop's inlined hot path
against the plain implementation.

``ReadyLanes`` is checked against the obvious model (a list of lanes, each a list of
callbacks, in the order they were opened: option 0 is the head of the oldest lane). Then the
loop's hot path, which inlines ``take`` and ``add_lane`` for speed, must make exactly the runs
the observed path makes (any attached instrument switches the loop to it, and it uses
``ReadyLanes`` itself), for generated programs, under random and replayed schedules.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import simloop
from simloop._lanes import LaneHandle, ReadyLanes


def _label(handle: Any) -> int:
    return int(handle._args[0])


class Model:
    """Lanes as a list of lists, oldest first."""

    def __init__(self, shuffle: bool) -> None:
        self.shuffle = shuffle
        self.lanes: list[list[int]] = []

    def add_lane(self, labels: list[int]) -> None:
        if self.shuffle:
            self.lanes += [[label] for label in labels]
        else:
            self.lanes.append(list(labels))

    def stock(self) -> int:
        return self.lanes[0][0]

    def options(self) -> set[int]:
        return {lane[0] for lane in self.lanes}

    def take(self, label: int) -> None:
        for lane in self.lanes:
            if lane[0] == label:
                lane.pop(0)
                if not lane:
                    self.lanes.remove(lane)
                return
        raise AssertionError(f"{label} is no lane's first")

    def all(self) -> list[int]:
        return sorted(label for lane in self.lanes for label in lane)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 4)),
        st.tuples(st.just("take"), st.integers(0, 1000)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops=operations, shuffle=st.booleans())
def test_ready_lanes_agree_with_the_model(ops: list[tuple[str, int]], shuffle: bool) -> None:
    loop = asyncio.new_event_loop()
    try:
        lanes = ReadyLanes(shuffle=shuffle)
        model = Model(shuffle)
        counter = 0
        taken = 0
        for op, value in ops:
            if op == "add":
                handles = []
                for _ in range(value):
                    handle = LaneHandle(lambda: None, (counter,), loop, None)
                    handles.append(handle)
                    counter += 1
                lanes.add_lane(handles)
                model.add_lane([_label(h) for h in handles])
            elif model.lanes:
                options = lanes.option_handles()
                assert len(options) == len(lanes.active) == len(model.lanes)
                assert {_label(h) for h in options} == model.options()
                assert _label(options[0]) == _label(lanes.stock()) == model.stock()
                choice = value % len(options)
                handle = lanes.take(choice)
                assert handle is options[choice]
                model.take(_label(handle))
                taken += 1
            assert sorted(_label(h) for h in lanes) == model.all()
            assert lanes.queued - taken == len(model.all())
    finally:
        loop.close()


# --- the hot path makes the same runs as the observed path ----------------------------------


class _Nothing(simloop.Instrument):
    """Attached only to put the loop on its observed path."""


def program(shape: list[list[int]]) -> Any:
    """Tasks that yield, schedule callbacks (some scheduling more), sleep and set an event."""

    async def main() -> list[str]:
        log: list[str] = []
        loop = asyncio.get_running_loop()
        event = asyncio.Event()

        def callback(name: str, depth: int) -> None:
            log.append(name)
            if depth:
                loop.call_soon(callback, name + "+", depth - 1)
                loop.call_soon(callback, name + "*", 0)

        async def worker(index: int, ops: list[int]) -> None:
            for step, op in enumerate(ops):
                name = f"{index}.{step}"
                log.append(name)
                if op == 0:
                    await asyncio.sleep(0)
                elif op == 1:
                    loop.call_soon(callback, name, 2)
                    await asyncio.sleep(0)
                elif op == 2:
                    await asyncio.sleep(0.001 * (index % 2))
                elif op == 3:
                    event.set()
                else:
                    await asyncio.wait_for(event.wait(), 0.01) if event.is_set() else None
            log.append(f"{index}.done")

        await asyncio.gather(*(worker(i, ops) for i, ops in enumerate(shape)))
        return log

    return main


shapes = st.lists(st.lists(st.integers(0, 4), max_size=6), min_size=1, max_size=5)


def _run(main: Any, observed: bool, **options: Any) -> tuple[list[str], simloop.Trace]:
    instruments = [_Nothing()] if observed else []
    loop = simloop.SimLoop(instruments=instruments, **options)
    try:
        log = loop.run_until_complete(main())
        return log, loop.trace
    finally:
        loop.close()


class _Choosy:
    """Random answers through choose() (not the inline uniform draw)."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def choose(self, point: simloop.lowlevel.ChoicePoint) -> int:
        return self._random.randrange(point.n)


@settings(max_examples=150, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**32), shuffle=st.booleans())
def test_the_hot_path_makes_the_runs_the_plain_lanes_make(
    shape: list[list[int]], seed: int, shuffle: bool
) -> None:
    main = program(shape)
    for make in (lambda: simloop.RandomWalk(seed), lambda: _Choosy(seed)):
        hot, hot_trace = _run(main, False, scheduler=make(), shuffle=shuffle)
        plain, plain_trace = _run(main, True, scheduler=make(), shuffle=shuffle)
        assert hot == plain
        assert hot_trace.choices == plain_trace.choices
        assert hot_trace.options == plain_trace.options
        assert hot_trace.steps == plain_trace.steps
    # And the Fifo hot path, stock asyncio's order.
    assert _run(main, False)[0] == _run(main, True)[0]
