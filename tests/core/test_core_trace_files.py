"""Trace files: a round trip, and the exact TraceFormatError for each way a file can be bad."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import simloop
from simloop import Trace, TraceFormatError


async def three_sleepers() -> None:
    await asyncio.gather(asyncio.sleep(0), asyncio.sleep(0), asyncio.sleep(0))
    await asyncio.sleep(1.5)


@pytest.fixture(scope="module")
def trace() -> Trace:
    loop = simloop.SimLoop(seed=5, start_time=10)
    try:
        loop.run_until_complete(three_sleepers())
        return loop.trace
    finally:
        loop.close()


@pytest.fixture
def saved(trace: Trace, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = trace.save(tmp_path / "sub" / "run.json")
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_trace_round_trip(trace: Trace, saved: tuple[Path, dict[str, Any]]) -> None:
    path, data = saved
    assert path.name == "run.json"
    assert not path.with_name("run.json.partial").exists()
    assert data["format"] == "simloop-trace"
    assert data["version"] == 3
    assert data["fingerprint"] == trace.fingerprint()
    assert data["settings"] == {"start_time": 10}
    assert data["kinds"] == ["ready"] * len(trace.choices)
    loaded = Trace.load(path)
    assert loaded == trace
    assert loaded.fingerprint() == trace.fingerprint()
    assert (loaded.seed, loaded.scheduler) == (5, "RandomWalk(seed=5)")
    assert (loaded.start_time_ns, loaded.end_time_ns) == (10_000_000_000, 11_500_000_000)
    assert len(loaded.choices) == len(loaded.options) > 0


def test_loaded_trace_replays_the_run(trace: Trace) -> None:
    loop = simloop.SimLoop(**trace.loop_options())
    try:
        loop.run_until_complete(three_sleepers())
        again = loop.trace
    finally:
        loop.close()
    assert again.choices == trace.choices
    assert again.fingerprint() == trace.fingerprint()


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(TraceFormatError) as info:
        Trace.load(path)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, simloop.SimulationError)
    return str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    assert load_error(path) == f"{path}: no such trace file"


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text("hello", encoding="utf-8")
    assert load_error(path) == (
        f"{path}: corrupt or truncated trace file (Expecting value, line 1 column 1)"
    )


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(b"\xff\xfe\x00")
    assert load_error(path) == f"{path}: not a simloop trace (the file is not UTF-8 text)"


def test_truncated_json(saved: tuple[Path, dict[str, Any]]) -> None:
    path, _ = saved
    text = path.read_text(encoding="utf-8").rstrip()[:-1]  # lose the closing brace
    path.write_text(text, encoding="utf-8")
    assert load_error(path) == (
        f"{path}: corrupt or truncated trace file (Expecting ',' delimiter, line 1 column "
        f"{len(text) + 1})"
    )


@pytest.mark.parametrize("value", ["other-trace", None])
def test_wrong_format(saved: tuple[Path, dict[str, Any]], value: Any) -> None:
    path, data = saved
    write(path, {**data, "format": value})
    assert load_error(path) == f'{path}: not a simloop trace (no "format": "simloop-trace" field)'


def test_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path / "t.json", [1, 2, 3])
    assert load_error(path) == f'{path}: not a simloop trace (no "format": "simloop-trace" field)'


def test_newer_version(saved: tuple[Path, dict[str, Any]]) -> None:
    path, data = saved
    write(path, {**data, "version": 4})
    assert load_error(path) == (
        f"{path}: trace format version 4 is newer than this simloop reads (up to 3); upgrade "
        "simloop to read it"
    )


def test_version_1_files_still_load(trace: Trace, tmp_path: Path) -> None:
    """A trace file written before choices had kinds and traces recorded loop options."""
    version_1 = {
        "format": "simloop-trace",
        "version": 1,
        "seed": 5,
        "scheduler": "RandomWalk(seed=5)",
        "shuffle": True,
        "timer_jitter_ns": 2_000_000,
        "hash_seed": "0",
        "steps": trace.steps,
        "start_time_ns": 10_000_000_000,
        "end_time_ns": trace.end_time_ns,
        "choices": trace.choices,
        "options": trace.options,
        "outcome": None,
        "marks": None,
        "recorded_with": {},
        "event_fields": [],
        "events": None,
    }
    loaded = Trace.load(write(tmp_path / "old.json", version_1))
    assert loaded.kinds is None
    assert loaded.settings == {"shuffle": True, "timer_jitter": 0.002, "start_time": 10.0}
    assert (loaded.shuffle, loaded.timer_jitter_ns) == (True, 2_000_000)
    assert loaded.replay_scheduler().kinds is None


def test_unknown_old_version(saved: tuple[Path, dict[str, Any]]) -> None:
    path, data = saved
    write(path, {**data, "version": 0})
    assert load_error(path) == f"{path}: unknown trace format version 0"


def test_missing_field(saved: tuple[Path, dict[str, Any]]) -> None:
    path, data = saved
    del data["steps"]
    write(path, data)
    assert load_error(path) == (f"{path}: not a valid simloop trace: the field 'steps' is missing")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("steps", "12", "the field 'steps' must be an int, not '12'"),
        ("version", "1", "the field 'version' must be an int, not '1'"),
        (
            "settings",
            {"shuffle": 1},
            "the field 'settings' is invalid: `shuffle` must be True or False, not int 1",
        ),
        (
            "settings",
            {"timer_jitter": -1},
            "the field 'settings' is invalid: `timer_jitter` must be a non-negative number of "
            "seconds, not -1",
        ),
        (
            "settings",
            {"seed": 3},
            "the field 'settings' is invalid: unknown recorded option(s) 'seed'",
        ),
        ("kinds", ["ready"], "4 choices but 1 kinds: the trace is corrupt"),
        ("scheduler", 7, "the field 'scheduler' must be a string, not 7"),
        ("seed", True, "the field 'seed' must be an int or null, not True"),
        ("choices", "1,1", "the field 'choices' must be a list, not '1,1'"),
        ("choices", [1, -1, 0, 0], "choices[1] must be a non-negative int, not -1"),
    ],
)
def test_wrong_field_type(
    saved: tuple[Path, dict[str, Any]], field: str, value: Any, problem: str
) -> None:
    path, data = saved
    write(path, {**data, field: value})
    assert load_error(path) == f"{path}: {problem}"


def test_choices_and_options_of_different_lengths(saved: tuple[Path, dict[str, Any]]) -> None:
    path, data = saved
    n = len(data["choices"])
    write(path, {**data, "options": data["options"][:-1]})
    assert load_error(path) == (
        f"{path}: {n} choices but {n - 1} option counts: the trace is corrupt"
    )


def test_choice_not_below_its_options(saved: tuple[Path, dict[str, Any]]) -> None:
    path, data = saved
    choices = list(data["choices"])
    choices[1] = data["options"][1]
    write(path, {**data, "choices": choices})
    assert load_error(path) == (
        f"{path}: choice 1 is {choices[1]} but had only {choices[1]} options: the trace is corrupt"
    )


def test_edited_trace_fails_its_fingerprint(saved: tuple[Path, dict[str, Any]]) -> None:
    path, data = saved
    edited = {**data, "steps": data["steps"] + 1}
    expected = Trace.from_json({k: v for k, v in edited.items() if k != "fingerprint"})
    write(path, edited)
    assert load_error(path) == (
        f"{path}: fingerprint mismatch (file says {data['fingerprint']}, content gives "
        f"{expected.fingerprint()}): the trace was edited or is corrupt"
    )
    assert expected.fingerprint() != data["fingerprint"]


def test_from_json_names_its_source() -> None:
    with pytest.raises(TraceFormatError) as info:
        Trace.from_json({"format": "x"})
    assert str(info.value) == 'trace: not a simloop trace (no "format": "simloop-trace" field)'
    with pytest.raises(TraceFormatError) as info:
        Trace.from_json({"format": "x"}, source="token")
    assert str(info.value) == 'token: not a simloop trace (no "format": "simloop-trace" field)'
