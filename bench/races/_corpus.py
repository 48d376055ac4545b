"""What every race in the corpus declares: its pattern, depth, expected failure and both twins."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

Main = Callable[[], Coroutine[Any, Any, Any]]


@dataclass(frozen=True)
class Race:
    """One bug pattern: a buggy program and its fixed twin, each a zero-argument async test."""

    #: Short identifier (the module name).
    name: str
    #: The asyncio bug pattern, in a few words.
    pattern: str
    #: Minimum number of deviations from asyncio's order that exposes the bug: the smallest k
    #: for which ``Exhaustive(k)`` finds it (0: it fails in stock order).
    depth: int
    #: The ``Failure.kind`` the bug produces: "exception", "deadlock", "invariant"...
    kind: str
    #: The exception type the failing run ends with.
    error: type[BaseException]
    #: The program with the bug.
    buggy: Main
    #: The same program with the bug genuinely fixed: it must pass under every schedule.
    fixed: Main
    #: One line: what goes wrong.
    summary: str
    #: Whether every schedule of the fixed twin can be enumerated in the tests (a few
    #: thousand at most). A race among many unrelated tasks has too many: its twin is proven
    #: clean up to ``twin_bound`` deviations instead.
    enumerable: bool = True
    twin_bound: int = 2
