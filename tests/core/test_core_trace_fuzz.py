"""Trace files from hostile or broken sources: every one loads into a trace that works, or is
refused with one TraceFormatError, quickly (Hypothesis generates the damage)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from core_support import wall_clock
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import simloop
from simloop import Trace, TraceFormatError


async def workers() -> None:
    counter = {"n": 0}
    simloop.watch("n", lambda: counter["n"])

    async def work(i: int) -> None:
        await asyncio.sleep(i / 10)
        counter["n"] += 1

    await asyncio.gather(*(work(i) for i in range(3)))
    task = asyncio.create_task(asyncio.sleep(5))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def recorded() -> Trace:
    result = simloop.replay(workers, Trace(
        choices=[], options=[], steps=0, start_time_ns=0, end_time_ns=0, seed=3,
        scheduler="Fifo()").token)  # fmt: skip
    return result.trace


TRACE = recorded()
DATA = TRACE.to_json()


def test_events_round_trip_with_every_field() -> None:
    loaded = Trace.from_json(json.loads(json.dumps(DATA)))
    assert loaded == TRACE
    assert loaded.events is not None
    assert any(step.watched for step in loaded.events)
    cancelled = [s for s in loaded.events if s.ended == "cancelled"]
    assert len(cancelled) == 1
    assert "delivered" in cancelled[0].cancellations
    requested = [
        s for s in loaded.events if any(c.startswith("requested") for c in s.cancellations)
    ]
    assert len(requested) == 1


def test_a_version_2_file_with_events_still_loads_with_the_same_fingerprint() -> None:
    old = dict(DATA)
    old["version"] = 2
    old.pop("program")
    old["event_fields"] = old["event_fields"][:12]
    old["events"] = [row[:12] for row in old["events"]]
    loaded = Trace.from_json(old)
    assert loaded.fingerprint() == TRACE.fingerprint()
    assert loaded.events is not None
    assert loaded.events[0].ended is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"settings": {"timer_jitter": -0.5}}, "the field 'settings' is invalid"),
        ({"steps": -1}, "the field 'steps' must be a non-negative int, not -1"),
        ({"end_time_ns": 0, "start_time_ns": 5}, "the run ends at 0ns, before it starts (5ns)"),
        ({"seed": 10**40}, "the field 'seed' is out of range"),
        ({"outcome": {"summary": ["x"]}}, "the field 'outcome' has a bad value for 'summary'"),
        ({"marks": {"m": "yes"}}, "the field 'marks' has a bad value for 'm'"),
        ({"program": {"kind": "shell", "target": "rm"}}, "the field 'program' must say its kind"),
    ],
)
def test_bad_values_are_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    data = {**DATA, **change}
    data.pop("fingerprint")
    with pytest.raises(TraceFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Trace.from_json(data)


def test_a_version_1_file_with_negative_jitter_is_refused() -> None:
    data = {
        "format": "simloop-trace", "version": 1, "choices": [], "options": [], "steps": 0,
        "start_time_ns": 0, "end_time_ns": 0, "seed": None, "scheduler": "Fifo()",
        "shuffle": False, "timer_jitter_ns": -5, "hash_seed": "0",
    }  # fmt: skip
    with pytest.raises(TraceFormatError, match="'timer_jitter_ns' must be a non-negative int"):
        Trace.from_json(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [("index", "3"), ("time_ns", -1), ("kind", "thread"), ("label", 5), ("cancellations", "x"),
     ("watched", {"n": 1}), ("chain", [1]), ("task_id", True)],
)  # fmt: skip
def test_wrongly_typed_event_fields_are_refused(field: str, value: Any) -> None:
    data = json.loads(json.dumps(DATA))
    position = data["event_fields"].index(field)
    data["events"][0][position] = value
    with pytest.raises(TraceFormatError, match=f"event 0: the field '{field}' must be"):
        Trace.from_json(data)


def _use(trace: Trace) -> None:
    """Everything a loaded trace is used for, which must work on whatever loaded."""
    trace.fingerprint()
    _ = trace.token
    trace.format_events()
    trace.to_html()
    json.dumps(trace.to_perfetto())
    trace.replay_scheduler()
    simloop.lowlevel.LoopOptions.build(**trace.recorded_options())


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def damaged(draw: st.DrawFn) -> Any:
    data = json.loads(json.dumps(DATA))
    data.pop("fingerprint")  # or every change is caught by the fingerprint alone
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["top", "event", "drop", "int", "setting"]))
        if where == "int":
            name = draw(st.sampled_from(["steps", "start_time_ns", "end_time_ns", "seed"]))
            data[name] = draw(st.integers(-(2**64), 2**64) | st.integers(0, 10**12))
        elif where == "setting":
            name = draw(st.sampled_from(sorted(simloop.lowlevel.RECORDED)))
            data["settings"] = {
                name: draw(json_values | st.floats(0, 1e12) | st.integers(0, 10**6))
            }
        elif where == "top":
            data[draw(st.sampled_from(sorted(data)))] = draw(json_values)
        elif where == "drop":
            data.pop(draw(st.sampled_from(sorted(data))), None)
        elif isinstance(data.get("events"), list) and data["events"]:
            row = data["events"][draw(st.integers(0, len(data["events"]) - 1))]
            if isinstance(row, list) and row:
                row[draw(st.integers(0, len(row) - 1))] = draw(json_values)
    return data


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(damaged())
def test_fuzz_damaged_traces_load_and_work_or_are_refused(data: Any) -> None:
    started = wall_clock()
    try:
        trace = Trace.from_json(data)
    except TraceFormatError as error:
        event("refused")
        message = str(error)
    else:
        event("loaded")
        _use(trace)
        message = ""
    assert "\n" not in message
    assert len(message) < 400
    assert wall_clock() - started < 5


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_fuzz_arbitrary_bytes_are_refused(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "t.json"
    path.write_bytes(content)
    try:
        trace = Trace.load(path)
    except TraceFormatError as error:
        message = str(error)
    else:
        _use(trace)
        message = ""
    assert "\n" not in message


async def swallows() -> None:
    async def worker() -> None:
        for _ in range(2):
            try:
                raise ConnectionError("down")
            except ConnectionError:
                await asyncio.sleep(1)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass

    task = asyncio.create_task(worker(), name="worker")
    await asyncio.sleep(3)
    task.cancel()
    await task
    raise ValueError("boom")


@pytest.mark.skipif(
    not simloop.lowlevel.ExceptionWatch().available, reason="sys.monitoring is Python 3.12+"
)
def test_exceptions_raised_and_caught_in_steps_are_recorded() -> None:
    trace = simloop.replay(swallows, Trace(
        choices=[], options=[], steps=0, start_time_ns=0, end_time_ns=0, seed=None,
        scheduler="Fifo()").token).trace  # fmt: skip
    assert trace.events is not None
    seen = [(s.label, s.exceptions, s.cancellations) for s in trace.events if s.exceptions]
    raise_line = "test_core_trace_fuzz.py"
    assert [
        (label, [e.split(" at ")[0] + e.split(",")[1] for e in found]) for label, found, _ in seen
    ] == [
        ("worker", ["ConnectionError caught"]),
        ("worker", ["ConnectionError caught"]),
        ("worker", ["CancelledError caught"]),
        ("Task-1 (swallows)", ["ValueError not caught"]),
    ]
    assert all(raise_line in e for _, found, _ in seen for e in found)
    assert seen[2][2] == ("delivered", "caught")


def test_the_exception_watch_is_off_after_a_run() -> None:
    simloop.replay(swallows, TRACE_TOKEN_FIFO)
    monitoring = getattr(__import__("sys"), "monitoring", None)
    if monitoring is not None:
        assert monitoring.get_tool(3) is None
        assert monitoring.get_tool(4) is None


TRACE_TOKEN_FIFO = Trace(
    choices=[], options=[], steps=0, start_time_ns=0, end_time_ns=0, seed=None, scheduler="Fifo()"
).token
