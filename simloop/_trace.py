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
import stat
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from simloop._clock import NS_PER_SECOND, format_seconds, seconds_to_ns
from simloop._errors import InvalidArgumentError, TraceFormatError
from simloop._options import check_settings

if TYPE_CHECKING:
    from simloop._scheduling import Replay

FORMAT_NAME = "simloop-trace"
#: Version 3 added what each step's truth needs (how it ended, cancellations, exceptions, the
#: await chain, watched values) and the program's entry point; 1 and 2 are still read.
FORMAT_VERSION = 3

#: Event fields of version 2 traces, in their order; version 3 appends _STEP_FIELDS_V3.
_STEP_FIELDS_V2 = (
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
_STEP_FIELDS = (
    *_STEP_FIELDS_V2,
    "ended",
    "cancellations",
    "exceptions",
    "chain",
    "watched",
)

#: The largest int a trace holds (virtual times, steps, seeds): beyond it a file is corrupt.
_MAX_INT = 2**63 - 1
#: Files larger than this are refused unread (a trace of millions of recorded steps is not).
MAX_TRACE_BYTES = 512 * 1024 * 1024


def _optional_tuple(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


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
    #: How a task step ended: ``"suspended"``, ``"finished"``, ``"cancelled"`` or
    #: ``"raised ValueError"``; None for other callbacks (and in version 2 traces).
    ended: str | None = None
    #: Cancellations seen at this step: ``"requested for Task-3 (worker)"`` (a cancel() this
    #: step made), ``"delivered"`` (this step received a requested cancellation),
    #: ``"caught"`` (and the task went on).
    cancellations: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    #: Exceptions raised in the task's own code during this step and caught there:
    #: ``"ValueError at pool.py:12 in get, caught"``.
    exceptions: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    #: With ``chains``: the task's await chain after the step, outermost frame first
    #: (``"pool.py:36 in _open"``), its last entry what the innermost frame waits on.
    chain: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_tuple)
    #: Values of :func:`simloop.watch` expressions that changed at this step (label -> repr).
    watched: dict[str, str] | None = None

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
    recorded_with: dict[str, str] = attrs.field(factory=lambda: environment())
    #: The program's entry point, so ``simloop replay FILE`` can run it again:
    #: ``{"kind": "function", "target": "package.module:main"}`` or
    #: ``{"kind": "pytest", "target": "tests/test_x.py::test_y", "rootdir": "/repo"}``.
    program: dict[str, str] | None = None

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
            "program": self.program,
            "event_fields": list(_STEP_FIELDS),
            "events": None
            if self.events is None
            else [[_json_value(getattr(step, f)) for f in _STEP_FIELDS] for step in self.events],
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
            # Only a regular file: opening a FIFO or a device would block or never end.
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode):
                what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
                msg = f"{source}: not a simloop trace ({what})"
                raise TraceFormatError(msg)
            if info.st_size > MAX_TRACE_BYTES:
                msg = (
                    f"{source}: not a simloop trace ({info.st_size} bytes, more than the "
                    f"{MAX_TRACE_BYTES} a trace may have)"
                )
                raise TraceFormatError(msg)
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
        except RecursionError:
            msg = f"{source}: not a simloop trace (JSON nested too deeply)"
            raise TraceFormatError(msg) from None
        except ValueError as exc:  # an integer of more digits than Python converts
            msg = f"{source}: corrupt trace file ({exc})"
            raise TraceFormatError(msg) from None
        return cls.from_json(data, source=source)

    def to_html(self, *, title: str = "simloop run") -> str:
        """The run as a self-contained HTML page (no network needed): one lane per task over
        the steps, deviations and the failing step highlighted, source lines on hover,
        watched values, the outcome."""
        from simloop._export import to_html

        return to_html(self, title=title)

    def to_perfetto(self) -> dict[str, Any]:
        """The run as Chrome trace-event JSON, which Perfetto (ui.perfetto.dev) and
        ``chrome://tracing`` open: one thread per task, one slice per step."""
        from simloop._export import to_perfetto

        return to_perfetto(self)

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


def environment() -> dict[str, str]:
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


def _json_value(value: Any) -> Any:
    """A step field as JSON holds it (tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value


class _Reader:
    """Validates trace data field by field, so a bad file gets an error naming the field.

    Everything a trace holds is checked here, types and ranges, so that code reading a loaded
    trace (the CLI, a replay, a report) never meets a value it does not expect.
    """

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
            raise self.fail(f"the field {name!r} must be {wanted}, not {_clipped(value)}")
        if not isinstance(value, kinds):
            raise self.fail(f"the field {name!r} must be {wanted}, not {_clipped(value)}")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_INT:
            raise self.fail(f"the field {name!r} is out of range ({_clipped(value)})")
        return value

    def count(self, name: str) -> int:
        value: int = self.field(name, int)
        if value < 0:
            raise self.fail(f"the field {name!r} must be a non-negative int, not {value!r}")
        return value

    def int_list(self, name: str) -> list[int]:
        values: list[int] = self.field(name, list)
        for i, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INT:
                raise self.fail(f"{name}[{i}] must be a non-negative int, not {_clipped(value)}")
        return values

    def string_map(self, name: str, values: tuple[type, ...]) -> dict[str, Any] | None:
        mapping: dict[str, Any] | None = self.field(name, dict, optional=True)
        if mapping is None:
            return None
        for key, value in mapping.items():
            if not isinstance(value, values) or (
                isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_INT
            ):
                raise self.fail(
                    f"the field {name!r} has a bad value for {key!r}: {_clipped(value)}"
                )
        return mapping

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
            jitter_ns = self.count("timer_jitter_ns")
            if jitter_ns:
                settings["timer_jitter"] = jitter_ns / NS_PER_SECOND
            start_ns = self.count("start_time_ns")
            if start_ns:
                settings["start_time"] = start_ns / NS_PER_SECOND
            settings = self.checked_settings(settings)
        else:
            kinds = self.kinds(len(choices))
            settings = self.checked_settings(self.field("settings", dict))
        start_ns = self.count("start_time_ns")
        end_ns = self.count("end_time_ns")
        if end_ns < start_ns:
            raise self.fail(
                f"the run ends at {end_ns}ns, before it starts ({start_ns}ns): the trace is corrupt"
            )
        trace = Trace(
            choices=choices,
            options=options,
            steps=self.count("steps"),
            start_time_ns=start_ns,
            end_time_ns=end_ns,
            seed=self.field("seed", int, optional=True),
            scheduler=self.field("scheduler", str),
            kinds=kinds,
            settings=settings,
            hash_seed=self.field("hash_seed", str),
            events=self.events(version),
            outcome=self.string_map("outcome", (str, int, type(None))),
            marks=self.string_map("marks", (bool,)),
            recorded_with=self.string_map("recorded_with", (str,)) or {},
            program=self.program() if version >= 3 else None,
        )
        recorded = self.data.get("fingerprint")
        if recorded is not None and recorded != trace.fingerprint():
            raise self.fail(
                f"fingerprint mismatch (file says {str(recorded)[:40]}, content gives "
                f"{trace.fingerprint()}): the trace was edited or is corrupt"
            )
        return trace

    def program(self) -> dict[str, str] | None:
        program = self.string_map("program", (str,))
        if program is None:
            return None
        if program.get("kind") not in ("function", "pytest") or not program.get("target"):
            raise self.fail(
                "the field 'program' must say its kind ('function' or 'pytest') and target, "
                f"not {_clipped(program)}"
            )
        return program

    def kinds(self, count: int) -> list[str] | None:
        kinds: list[str] | None = self.field("kinds", list, optional=True)
        if kinds is None:
            return None
        if len(kinds) != count:
            raise self.fail(f"{count} choices but {len(kinds)} kinds: the trace is corrupt")
        for i, kind in enumerate(kinds):
            if not isinstance(kind, str) or not kind:
                raise self.fail(f"kinds[{i}] must be a non-empty string, not {_clipped(kind)}")
        return kinds

    def checked_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return check_settings(settings)
        except InvalidArgumentError as exc:
            text = str(exc)
            if len(text) > 200:  # it echoes the bad value, which a hostile file makes huge
                text = text[:197] + "..."
            raise self.fail(f"the field 'settings' is invalid: {text}") from None

    def events(self, version: int) -> list[Step] | None:
        rows = self.field("events", list, optional=True)
        if rows is None:
            return None
        fields = self.field("event_fields", list)
        known = _STEP_FIELDS if version >= 3 else _STEP_FIELDS_V2
        if tuple(fields) != known:
            raise self.fail(f"unknown event fields {_clipped(fields)}")
        steps = []
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(fields):
                raise self.fail(
                    f"event {i} must be a list of {len(fields)} values, not {_clipped(row)}"
                )
            values = {}
            for name, value in zip(fields, row, strict=True):
                check = _EVENT_CHECKS[name]
                if not check(value):
                    raise self.fail(
                        f"event {i}: the field {name!r} must be {_EVENT_WANTED[name]}, "
                        f"not {_clipped(value)}"
                    )
                values[name] = value
            steps.append(Step(**values))
        return steps


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_INT


def _is_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _is_texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_EVENT_CHECKS: dict[str, Any] = {
    "index": _is_count,
    "time_ns": _is_count,
    "kind": lambda v: v in ("task", "timer", "callback"),
    "label": lambda v: isinstance(v, str),
    "task_id": lambda v: v is None or _is_count(v),
    "resumed_at": _is_text,
    "suspended_at": _is_text,
    "choice": _is_count,
    "options": _is_count,
    "deviation": _is_text,
    "resumed_source": _is_text,
    "suspended_source": _is_text,
    "ended": _is_text,
    "cancellations": _is_texts,
    "exceptions": _is_texts,
    "chain": lambda v: v is None or _is_texts(v),
    "watched": lambda v: (
        v is None or (isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))
    ),
}
_EVENT_WANTED = {
    name: (
        "a non-negative int"
        if name in ("index", "time_ns", "choice", "options")
        else "a list of strings"
        if name in ("cancellations", "exceptions")
        else "'task', 'timer' or 'callback'"
        if name == "kind"
        else "a string"
        if name == "label"
        else "an object of strings or null"
        if name == "watched"
        else "a list of strings or null"
        if name == "chain"
        else "a non-negative int or null"
        if name == "task_id"
        else "a string or null"
    )
    for name in _STEP_FIELDS
}


def _clipped(value: Any) -> str:
    """``repr(value)``, cut short: a hostile file must not make a message megabytes long."""
    try:
        text = repr(value)
    except ValueError:  # an int too large to print
        return f"an int of more than {sys.get_int_max_str_digits()} digits"
    return text if len(text) <= 80 else text[:77] + "..."


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _kind_names(kinds: type | tuple[type, ...]) -> str:
    names = {int: "an int", str: "a string", list: "a list", dict: "an object", bool: "true/false"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kinds))
