"""A synthetic family of bugs of known depth, and how well each search finds them.

    python bench/family.py                 # every member, every search (about a minute)
    python bench/family.py --runs 500      # fewer runs per measurement

Each member is the same program: a *victim* task and ``n - 1`` others, created in that order,
each taking ``steps`` steps (``await asyncio.sleep(0)``); the program fails when the victim is
*starved*: after its ``j``-th step, the other tasks run ``k`` steps in a row before its next
one. In asyncio's order the tasks take turns, so with ``k >= n`` every member passes there.
Its depth ``d`` (in PCT's sense: how many ordering constraints the bug needs) is

* 1 when ``j == 1``: the victim's first step comes first in every schedule (tasks created by
  one step start in the order they were created, in asyncio and so in simloop), so the one
  constraint is that it then loses ``k`` picks in a row (the saga bug of the search issue:
  about twenty lost picks after its first step);
* 2 when ``j >= 2``: the victim must also win the picks up to its ``j``-th step;
* 3 for the members marked ``comeback``: as depth 2, and then the victim must run again while
  another task still has steps to take (it overtakes back).

For each member and search this measures the probability per run of hitting the bug (runs
driven as ``simloop.explore`` does, without stopping at the first failure) and the runs to the
first hit, and checks PCT's documented guarantee: a run of ``PCT(d)`` hits a depth-``d`` bug
with probability at least ``1 / (n * k ** (d - 1))``, ``n`` being the tasks of the program
(the main task included) and ``k`` its scheduling choices per run. The targets: every member
meets that bound, and the Portfolio finds every member within 1,000 runs.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simloop
from simloop import lowlevel

# The real clock: inside a simulation, time.perf_counter reads virtual time (every reference
# to it, even one bound before the run).
perf_counter = simloop.lowlevel.real_time_functions()["perf_counter"]


class Starved(AssertionError):
    """The victim lost ``k`` picks in a row after its ``j``-th step."""


@dataclass(frozen=True)
class Member:
    """One bug of the family (see the module docstring)."""

    #: Tasks besides the main task: the victim and ``tasks - 1`` others.
    tasks: int
    steps: int
    j: int
    k: int
    comeback: bool = False

    @property
    def depth(self) -> int:
        if self.j == 1:
            return 1
        return 3 if self.comeback else 2

    @property
    def name(self) -> str:
        extra = ", comeback" if self.comeback else ""
        return f"d={self.depth} n={self.tasks} s={self.steps} j={self.j} k={self.k}{extra}"

    def program(self) -> Callable[[], Coroutine[Any, Any, None]]:
        member = self

        async def main() -> None:
            log: list[int] = []  # who took each step: 0 is the victim, created first

            async def task(who: int) -> None:
                for _ in range(member.steps):
                    log.append(who)
                    await asyncio.sleep(0)

            await asyncio.gather(*(task(who) for who in range(member.tasks)))
            if member.starved(log):
                raise Starved(f"the victim lost {member.k} picks in a row after step {member.j}")

        main.__qualname__ = f"family[{self.name}]"
        return main

    def starved(self, log: list[int]) -> bool:
        victim = [i for i, who in enumerate(log) if who == 0]
        start = victim[self.j - 1]
        following = victim[self.j] if self.j < len(victim) else len(log)
        if following - start - 1 < self.k:
            return False
        if not self.comeback:
            return True
        # After its comeback step, another task must still take a step.
        return following < len(log) and any(who != 0 for who in log[following + 1 :])


#: The family: depths 1-3, 3 to 6 tasks, starvation from 4 to 20 picks.
FAMILY = [
    Member(tasks=3, steps=6, j=1, k=6),
    Member(tasks=5, steps=4, j=1, k=12),
    Member(tasks=3, steps=11, j=1, k=20),  # the saga: twenty lost picks after step 1
    Member(tasks=3, steps=8, j=2, k=8),
    Member(tasks=4, steps=6, j=3, k=10),
    Member(tasks=6, steps=4, j=2, k=15),
    Member(tasks=3, steps=6, j=2, k=4, comeback=True),
    Member(tasks=4, steps=5, j=2, k=6, comeback=True),
    Member(tasks=3, steps=8, j=3, k=8, comeback=True),
]

#: The searches measured, by name: each makes a fresh search.
SEARCHES: dict[str, Callable[[], simloop.Search]] = {
    "RandomWalk": lambda: lowlevel.make_search("random"),
    "PCT(1)": lambda: simloop.PCT(1),
    "PCT(2)": lambda: simloop.PCT(2),
    "PCT(3)": lambda: simloop.PCT(3),
    "Portfolio": lambda: simloop.Portfolio(),
}


@dataclass
class Measure:
    runs: int
    hits: int
    first: int | None  # 1-based run of the first hit
    tasks: int  # the program's tasks, main task included
    choices: int  # the most scheduling choices of a run

    @property
    def rate(self) -> float:
        return self.hits / self.runs


def measure(member: Member, search: simloop.Search, runs: int, seed: int = 0) -> Measure:
    """Run ``runs`` schedules of ``search`` on ``member`` (as explore does, without stopping
    at a failure): how often the bug shows."""
    program = lowlevel.AsyncProgram(member.program(), lowlevel.LoopOptions())
    search = search.seeded(seed)
    hits = choices = tasks = 0
    first = None
    count = 0
    for scheduler in search.schedulers():
        result = program.run(scheduler, getattr(scheduler, "seed", None), record_events=False)
        search.run_finished(result.trace)
        count += 1
        choices = max(choices, len(result.trace.choices))
        if result.failure is not None:
            if not isinstance(result.failure.exception, Starved):
                raise AssertionError(f"{member.name}: {result.failure.summary()}")
            hits += 1
            if first is None:
                first = count
        if count >= runs:
            break
    tasks = member.tasks + 1
    return Measure(count, hits, first, tasks, choices)


def pct_bound(member: Member, m: Measure) -> float:
    """PCT's guarantee for this member: 1 / (n * k ** (d - 1))."""
    return 1 / (m.tasks * m.choices ** (member.depth - 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs per measurement (1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every search")
    args = parser.parse_args(argv)
    started = perf_counter()
    print(
        f"simloop {simloop.__version__} bug family: {len(FAMILY)} members, "
        f"{args.runs} runs per search, seed {args.seed}; Python {platform.python_version()}"
    )
    print("cell: hits per run (runs to the first hit; '-' none in the runs)")
    header = f"{'member':38} {'PCT bound':>9} " + " ".join(f"{name:>17}" for name in SEARCHES)
    print(header)
    print("-" * len(header))
    misses: list[str] = []
    for member in FAMILY:
        cells = []
        bound = None
        for name, make in SEARCHES.items():
            m = measure(member, make(), args.runs, args.seed)
            first = "-" if m.first is None else str(m.first)
            cells.append(f"{m.rate:9.4f} ({first:>5})")
            if name == f"PCT({member.depth})":
                bound = pct_bound(member, m)
                if m.rate < bound:
                    misses.append(f"{member.name}: PCT({member.depth}) {m.rate:.5f} < {bound:.5f}")
            if name == "Portfolio" and m.first is None:
                misses.append(f"{member.name}: Portfolio found nothing in {args.runs} runs")
        print(f"{member.name:38} {bound or 0:9.5f} " + " ".join(f"{c:>17}" for c in cells))
        sys.stdout.flush()
    print()
    print("Targets")
    pct_misses = [m for m in misses if "PCT" in m]
    portfolio_misses = [m for m in misses if "Portfolio" in m]
    for ok, text, found in (
        (not pct_misses, "PCT(d) meets 1/(n*k^(d-1)) on every member", pct_misses),
        (
            not portfolio_misses,
            f"Portfolio finds every member within {args.runs} runs",
            portfolio_misses,
        ),
    ):
        print(f"  [{'met' if ok else 'MISSED'}] {text}")
        for miss in found:
            print(f"      - {miss}")
    print(f"\n{perf_counter() - started:.1f}s")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
