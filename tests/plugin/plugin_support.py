"""Helpers shared by the tests in tests/plugin (imported as a plain module, not a conftest).

The tests run pytest inside pytest with the ``pytester`` fixture: each writes a small test
project (an ini file and test modules), runs pytest on it, and checks the outcomes and the
output. The inner runs load the plugin through its ``pytest11`` entry point (simloop is
installed), as a user's run would; one test also loads it explicitly with ``-p``.
"""

from __future__ import annotations

import re
import textwrap

import pytest

#: The ini file of every inner run: pytest-asyncio (installed) warns without a fixture loop
#: scope, and warnings are errors, so that a warning from the plugin fails the inner run.
BASE_INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""


def ini(**keys: object) -> str:
    """BASE_INI with more keys: ``ini(simloop_runs=5)``."""
    return BASE_INI + "".join(f"{key} = {value}\n" for key, value in keys.items())


#: A lost update that needs one deviation from asyncio's order: the test runs ahead of the
#: deposit task between its read and its write. In asyncio's order it passes. With a file
#: named ``fixed`` in the working directory, the test awaits the deposit first: the fix.
RACE = """
import asyncio
import os

import pytest

state = {"balance": 0}


async def deposit(amount):
    balance = state["balance"]
    await asyncio.sleep(0)
    state["balance"] = balance + amount


@pytest.mark.simloop(MARKER)
async def test_race():
    state["balance"] = 0
    task = asyncio.create_task(deposit(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    if os.path.exists("fixed"):
        await task
    state["balance"] += 2
    await task
    assert state["balance"] == 3, f"lost update: {state['balance']}"
"""

#: The line of RACE's assertion, as reports show it (``test_race.py:25 in test_race``); pytester
#: writes modules without their leading blank lines.
RACE_ASSERT_LINE = next(
    number
    for number, line in enumerate(RACE.lstrip("\n").splitlines(), 1)
    if "assert state" in line
)

_TOKEN = re.compile(r"--simloop-replay=(sl2-[A-Za-z0-9_-]+)")


def race_module(marker: str = "runs=50") -> str:
    """RACE with ``@pytest.mark.simloop(<marker>)``."""
    return RACE.replace("MARKER", marker)


def source(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def replay_tokens(result: pytest.RunResult) -> set[str]:
    """Every replay token the output mentions."""
    return set(_TOKEN.findall(result.stdout.str()))


def replay_token(result: pytest.RunResult) -> str:
    """The one replay token of a run that reported one failure (in its note and report)."""
    tokens = replay_tokens(result)
    assert len(tokens) == 1, tokens
    return tokens.pop()


def section_lines(result: pytest.RunResult, title: str = "simloop") -> list[str]:
    """The lines of the first ``---- <title> ----`` report section of a failure."""
    lines = result.outlines
    header = re.compile(rf"^-+ {re.escape(title)} -+$")
    start = next(i for i, line in enumerate(lines) if header.match(line))
    end = start + 1
    while end < len(lines) and not re.match(r"^(_{3,}|={3,}|-{3,}) ", lines[end]):
        end += 1
    return lines[start + 1 : end]


def table_rows(lines: list[str]) -> list[str]:
    """The interleaving table of a report section: its header and rows."""
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["step", "vtime"])
    end = start
    while end < len(lines) and lines[end].strip():
        end += 1
    return lines[start:end]


def summary_lines(result: pytest.RunResult) -> list[str]:
    """The lines of the ``==== simloop ====`` terminal summary."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if re.match(r"^=+ simloop =+$", line))
    end = start + 1
    while end < len(lines) and not lines[end].startswith("="):
        end += 1
    return [line for line in lines[start + 1 : end] if line.strip()]


_EXPLORED = re.compile(r"^(\S+): (?:.*?: )?(\d+) schedules?, (\d+) steps?, ")


def schedules_run(result: pytest.RunResult) -> dict[str, int]:
    """From the ``-v`` terminal summary: how many schedules each explored test ran."""
    counts = {}
    for line in summary_lines(result):
        match = _EXPLORED.match(line)
        if match:
            counts[match[1]] = int(match[2])
    return counts


def failure_lines(result: pytest.RunResult, test: str) -> list[str]:
    """The lines of ``test``'s entry under FAILURES (its traceback and report sections)."""
    lines = result.outlines
    header = re.compile(rf"^_+ {re.escape(test)} _+$")
    start = next(i for i, line in enumerate(lines) if header.match(line))
    end = start + 1
    while end < len(lines) and not re.match(r"^(_{3,}|={3,}) ", lines[end]):
        end += 1
    return lines[start + 1 : end]


def line_number(module: str, text: str) -> int:
    """The line of ``module`` (as pytester writes it) that contains ``text``, the only one."""
    found = [i for i, line in enumerate(module.lstrip("\n").splitlines(), 1) if text in line]
    assert len(found) == 1, (text, found)
    return found[0]
