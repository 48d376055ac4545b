"""Failure reports: what a person reads when an exploration finds a failing schedule.

The pytest plugin's report section and ``python -m simloop demo`` both print this. It says
which schedule failed, how far shrinking got, whether the failure needs a deviation from
asyncio's order at all (if not, it is a plain bug, not a race), the exception, the
interleaving that led to it (deviating steps marked and explained), and how to replay it.
"""

from __future__ import annotations

from collections.abc import Sequence

from simloop._clock import format_seconds
from simloop._errors import InvalidArgumentError
from simloop._explore import SAVED_SCHEDULE, ExplorationResult
from simloop._text import describe, plural
from simloop._trace import Step

#: Steps shown before the failure, besides every deviating step.
CONTEXT_STEPS = 10
_SOURCE_WIDTH = 44


def format_failure(
    result: ExplorationResult,
    *,
    planned_runs: int | None = None,
    replay_command: str | None = None,
    trace_path: str | None = None,
    replayed: bool = False,
) -> str:
    """The whole report for a failing exploration (``replayed``: of one replayed schedule)."""
    if not isinstance(result, ExplorationResult) or result.failure is None:
        msg = f"`result` must be the ExplorationResult of a failure, not {describe(result)}"
        raise InvalidArgumentError(msg)
    assert result.recording is not None
    failure = result.failure
    if failure.kind == "nondeterminism":
        return f"simloop: the replay is not the recorded run\n  {failure.summary()}"
    if failure.kind == "divergence":
        # The schedule does not fit the program: nothing about the program to report.
        return (
            "simloop: the schedule to replay does not fit this test (a token from another test, "
            f"or from an earlier version of this one)\n  {failure.summary()}"
        )
    lines = [headline(result, planned_runs, replayed=replayed)]
    lines.append(f"  {failure.summary()}")
    lines.append(
        f"  after {plural(failure.step, 'step')} at virtual time {format_seconds(failure.time_ns)}"
    )
    if result.nondeterminism:
        lines.append(f"  WARNING: {result.nondeterminism}")
    elif result.trace is not None and result.trace.events:
        lines.append("")
        lines.extend("  " + line for line in interleaving_table(result.trace.events, failure.step))
    lines.append("")
    if result.stale_run is not None:
        lines.append(
            "  no replay command: a replay would start from a different state (see above); "
            "make every run start from the same state first"
        )
    elif result.nondeterminism:
        lines.append(
            "  no replay command: the schedule does not reproduce the failure (see above); "
            "make the program deterministic first"
        )
    elif replay_command:
        lines.append(f"  replay: {replay_command}")
    if trace_path:
        lines.append(f"  trace:  {trace_path}")
    while not lines[-1]:
        lines.pop()  # nothing to say how to replay: no blank line at the end
    return "\n".join(lines)


def headline(result: ExplorationResult, planned_runs: int | None, *, replayed: bool = False) -> str:
    """First line: which schedule failed, and what shrinking found."""
    assert result.recording is not None
    deviations = result.recording.deviations
    of = f" of {planned_runs}" if planned_runs else ""
    scheduler = result.failing_scheduler
    if result.search and scheduler not in (result.search, SAVED_SCHEDULE) and not replayed:
        # Which search ran, and which of its schedulers failed (a Portfolio's PCT run, say).
        scheduler = f"{scheduler}, from {result.search}"
    where = f"failed on schedule {result.failing_run}{of} ({scheduler})"
    if result.stale_run is not None:
        return (
            f"simloop: {where}, but schedule {result.stale_run}, which passed, fails when run "
            "again: state outlives a run"
        )
    if result.nondeterminism:
        return f"simloop: {where}, but its replay did not fail the same way: nondeterministic"
    if deviations == 0:
        return (
            f"simloop: {where}, and it fails in asyncio's own order too: no interleaving is "
            "needed, so this is a plain bug, not a race"
        )
    needs = plural(deviations, "deviation") + " from asyncio's order"
    if result.shrink is None:
        # A replay is not shrunk by design; an exploration only when shrinking was turned off.
        return f"simloop: {where}, with {needs}" + ("" if replayed else " (not shrunk)")
    shrink = result.shrink
    notes = []
    if shrink.deviations_before != deviations:
        notes.append(
            f"shrunk from {shrink.deviations_before} in {plural(shrink.replays, 'replay')}"
        )
    checked = shrink.minimality()
    if checked:
        notes.append(checked)
    # "needs" only for what was checked: every schedule with fewer deviations was tried.
    verb = "needs" if shrink.minimal else "fails with"
    text = f"simloop: {where}; {verb} {needs}"
    return text + (f" ({'; '.join(notes)})" if notes else "")


def interleaving_table(events: Sequence[Step], failure_step: int) -> list[str]:
    """The steps leading to the failure: every deviating step, every step of the tasks those
    deviations touched (the task that ran ahead, the one it ran ahead of), and the last few
    steps. Rows left out are counted, never dropped silently.

    Internal callbacks of asyncio (a ``gather`` collecting results, the loop stopping) are
    left out; task steps, timers and user callbacks are shown. Values of
    :func:`simloop.watch` are columns.
    """
    relevant = [
        step
        for step in events
        if step.index < failure_step and (step.kind != "callback" or _is_user_callback(step))
    ]
    deviating = [step for step in relevant if step.deviates]
    touched = {step.task_id for step in deviating if step.task_id is not None}
    touched_labels = {step.label for step in deviating}
    for step in deviating:
        for other in relevant:
            if other.task_id is not None and step.deviation and other.label in step.deviation:
                touched.add(other.task_id)
                touched_labels.add(other.label)
    tail = {step.index for step in relevant[-CONTEXT_STEPS:]}
    shown = [
        step
        for step in relevant
        if step.deviates
        or step.index in tail
        or (step.task_id is not None and step.task_id in touched)
    ]
    labels = sorted({k for step in events for k in (step.watched or {})})
    values: dict[str, str] = {}
    watched_at: dict[int, dict[str, str]] = {}
    for step in events:
        if step.watched:
            values.update(step.watched)
        watched_at[step.index] = dict(values)
    rows: list[tuple[str, ...]] = [
        ("", "step", "vtime", "task", "resumed at", "code", *labels, "then")
    ]
    gaps: dict[int, str] = {}  # row index -> what was left out before it
    shown_indices = {step.index for step in shown}
    hidden: list[Step] = []
    for step in events:
        if step.index >= failure_step:
            break
        if step.index not in shown_indices:
            hidden.append(step)
            continue
        if hidden:
            gaps[len(rows)] = _left_out(hidden)
            rows.append(("",) * len(rows[0]))
            hidden = []
        current = watched_at.get(step.index, {})
        rows.append(_row(step, [current.get(label, "") for label in labels]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        if number in gaps:
            lines.append(f"  {'...'.rjust(widths[1])} {gaps[number]}")
            continue
        cells = [row[0].ljust(1)]
        cells += [row[1].rjust(widths[1])]
        cells += [cell.ljust(widths[i]) for i, cell in enumerate(row[2:-1], start=2)]
        cells.append(row[-1])
        lines.append(" ".join(cells).rstrip())
    if hidden:
        lines.append(f"  {'...'.rjust(widths[1])} {_left_out(hidden)}")
    if deviating:
        lines.append(
            f"* departs from asyncio's order ({plural(len(deviating), 'deviation')}, all shown)"
        )
    return lines


def _left_out(steps: Sequence[Step]) -> str:
    """What a gap in the table stands for: "9 steps of other tasks, 2 of asyncio's own"."""
    internal = sum(1 for s in steps if s.kind == "callback" and not _is_user_callback(s))
    other = len(steps) - internal
    parts = []
    if other:
        parts.append(f"{plural(other, 'step')} of other tasks")
    if internal:
        count = str(internal) if other else plural(internal, "step")
        parts.append(f"{count} of asyncio's own callbacks")
    return ", ".join(parts)


def _is_user_callback(step: Step) -> bool:
    return not step.label.startswith("asyncio.") and step.label != "_stop_loop_when_done"


def _row(step: Step, watched: list[str]) -> tuple[str, ...]:
    mark = "*" if step.deviates else ""
    if step.kind == "task":
        resumed = _short(step.resumed_at)
        code = _clip(step.resumed_source or "")
        ended = step.ended or ("finished" if step.suspended_at == "finished" else "suspended")
        then = f"waits at {_short(step.suspended_at)}" if ended == "suspended" else ended
        if step.cancellations:
            then += " (cancellation " + ", ".join(step.cancellations) + ")"
    else:
        resumed = code = then = ""
    if step.deviation:
        then += f"  <- {step.deviation}"
    return (
        mark,
        str(step.index),
        format_seconds(step.time_ns),
        step.label,
        resumed,
        code,
        *watched,
        then,
    )


def _short(location: str | None) -> str:
    """``"bank.py:18 in record"`` -> ``"bank.py:18 record"``."""
    return (location or "?").replace(" in ", " ")


def _clip(text: str) -> str:
    return text if len(text) <= _SOURCE_WIDTH else text[: _SOURCE_WIDTH - 3] + "..."
