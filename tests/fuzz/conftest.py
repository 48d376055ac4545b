"""The fuzz suite: every public entry point fed wrong types, wrong values, extreme numbers and
hostile tokens (see fuzz_support.py for the contract it checks).

Two profiles: the default, for CI, draws a fixed set of examples per test (derandomized, so a
failure there is never a fluke of the draw); ``SIMLOOP_FUZZ_EXAMPLES=<n>`` draws ``n`` random
examples per test instead (``python bench/fuzz.py`` runs that, for a longer hunt). The terminal
summary counts, per entry point, how many calls got a named error and how many were accepted.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

import pytest

# Helpers in this module assert; show the compared values when they fail.
pytest.register_assert_rewrite("fuzz_support")

from fuzz_support import Contract  # noqa: E402 - after the rewrite is registered


@pytest.fixture
def contract(request: pytest.FixtureRequest) -> Iterator[Contract]:
    checker = Contract()
    yield checker
    # Travels with the report (also from an xdist worker) to the summary below.
    request.node.user_properties.append(
        ("fuzz", [[entry, outcome, n] for (entry, outcome), n in checker.counts.items()])
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    totals: collections.Counter[tuple[str, str]] = collections.Counter()
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "teardown":
                continue
            for key, value in getattr(report, "user_properties", ()):
                if key == "fuzz":
                    for entry, outcome, n in value:
                        totals[entry, outcome] += n
    if not totals:
        return
    entries = sorted({entry for entry, _ in totals})
    outcomes = sorted({outcome for _, outcome in totals})
    terminalreporter.section("fuzz: calls per entry point")
    width = max(len(entry) for entry in entries)
    terminalreporter.write_line(
        f"{'entry point':<{width}}  " + "  ".join(f"{o:>13}" for o in outcomes) + "  total"
    )
    for entry in entries:
        row = [totals[entry, outcome] for outcome in outcomes]
        terminalreporter.write_line(
            f"{entry:<{width}}  " + "  ".join(f"{n:>13}" for n in row) + f"  {sum(row):>5}"
        )
    column = [sum(totals[e, o] for e in entries) for o in outcomes]
    terminalreporter.write_line(
        f"{'all':<{width}}  " + "  ".join(f"{n:>13}" for n in column) + f"  {sum(column):>5}"
    )
