"""With ``Fifo``, SimLoop runs a program exactly as stock asyncio does.

The stock side is :class:`simprog.ReferenceLoop`: ``asyncio.BaseEventLoop`` with its own
``_run_once``, on a fake clock that a fake selector advances instantly. Both loops run the
same program description; their observable logs (who did what, in which order, at which
virtual time), results and outcomes must be equal.

Stock asyncio leaves one order undefined: timers due at the same instant fire in heap order,
which depends on the heap's history. The reference loop breaks such *timer ties* in the order
the timers were scheduled (:class:`simprog.SequencedTimer`), one of the orders stock asyncio
allows and the one ``Fifo`` promises, so programs with ties are compared too: when tied timers
fire, and in which order, is part of what must match. Ties are counted by running the program
with ``Replay([])`` (stock order, but in lanes mode, where the loop makes a TIMER_TIE choice
whenever several due timers share a deadline); the test checks that enough programs have them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import event, given
from simprog import (
    ChoiceCounter,
    Outcome,
    features,
    run_on_loop,
    run_reference,
    run_sim,
    run_simloop_run,
)
from simprog_strategies import fast, programs, thorough

import simloop

#: Features of the stock run that the tie-free programs must exhibit, and how often (at
#: least) among the checked programs, so that the differential test is not vacuous.
EXPECTED = {
    "slept": 0.3,
    "interleaved": 0.3,
    "lock contended": 0.03,
    "get blocked": 0.05,
    "put blocked": 0.03,
    "event wait blocked": 0.03,
    "cancel effective": 0.1,
    "task cancelled": 0.1,
    "group-done": 0.05,
    "group-failed": 0.05,
    "gather-done": 0.05,
    "gather-failed": 0.05,
    "outcome:ok": 0.5,
    "outcome:deadlock": 0.01,
}


EXAMPLES = 250


def run_with_tie_count(desc: dict[str, Any]) -> tuple[int, Outcome]:
    """Run in stock order in lanes mode; return how many TIMER_TIE choices it made."""
    counter = ChoiceCounter()
    loop = simloop.SimLoop(scheduler=simloop.Replay([]))
    loop.add_instrument(counter)
    outcome = run_on_loop(desc, loop)
    return counter.counts["timer.tie"], outcome


def test_fifo_matches_stock_asyncio() -> None:
    seen: Counter[str] = Counter()

    @fast(EXAMPLES)
    @given(desc=programs())
    def check(desc: dict[str, Any]) -> None:
        ties, lanes = run_with_tie_count(desc)
        event("timer tie" if ties else "no timer tie")
        seen["ties" if ties else "no ties"] += 1

        stock = run_reference(desc)
        assert stock.kind in ("ok", "deadlock"), stock.result
        for feature in features(stock):
            event(feature)
            seen[feature] += 1

        # Fifo, on the fast batch loop.
        fifo = run_sim(desc)
        assert fifo.observable() == stock.observable()
        # Stock order in lanes mode, on the observed batch loop.
        assert lanes.observable() == stock.observable()
        # Stock order in lanes mode, on the chosen hot path (no instrument).
        chosen = run_sim(desc, scheduler=simloop.Replay([], strict=False))
        assert chosen.observable() == stock.observable()
        # Through simloop.run, which cleans up leftover tasks as the runner does.
        assert run_simloop_run(desc).observable() == stock.observable()

    check()

    checked = seen["ties"] + seen["no ties"]
    # Both kinds of program are common...
    assert seen["ties"] >= 0.2 * checked, seen
    assert seen["no ties"] >= 0.2 * checked, seen
    # ...and they do the interesting things, each in a fair share of them.
    if not thorough():
        assert checked >= EXAMPLES, seen
    missing = {f: seen[f] for f, share in EXPECTED.items() if seen[f] < share * checked}
    assert not missing, (missing, seen)


def test_reference_loop_sees_timer_order_by_deadline() -> None:
    """The reference loop itself: a sanity check that it is a faithful stock loop."""
    desc = {
        "locks": 0,
        "queues": [],
        "events": 0,
        "tasks": [[["sleep", 5], ["sleep", 1]], [["sleep", 3], ["yield"], ["sleep", 8]]],
    }
    stock = run_reference(desc)
    wakes = [(entry[0], entry[-1]) for entry in stock.log if entry[1] == "woke"]
    assert wakes == [("w1", 3_000_000), ("w0", 5_000_000), ("w0", 6_000_000), ("w1", 11_000_000)]
    assert stock.kind == "ok"
    assert stock.observable() == run_sim(desc).observable()
