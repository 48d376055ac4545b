"""A kind of choice defined here, in test code: every part of simloop handles it unchanged.

A fake channel whose messages are delivered, delayed or dropped, each fate a ``"test.fate"``
choice point (option 0: delivered at once). The program fails only when message 2 is dropped.
Random walks, PCT, exhaustive search, Hypothesis schedules, shrinking, replay and the failure
report all work with it, with no change to simloop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis_simloop import schedules

import simloop
from simloop import lowlevel

FATES = ("delivered", "delayed 5 ms", "dropped")


def fate_of(message: int) -> str:
    point = lowlevel.ChoicePoint(
        "test.fate",
        3,
        subject=f"message {message}",
        labels=[f"message {message} {fate}" for fate in FATES],
    )
    return FATES[lowlevel.choose(point)]


async def send(inbox: list[int], message: int) -> None:
    fate = fate_of(message)
    if fate == "dropped":
        return
    if fate.startswith("delayed"):
        await asyncio.sleep(0.005)
    inbox.append(message)


async def main() -> None:
    inbox: list[int] = []
    for message in range(4):
        await send(inbox, message)
        await asyncio.sleep(0.001)
    # The bug: everything but message 2 has a retry.
    assert 2 in inbox, f"message 2 never arrived: inbox {inbox}"


def fails(**options: Any) -> bool:
    try:
        simloop.run(main(), **options)
    except AssertionError:
        return True
    return False


def test_random_walks_make_the_choices() -> None:
    failing = [seed for seed in range(30) if fails(seed=seed)]
    assert 0 < len(failing) < 30
    loop = simloop.SimLoop(seed=failing[0])
    try:
        with pytest.raises(AssertionError):
            loop.run_until_complete(main())
        trace = loop.trace
    finally:
        loop.close()
    assert trace.kinds is not None
    assert trace.kinds == ["test.fate"] * 4
    assert trace.options == [3, 3, 3, 3]
    assert trace.choices[2] == 2


def test_stock_order_delivers_everything() -> None:
    assert not fails()


@pytest.mark.parametrize(
    "search",
    [simloop.RandomSearch(), simloop.PCT(1), simloop.PCT(3), simloop.Portfolio(), "random"],
    ids=repr,
)
def test_every_search_finds_the_drop_and_shrinks_it(search: Any) -> None:
    result = simloop.explore(main, runs=200, search=search)
    assert result.found
    recording = result.recording
    assert recording is not None
    assert recording.deviations == 1
    deviating = [
        (kind, choice)
        for kind, choice in zip(recording.kinds or [], recording.choices, strict=True)
        if choice
    ]
    assert deviating == [("test.fate", 2)]


def test_exhaustive_search_proves_one_deviation_is_enough_and_none_is_not() -> None:
    assert simloop.explore(main, search=simloop.Exhaustive(0)).proof is not None
    result = simloop.explore(main, search=simloop.Exhaustive(1))
    assert result.found
    assert result.recording is not None
    assert result.recording.choices == [0, 0, 2, 0]
    # Every schedule with one deviation before it: 2 per message, for messages 0 and 1.
    assert result.runs == 1 + 2 + 2 + 2


def test_replay_remakes_the_choices_and_checks_their_kind() -> None:
    result = simloop.explore(main, runs=100)
    assert result.recording is not None
    token = result.recording.token
    again = simloop.replay(main, token)
    assert again.failure is not None
    assert again.failure.signature == result.failure.signature  # type: ignore[union-attr]

    async def other_kind() -> None:
        point = lowlevel.ChoicePoint("test.other", 3, labels=["a", "b", "c"])
        lowlevel.choose(point)
        await main()

    diverged = simloop.replay(other_kind, token)
    assert diverged.failure is not None
    assert diverged.failure.kind == "divergence"
    assert "the recording chose option 0 of 3 at a 'test.fate' choice, but this run makes a " in (
        str(diverged.failure.exception)
    )
    assert "'test.other' choice with 3 options there (where option 0 would mean: a)" in (
        str(diverged.failure.exception)
    )


def test_the_report_says_what_the_option_meant() -> None:
    result = simloop.explore(main, runs=100)
    report = lowlevel.format_failure(result)
    assert "<- message 2 dropped" in report
    assert "needs 1 deviation from asyncio's order" in report


def test_an_instrument_hears_the_point() -> None:
    heard: list[tuple[str, int, int, str]] = []

    class Listener(simloop.Instrument):
        def choice_made(
            self, loop: simloop.SimLoop, point: lowlevel.ChoicePoint, choice: int
        ) -> None:
            if point.kind == "test.fate":
                heard.append((point.kind, point.n, choice, point.describe(choice)))

    simloop.run(main(), scheduler=simloop.Replay([0, 1, 0, 0]), instruments=[Listener()])
    assert heard == [
        ("test.fate", 3, 0, "message 0 delivered"),
        ("test.fate", 3, 1, "message 1 delayed 5 ms"),
        ("test.fate", 3, 0, "message 2 delivered"),
        ("test.fate", 3, 0, "message 3 delivered"),
    ]


@settings(
    max_examples=300,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(schedule=schedules())
def check_with_hypothesis(schedule: Any) -> None:
    simloop.run(main(), scheduler=schedule)


def test_hypothesis_schedules_find_and_shrink_it() -> None:
    with pytest.raises(AssertionError) as info:
        check_with_hypothesis()
    # Hypothesis shrinks the schedule to the one drop (its note shows the choices).
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "1 deviation from asyncio's order, choices [0, 0, 2]" in notes
