"""Traces: what a run decided (its schedule) and, on request, what it did at every step.

A trace always holds the *schedule*: the answer to each choice point (``choices``), how many
options each had (``options``) and its kind (``kinds``), with the loop options a replay must
share (``seed`` and ``settings``). That is enough to replay the run exactly, and cheap enough
to record during exploration. With ``record_events=True`` it also holds one
:class:`Step` per callback run: the virtual time, which task ran, where it resumed and where
it suspended. Replays of failures record events; replay is exact, so this costs one extra run.

Traces save to a versioned JSON file (:meth:`Trace.save`, :meth:`Trace.load`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from simloop._clock import NS_PER_SECOND, format_seconds, seconds_to_ns
from simloop._errors import InvalidArgumentError, TraceFormatError
from simloop._options import check_settings

if TYPE_CHECKING:
    from simloop._scheduling import Replay

FORMAT_NAME = "simloop-trace"
FORMAT_VERSION = 2

_STEP_FIELDS = (
    "index",
    "time_ns",
    "kind",
    "label",
    "task_id",
    "resumed_at",
    "suspended_at",
    "choice",
    "options",
    "deviation",
    "resumed_source",
    "suspended_source",
)


@attrs.frozen
class Step:
    """One callback run by the loop."""

    #: Position in the run, from 0.
    index: int
    #: Virtual time when it ran, in nanoseconds.
    time_ns: int
    #: ``"task"`` (a task step), ``"timer"`` (a timer callback) or ``"callback"``.
    kind: str
    #: The task's name for a task step, else the callback's qualified name.
    label: str
    #: For a task step, the task's number in this run (1 for the first task seen), else None.
    task_id: int | None
    #: Where the task resumed (its previous suspension point), ``"file.py:12 in func"``.
    resumed_at: str | None
    #: Where the task suspended after this step; ``"finished"`` if it returned.
    suspended_at: str | None
    #: The option the scheduler picked for this step (0 if there was no choice).
    choice: int
    #: How many ready lanes there were to pick from (1: no choice).
    options: int
    #: How this step departs from stock asyncio's order, in words ("ran ahead of withdraw",
    #: "fired before the timer of ..., due at the same time", "fired 2ms late", "cancelled here
    #: by the explorer (cancel_somewhere)"), or None if it does not.
    deviation: str | None = None
    #: The source line at ``resumed_at``, stripped.
    resumed_source: str | None = None
    #: The source line at ``suspended_at``, stripped.
    suspended_source: str | None = None

    @property
    def time(self) -> float:
        """Virtual time in seconds."""
        return self.time_ns / NS_PER_SECOND

    @property
    def deviates(self) -> bool:
        """Whether this step departs from what stock asyncio would have done."""
        return self.deviation is not None


@attrs.define(eq=True)
class Trace:
    """The record of one run: its schedule, and optionally its events."""

    #: The answer to each choice point that had two or more options.
    choices: list[int]
    #: How many options each of those choice points had.
    options: list[int]
    #: How many callbacks ran.
    steps: int
    #: Virtual time at the start of the run, in nanoseconds.
    start_time_ns: int
    #: Virtual time at the end of the run, in nanoseconds.
    end_time_ns: int
    #: The run's seed (``None`` for an unseeded Fifo run).
    seed: int | None
    #: The scheduler, as ``repr`` shows it (``"RandomWalk(seed=7)"``).
    scheduler: str
    #: The kind of each choice (``"ready"``, ``"timer.tie"``...), or None if not recorded
    #: (a version 1 trace or token).
    kinds: list[str] | None = None
    #: The loop options a replay must share (those ``LoopOptions`` records), where they
    #: differ from the defaults: ``{"shuffle": True, "timer_jitter": 0.002}``.
    settings: dict[str, Any] = attrs.field(factory=dict)
    #: ``PYTHONHASHSEED`` of the recording process: a number, ``"random"`` or ``"disabled"``.
    hash_seed: str = "random"
    #: One :class:`Step` per callback, when the run recorded events.
    events: list[Step] | None = None
    #: What ended the run, e.g. ``{"kind": "exception", "type": "AssertionError", ...}``.
    outcome: dict[str, Any] | None = None
    #: ``simloop.sometimes`` marks the run passed: label -> whether its condition held once.
    marks: dict[str, bool] | None = None
    #: Where the trace was recorded (informational: Python version, platform, simloop version).
    recorded_with: dict[str, str] = attrs.field(factory=lambda: _environment())

    @property
    def deviations(self) -> int:
        """How many choices differ from stock asyncio's order (non-zero answers)."""
        return sum(1 for c in self.choices if c)

    @property
    def shuffle(self) -> bool:
        """Whether the loop ran with ``shuffle=True``."""
        return bool(self.settings.get("shuffle", False))

    @property
    def timer_jitter_ns(self) -> int:
        """The loop's ``timer_jitter``, in nanoseconds."""
        return seconds_to_ns(float(self.settings.get("timer_jitter", 0.0)), name="timer_jitter")

    def kind_of(self, index: int) -> str | None:
        """The kind of choice ``index`` (None if the trace does not say)."""
        return None if self.kinds is None else self.kinds[index]

    @property
    def end_time(self) -> float:
        """Virtual time at the end of the run, in seconds."""
        return self.end_time_ns / NS_PER_SECOND

    def fingerprint(self) -> str:
        """A stable digest of the run: equal fingerprints mean the same decisions, steps and time.

        It covers the schedule (trailing zeros dropped, since past the end of a schedule every
        answer is 0), the number of steps and the virtual start and end times. It does not
        depend on whether events were recorded, so an exploration run and its full replay have
        the same fingerprint.
        """
        schedule = list(self.choices)
        while schedule and schedule[-1] == 0:
            schedule.pop()
        if self.kinds is None:
            # A version 1 trace: its fingerprint as version 1 made it.
            facts: list[Any] = [1, schedule, self.steps, self.start_time_ns, self.end_time_ns]
        else:
            kinds = self.kinds[: len(schedule)]
            facts = [2, schedule, kinds, self.steps, self.start_time_ns, self.end_time_ns]
        payload = json.dumps(facts, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    @property
    def token(self) -> str:
        """The schedule as one short string, ``"sl2-..."``, that replays this run."""
        from simloop import _token

        return _token.encode(self)

    @classmethod
    def from_token(cls, token: str) -> Trace:
        """The schedule a replay token holds (a trace without events)."""
        from simloop import _token

        return _token.decode(token)

    def replay_scheduler(self, *, strict: bool = True) -> Replay:
        """A :class:`~simloop.Replay` scheduler that re-makes this run's choices."""
        from simloop._scheduling import Replay

        return Replay(self.choices, self.options, kinds=self.kinds, strict=strict)

    def recorded_options(self) -> dict[str, Any]:
        """The loop options this run was recorded with (seed included): a replay's own."""
        return {"seed": self.seed, **self.settings}

    def loop_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~simloop.SimLoop` that replay this trace exactly."""
        return {**self.recorded_options(), "scheduler": self.replay_scheduler()}

    # --- files --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The trace as JSON-compatible data (what :meth:`save` writes)."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "fingerprint": self.fingerprint(),
            "seed": self.seed,
            "scheduler": self.scheduler,
            "settings": self.settings,
            "hash_seed": self.hash_seed,
            "steps": self.steps,
            "start_time_ns": self.start_time_ns,
            "end_time_ns": self.end_time_ns,
            "choices": self.choices,
            "options": self.options,
            "kinds": self.kinds,
            "outcome": self.outcome,
            "marks": self.marks,
            "recorded_with": self.recorded_with,
            "event_fields": list(_STEP_FIELDS),
            "events": None
            if self.events is None
            else [[getattr(step, f) for f in _STEP_FIELDS] for step in self.events],
        }

    @classmethod
    def from_json(cls, data: Any, *, source: str = "trace") -> Trace:
        """Read what :meth:`to_json` wrote; raises :class:`~simloop.TraceFormatError`."""
        reader = _Reader(data, source)
        return reader.trace()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the trace to ``path`` (parent directories are created); return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), separators=(",", ":"))
        # Write next to the target, then rename: a crash never leaves a half-written trace.
        partial = target.with_name(target.name + ".partial")
        partial.write_text(text + "\n", encoding="utf-8")
        partial.replace(target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Trace:
        """Read a trace file; raises :class:`~simloop.TraceFormatError` if it is not one."""
        source = os.fspath(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            msg = f"{source}: no such trace file"
            raise TraceFormatError(msg) from None
        except UnicodeDecodeError:
            msg = f"{source}: not a simloop trace (the file is not UTF-8 text)"
            raise TraceFormatError(msg) from None
        except OSError as exc:
            msg = f"{source}: cannot read the trace file ({exc.strerror or exc})"
            raise TraceFormatError(msg) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = (
                f"{source}: corrupt or truncated trace file ({exc.msg}, line {exc.lineno} "
                f"column {exc.colno})"
            )
            raise TraceFormatError(msg) from None
        return cls.from_json(data, source=source)

    # --- reading it -------------------------------------------------------------------------------

    def format_events(self, *, limit: int | None = None, around: int | None = None) -> str:
        """The events as a table: step, virtual time, what ran, where; deviations marked ``*``.

        ``around`` centres a window of ``limit`` rows on that step.
        """
        if not self.events:
            return "(no events recorded: run with record_events=True)"
        steps = self.events
        first = 0
        if limit is not None and len(steps) > limit:
            centre = len(steps) - 1 if around is None else around
            first = max(0, min(centre - limit // 2, len(steps) - limit))
            steps = steps[first : first + limit]
        rows = [("step", "vtime", "ran", "resumed at", "suspended at")]
        for step in steps:
            mark = "*" if step.deviates else " "
            rows.append(
                (
                    f"{mark}{step.index}",
                    format_seconds(step.time_ns),
                    step.label,
                    step.resumed_at or "",
                    step.suspended_at or "",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
            for row in rows
        ]
        if first:
            lines.insert(1, f"  ... {first} earlier steps")
        shown_end = first + len(steps)
        if shown_end < len(self.events):
            lines.append(f"  ... {len(self.events) - shown_end} later steps")
        return "\n".join(line.rstrip() for line in lines)


def hash_seed_description() -> str:
    """The process's ``PYTHONHASHSEED``: a number, ``"random"``, or ``"disabled"``."""
    return _HASH_SEED


def _hash_seed() -> str:
    # Read once, at import: the interpreter fixed its hash seed when it started, so the
    # environment variable can only have changed since, not the seed (and every trace of an
    # exploration asks).
    if not sys.flags.hash_randomization:
        return "disabled"
    value = os.environ.get("PYTHONHASHSEED", "random")
    return value if value.isdigit() else "random"


_HASH_SEED = _hash_seed()


_ENVIRONMENT: dict[str, str] | None = None


def _environment() -> dict[str, str]:
    """Where traces are recorded (the same for every trace of this process: asked once)."""
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        from simloop import __version__

        _ENVIRONMENT = {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": sys.platform,
            "simloop": __version__,
        }
    return dict(_ENVIRONMENT)


class _Reader:
    """Validates trace data field by field, so a bad file gets an error naming the field."""

    def __init__(self, data: Any, source: str) -> None:
        self.data = data
        self.source = source

    def fail(self, problem: str) -> TraceFormatError:
        return TraceFormatError(f"{self.source}: {problem}")

    def field(self, name: str, kinds: type | tuple[type, ...], *, optional: bool = False) -> Any:
        if name not in self.data:
            if optional:
                return None
            raise self.fail(f"not a valid simloop trace: the field {name!r} is missing")
        value = self.data[name]
        if value is None and optional:
            return None
        wanted = _kind_names(kinds) + (" or null" if optional else "")
        if isinstance(value, bool) and bool not in _as_tuple(kinds):
            raise self.fail(f"the field {name!r} must be {wanted}, not {value!r}")
        if not isinstance(value, kinds):
            raise self.fail(f"the field {name!r} must be {wanted}, not {value!r}")
        return value

    def int_list(self, name: str) -> list[int]:
        values: list[int] = self.field(name, list)
        for i, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise self.fail(f"{name}[{i}] must be a non-negative int, not {value!r}")
        return values

    def trace(self) -> Trace:
        if not isinstance(self.data, Mapping) or self.data.get("format") != FORMAT_NAME:
            raise self.fail('not a simloop trace (no "format": "simloop-trace" field)')
        version = self.field("version", int)
        if version > FORMAT_VERSION:
            raise self.fail(
                f"trace format version {version} is newer than this simloop reads "
                f"(up to {FORMAT_VERSION}); upgrade simloop to read it"
            )
        if version < 1:
            raise self.fail(f"unknown trace format version {version}")
        choices = self.int_list("choices")
        options = self.int_list("options")
        if len(choices) != len(options):
            raise self.fail(
                f"{len(choices)} choices but {len(options)} option counts: the trace is corrupt"
            )
        for i, (c, n) in enumerate(zip(choices, options, strict=True)):
            if c >= n:
                raise self.fail(f"choice {i} is {c} but had only {n} options: the trace is corrupt")
        if version == 1:
            kinds = None
            settings: dict[str, Any] = {}
            if self.field("shuffle", bool):
                settings["shuffle"] = True
            jitter_ns = self.field("timer_jitter_ns", int)
            if jitter_ns:
                settings["timer_jitter"] = jitter_ns / NS_PER_SECOND
            start_ns = self.field("start_time_ns", int)
            if start_ns:
                settings["start_time"] = start_ns / NS_PER_SECOND
        else:
            kinds = self.kinds(len(choices))
            settings = self.settings()
        trace = Trace(
            choices=choices,
            options=options,
            steps=self.field("steps", int),
            start_time_ns=self.field("start_time_ns", int),
            end_time_ns=self.field("end_time_ns", int),
            seed=self.field("seed", int, optional=True),
            scheduler=self.field("scheduler", str),
            kinds=kinds,
            settings=settings,
            hash_seed=self.field("hash_seed", str),
            events=self.events(),
            outcome=self.field("outcome", dict, optional=True),
            marks=self.field("marks", dict, optional=True),
            recorded_with=self.field("recorded_with", dict, optional=True) or {},
        )
        recorded = self.data.get("fingerprint")
        if recorded is not None and recorded != trace.fingerprint():
            raise self.fail(
                f"fingerprint mismatch (file says {recorded}, content gives "
                f"{trace.fingerprint()}): the trace was edited or is corrupt"
            )
        return trace

    def kinds(self, count: int) -> list[str] | None:
        kinds: list[str] | None = self.field("kinds", list, optional=True)
        if kinds is None:
            return None
        if len(kinds) != count:
            raise self.fail(f"{count} choices but {len(kinds)} kinds: the trace is corrupt")
        for i, kind in enumerate(kinds):
            if not isinstance(kind, str) or not kind:
                raise self.fail(f"kinds[{i}] must be a non-empty string, not {kind!r}")
        return kinds

    def settings(self) -> dict[str, Any]:
        settings = self.field("settings", dict)
        try:
            return check_settings(settings)
        except InvalidArgumentError as exc:
            raise self.fail(f"the field 'settings' is invalid: {exc}") from None

    def events(self) -> list[Step] | None:
        rows = self.field("events", list, optional=True)
        if rows is None:
            return None
        fields = self.field("event_fields", list)
        if tuple(fields) != _STEP_FIELDS:
            raise self.fail(f"unknown event fields {fields!r}")
        steps = []
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(fields):
                raise self.fail(f"event {i} must be a list of {len(fields)} values, not {row!r}")
            try:
                steps.append(Step(**dict(zip(fields, row, strict=True))))
            except TypeError as exc:
                raise self.fail(f"event {i} is malformed: {exc}") from None
        return steps


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _kind_names(kinds: type | tuple[type, ...]) -> str:
    names = {int: "an int", str: "a string", list: "a list", dict: "an object", bool: "true/false"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kinds))
