"""Hypothesis strategies for program descriptions (see ``simprog.py``), and shared settings."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from simprog import Description, Op, all_ops

#: Sleep durations, in milliseconds.
SLEEP_MS = (1, 2, 3, 5, 8)

#: ``SIMLOOP_PROPERTY_EXAMPLES=<factor>`` multiplies every test's example count and lets
#: Hypothesis pick fresh random examples (and use its example database) instead of the fixed,
#: derandomized ones the default run uses. CI runs the default: the same examples every time,
#: so a failure there is never a fluke of the draw, and the suite's runtime stays predictable
#: on three Python versions. Run with a factor (e.g. 20) to hunt for new failures.
_FACTOR = int(os.environ.get("SIMLOOP_PROPERTY_EXAMPLES", "0") or 0)


def fast(max_examples: int, **overrides: Any) -> settings:
    """Settings for one property test: ``max_examples`` examples, no deadline."""
    if _FACTOR:
        base = settings(max_examples=max_examples * _FACTOR, deadline=None)
    else:
        base = settings(max_examples=max_examples, deadline=None, derandomize=True, database=None)
    return settings(base, suppress_health_check=[HealthCheck.too_slow], **overrides)


def thorough() -> bool:
    return bool(_FACTOR)


def _sleep(ms_values: tuple[int, ...]) -> st.SearchStrategy[Op]:
    return st.sampled_from(ms_values).map(lambda ms: ["sleep", ms])


_YIELD: st.SearchStrategy[Op] = st.just(["yield"])


@st.composite
def programs(
    draw: st.DrawFn,
    *,
    max_tasks: int = 4,
    max_ops: int = 5,
    sleep_ms: tuple[int, ...] = SLEEP_MS,
    one_failure_per_gather: bool = False,
) -> Description:
    """Small asyncio programs: 2 to ``max_tasks`` tasks of 1 to ``max_ops`` ops each.

    ``one_failure_per_gather`` keeps at most one raising child per gather. (It worked around a
    simloop bug, now fixed, that ``test_prop_regressions.py`` pins: with two, the second
    failure tripped the unretrieved-exception check before the gather retrieved it.)

    Queue puts and gets balance (a last task makes up the difference), and every event that
    is waited for is set by that task too, so that most programs finish; some still deadlock
    (a cancelled task skips its puts, an event is cleared after its last set), which runners
    treat as a legitimate outcome.
    """
    n_locks = draw(st.integers(0, 2))
    queues: list[int] = draw(st.lists(st.sampled_from([0, 1, 2]), max_size=2))
    n_events = draw(st.integers(0, 2))
    n_tasks = draw(st.integers(2, max_tasks))

    simple = st.one_of(_sleep(sleep_ms), _YIELD)
    shared: list[st.SearchStrategy[Op]] = [_sleep(sleep_ms), _YIELD]
    if n_locks:
        shared.append(
            st.tuples(st.integers(0, n_locks - 1), st.lists(simple, max_size=2)).map(
                lambda t: ["lock", t[0], t[1]]
            )
        )
    if n_events:
        shared.append(st.integers(0, n_events - 1).map(lambda e: ["set", e]))
    # A child raises ChildError, after its other ops, one time in four.
    child = st.tuples(st.lists(st.one_of(*shared), max_size=3), st.integers(0, 3)).map(
        lambda t: [*t[0], ["raise"]] if t[1] == 0 else t[0] or [["yield"]]
    )
    children = st.lists(child, min_size=1, max_size=3)

    top = [op.map(lambda op: [op]) for op in shared]  # each strategy gives a run of ops
    if queues:
        queue_op = st.tuples(
            st.sampled_from(["put", "get"]), st.integers(0, len(queues) - 1), st.integers(1, 3)
        )
        # Twice as likely as other ops, and 1 to 3 in a row (so that puts fill bounded queues).
        top.extend([queue_op.map(lambda t: [[t[0], t[1]]] * t[2])] * 2)
    if n_events:
        top.append(
            st.tuples(st.sampled_from(["clear", "wait", "wait"]), st.integers(0, n_events - 1)).map(
                lambda t: [list(t)]
            )
        )
    top.append(children.map(lambda c: [["group", c]]))
    gathered = children.map(_one_failure) if one_failure_per_gather else children
    top.append(gathered.map(lambda c: [["gather", c]]))

    tasks: list[list[Op]] = []
    for i in range(n_tasks):
        # Cancel another top-level task (never itself, never the balancing task).
        others = [t for t in range(n_tasks) if t != i]
        cancel = st.sampled_from(others).map(lambda t: [["cancel", t]])
        runs = draw(st.lists(st.one_of(*top, cancel), min_size=1, max_size=max_ops))
        tasks.append([op for run in runs for op in run])

    desc: Description = {"locks": n_locks, "queues": queues, "events": n_events, "tasks": tasks}
    balance = balancing_ops(desc)
    if balance:
        desc["tasks"].append(balance)
    return desc


def _one_failure(children: list[list[Op]]) -> list[list[Op]]:
    """``children`` with ``["raise"]`` dropped from all but the first child that has it."""
    kept: list[list[Op]] = []
    raising = False
    for ops in children:
        if ["raise"] in ops:
            if raising:
                ops = [op for op in ops if op != ["raise"]] or [["yield"]]
            raising = True
        kept.append(ops)
    return kept


def balancing_ops(desc: Description) -> list[Op]:
    """Ops for a last task: sets for waited events, gets/puts that balance each queue."""
    count: Counter[tuple[str, int]] = Counter()
    for op in all_ops(desc):
        if op[0] in ("put", "get", "wait"):
            count[op[0], op[1]] += 1
    sets: list[Op] = [["set", e] for e in range(desc["events"]) if count["wait", e]]
    fill: list[Op] = []
    for q in range(len(desc["queues"])):
        surplus = count["put", q] - count["get", q]
        fill.extend([["get", q]] * surplus if surplus > 0 else [["put", q]] * -surplus)
    if not fill:
        return sets
    return sets + fill + sets


seeds = st.integers(0, 2**32 - 1)

#: Loop options that change how a seeded run is scheduled.
variations = st.fixed_dictionaries(
    {
        "shuffle": st.booleans(),
        "timer_jitter": st.sampled_from([0.0, 0.0007, 0.002]),
    }
)
