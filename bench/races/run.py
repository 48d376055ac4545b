"""How well does each search strategy find the bugs of the race corpus?

    python bench/races/run.py                 # every strategy, every race (under a minute)
    python bench/races/run.py --quick         # 200 runs per search instead of 1,000
    python bench/races/run.py --runs 300 --only lease_expiry,occ_fallback

For each strategy and each bug: whether it is found within ``--runs`` schedules, after how
many, how many deviations from asyncio's order the shrunk schedule has and how many replays
shrinking took. For each fixed twin: false positives (there must be none), and for the
exhaustive searches whether they completed their bounded proof, in how many schedules (their
runs on the fixed twins are not capped by ``--runs``, but by ``--proof-runs``). It also runs
each fixed twin under every schedule there is (Exhaustive with no bound, up to ``--proof-runs``)
and checks each bug's declared depth: ``Exhaustive(depth - 1)`` must miss it and
``Exhaustive(depth)`` find it.

``--noise N`` starts N unrelated tasks (three awaits each) next to every program, as other
requests would be in a real service: the bugs and their depths stay the same, but there are
many more schedules to search and to shrink.

Ends with one summary line per strategy and the targets met or missed; the exit status is 1
if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import simloop
from bench.races import RACES, Race

# The real clock: inside a simulation, time.perf_counter reads virtual time (every reference
# to it, even one bound before the run).
perf_counter = simloop.lowlevel.real_time_functions()["perf_counter"]

#: Each strategy makes a fresh ``scheduler=`` argument for one exploration.
STRATEGIES: dict[str, Callable[[], Any]] = {
    "RandomWalk": lambda: simloop.RandomWalk,
    "PCT(1)": lambda: simloop.PCT(1),
    "PCT(2)": lambda: simloop.PCT(2),
    "PCT(3)": lambda: simloop.PCT(3),
    "Portfolio": lambda: simloop.Portfolio(),
    "Exhaustive(1)": lambda: simloop.Exhaustive(1),
    "Exhaustive(2)": lambda: simloop.Exhaustive(2),
}


async def _bystander() -> None:
    """Unrelated work sharing the loop, as other requests and heartbeats do: a few awaits."""
    for _ in range(3):
        await asyncio.sleep(0)


def with_noise(race: Race, bystanders: int) -> Race:
    """The race with ``bystanders`` unrelated tasks started next to each program."""
    if not bystanders:
        return race

    def noisy(main: Any) -> Any:
        async def program() -> Any:
            tasks = [asyncio.create_task(_bystander()) for _ in range(bystanders)]
            try:
                return await main()
            finally:
                for task in tasks:
                    task.cancel()

        return program

    return replace(race, buggy=noisy(race.buggy), fixed=noisy(race.fixed))


@dataclass
class Hunt:
    """One strategy against one bug."""

    found: bool
    runs: int
    deviations: int | None = None  # after shrinking
    replays: int | None = None
    kind: str | None = None
    error: str | None = None
    expected: bool = True  # the failure is the one the race declares
    seconds: float = 0.0
    one_minimal: bool | None = None  # no single deviation of the result can go
    minimal: bool = False  # every schedule with fewer deviations was run: none fails so
    fewer_checked: int = 0  # schedules with fewer deviations run to check it


@dataclass
class Check:
    """One strategy against one fixed twin."""

    false_positive: str | None
    runs: int
    proof: str | None = None
    seconds: float = 0.0


@dataclass
class Totals:
    schedules: int = 0
    seconds: float = 0.0
    hunts: dict[str, Hunt] = field(default_factory=dict)
    checks: dict[str, Check] = field(default_factory=dict)


def hunt(race: Race, scheduler: Any, runs: int, seed: int) -> Hunt:
    result = simloop.explore(race.buggy, runs=runs, seed=seed, search=scheduler)
    if not result.found:
        return Hunt(found=False, runs=result.runs, seconds=result.seconds)
    assert result.failure is not None
    assert result.recording is not None
    assert result.shrink is not None
    error = type(result.failure.exception)
    return Hunt(
        found=True,
        runs=result.runs,
        deviations=result.recording.deviations,
        replays=result.shrink.replays,
        kind=result.failure.kind,
        error=error.__name__,
        expected=result.failure.kind == race.kind and issubclass(error, race.error),
        seconds=result.seconds,
        one_minimal=result.shrink.one_minimal,
        minimal=result.shrink.minimal,
        fewer_checked=result.shrink.fewer_checked,
    )


def check(race: Race, scheduler: Any, runs: int, seed: int) -> Check:
    result = simloop.explore(race.fixed, runs=runs, seed=seed, search=scheduler, shrink=False)
    false_positive = None
    if result.found:
        assert result.failure is not None
        false_positive = f"run {result.runs}: {result.failure.summary()}"
    return Check(false_positive, result.runs, result.proof, result.seconds)


def every_schedule(race: Race, cap: int) -> Check:
    """The fixed twin under Exhaustive with no effective bound: every schedule there is."""
    return check(race, simloop.Exhaustive(1_000_000), cap, 0)


def measured_depth(race: Race, limit: int) -> int | None:
    """The smallest k <= limit for which Exhaustive(k) finds the bug."""
    for k in range(limit + 1):
        if simloop.explore(race.buggy, runs=100_000, search=simloop.Exhaustive(k)).found:
            return k
    return None


def cell(h: Hunt, race: Race) -> str:
    if not h.found:
        return "-"
    text = f"{h.runs}/{h.deviations}/{h.replays}"
    if h.minimal:
        text += f"={h.fewer_checked}"
    elif h.one_minimal:
        text += "~"
    if not h.expected:
        text += "!"
    elif h.deviations is not None and h.deviations > race.depth + 1:
        text += "*"
    return text


def check_cell(c: Check) -> str:
    if c.false_positive:
        return "FP"
    if c.proof is not None:
        return f"proof:{c.runs}"
    return f"ok:{c.runs}"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            text.ljust(w) if i < 2 else text.rjust(w)
            for i, (text, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="schedules per search (1000)")
    parser.add_argument("--quick", action="store_true", help="200 schedules per search")
    parser.add_argument("--only", default="", help="comma-separated race names")
    parser.add_argument("--strategies", default="", help="comma-separated strategy names")
    parser.add_argument("--seed", type=int, default=0, help="first seed of seeded searches")
    parser.add_argument(
        "--noise", type=int, default=0, help="unrelated tasks (3 awaits each) next to each program"
    )
    parser.add_argument(
        "--proof-runs", type=int, default=100_000, help="cap on exhaustive runs on fixed twins"
    )
    args = parser.parse_args(argv)
    runs = 200 if args.quick and args.runs == 1000 else args.runs
    races = list(RACES)
    if args.noise < 0:
        parser.error("--noise must be >= 0")
    if args.only:
        names = set(args.only.split(","))
        unknown = names - {race.name for race in races}
        if unknown:
            parser.error(f"unknown races: {', '.join(sorted(unknown))}")
        races = [race for race in races if race.name in names]
    races = [with_noise(race, args.noise) for race in races]
    strategies = dict(STRATEGIES)
    if args.strategies:
        wanted = args.strategies.split(",")
        unknown = set(wanted) - set(strategies)
        if unknown:
            parser.error(f"unknown strategies: {', '.join(sorted(unknown))}")
        strategies = {name: STRATEGIES[name] for name in wanted}

    started = perf_counter()
    print(
        f"simloop {simloop.__version__} race corpus: {len(races)} bugs, {len(strategies)} "
        f"strategies, {runs} runs per search, seed {args.seed}"
        f"{f', {args.noise} bystander tasks' if args.noise else ''}; Python "
        f"{platform.python_version()}"
    )
    totals = {name: Totals() for name in strategies}
    depths: dict[str, int | None] = {}
    everything: dict[str, Check] = {}
    for race in races:
        depths[race.name] = measured_depth(race, race.depth)
        everything[race.name] = every_schedule(race, args.proof_runs)
        for name, make in strategies.items():
            h = hunt(race, make(), runs, args.seed)
            exhaustive = name.startswith("Exhaustive")
            c = check(race, make(), args.proof_runs if exhaustive else runs, args.seed)
            t = totals[name]
            t.hunts[race.name], t.checks[race.name] = h, c
            t.schedules += h.runs + (h.replays or 0) + c.runs
            t.seconds += h.seconds + c.seconds

    legend = (
        "cell: runs to the first failure / deviations after shrinking / shrink replays, "
        "then '=N' proven minimal (all N schedules with fewer deviations run, none fails this "
        "way) or '~' 1-minimal only; "
        f"'-' not found in {runs} runs; '*' shrunk to more than depth+1 deviations; "
        "'!' failed, but not the way the race declares"
    )
    header = ["bug", "pattern", "depth", *strategies]
    rows = []
    for race in races:
        depth = str(race.depth)
        if depths[race.name] != race.depth:
            depth += f" (measured {depths[race.name]})"
        row = [race.name, race.pattern, depth]
        row += [cell(totals[name].hunts[race.name], race) for name in strategies]
        rows.append(row)
    print()
    print("Bugs (" + legend + ")")
    print(table(rows, header))

    header = ["fixed twin", "pattern", "depth", *strategies, "every schedule"]
    rows = []
    for race in races:
        row = [race.name, race.pattern, str(race.depth)]
        row += [check_cell(totals[name].checks[race.name]) for name in strategies]
        row.append(check_cell(everything[race.name]))
        rows.append(row)
    print()
    print(
        "Fixed twins (ok:N passed N runs; proof:N the exhaustive search covered its whole "
        "bound in N schedules; FP a false positive; 'every schedule': Exhaustive with no bound "
        "on deviations)"
    )
    print(table(rows, header))

    print()
    print("Summary")
    for name, t in totals.items():
        hunts = [t.hunts[race.name] for race in races]
        found = [h for h in hunts if h.found]
        false = sum(1 for race in races if t.checks[race.name].false_positive)
        fixed_runs = sum(t.checks[race.name].runs for race in races)
        over = [
            race.name
            for race in races
            if t.hunts[race.name].found and t.hunts[race.name].deviations > race.depth + 1  # type: ignore[operator]
        ]
        text = f"  {name:14} found {len(found)}/{len(races)}"
        if found:
            counts = [h.runs for h in found]
            text += f" (runs: median {statistics.median(counts):g}, max {max(counts)})"
        text += f"; shrunk to <= depth+1: {len(found) - len(over)}/{len(found)}"
        proven = [h for h in found if h.minimal]
        text += f"; proven minimal: {len(proven)}/{len(found)}"
        if proven:
            text += f" (fewer checked: max {max(h.fewer_checked for h in proven)})"
        text += f", 1-minimal: {sum(1 for h in found if h.one_minimal)}/{len(found)}"
        text += f"; false positives {false} in {fixed_runs} runs"
        if name.startswith("Exhaustive"):
            proofs = sum(1 for race in races if t.checks[race.name].proof)
            text += f" ({proofs}/{len(races)} proofs)"
        rate = t.schedules / t.seconds if t.seconds else 0.0
        text += f"; {rate:,.0f} schedules/s"
        print(text)

    missed: list[str] = []
    print()
    print("Targets")

    def target(ok: bool, text: str, misses: list[str]) -> None:
        print(f"  [{'met' if ok else 'MISSED'}] {text}")
        for miss in misses:
            print(f"      - {miss}")
        if not ok:
            missed.append(text)

    if "Portfolio" in totals:
        t = totals["Portfolio"]
        misses = [r.name for r in races if not t.hunts[r.name].found]
        target(not misses, f"Portfolio finds every bug within {runs} runs", misses)
    if "Exhaustive(2)" in totals:
        t = totals["Exhaustive(2)"]
        misses = [
            f"{r.name} (depth {r.depth}): not found in {t.hunts[r.name].runs} runs"
            for r in races
            if r.depth <= 2 and not t.hunts[r.name].found
        ]
        target(not misses, "Exhaustive(2) finds every bug of depth <= 2", misses)
        misses = [
            f"{r.name}: {c.false_positive or f'stopped after {c.runs} schedules'}"
            for r in races
            if (c := t.checks[r.name]).proof is None
        ]
        target(not misses, "Exhaustive(2) proves every fixed twin clean up to 2 deviations", misses)
    misses = [
        f"{r.name} (depth {r.depth}) under {name}: {t.hunts[r.name].deviations} deviations"
        for name, t in totals.items()
        for r in races
        if t.hunts[r.name].found and t.hunts[r.name].deviations > r.depth + 1  # type: ignore[operator]
    ]
    target(not misses, "shrunk schedules have at most depth+1 deviations", misses)
    misses = [
        f"{r.name} (depth {r.depth}) under {name}: {t.hunts[r.name].deviations} deviations, "
        + ("1-minimal only" if t.hunts[r.name].one_minimal else "not checked")
        for name, t in totals.items()
        for r in races
        if t.hunts[r.name].found and not t.hunts[r.name].minimal
    ]
    target(not misses, "every shrunk schedule is proven minimal", misses)
    misses = [
        f"{r.name} (depth {r.depth}) under {name}: {t.hunts[r.name].deviations} deviations"
        for name, t in totals.items()
        for r in races
        if t.hunts[r.name].found and t.hunts[r.name].deviations != r.depth
    ]
    target(not misses, "every shrunk schedule has exactly the bug's depth", misses)
    misses = [
        f"{r.name} under {name}: {t.hunts[r.name].kind} {t.hunts[r.name].error}, "
        f"declared {r.kind} {r.error.__name__}"
        for name, t in totals.items()
        for r in races
        if t.hunts[r.name].found and not t.hunts[r.name].expected
    ]
    target(not misses, "every bug fails the way it declares", misses)
    misses = [
        f"{r.name} under {name}: {t.checks[r.name].false_positive}"
        for name, t in totals.items()
        for r in races
        if t.checks[r.name].false_positive
    ]
    target(not misses, "no false positives on the fixed twins", misses)
    misses = [
        f"{r.name}: {c.false_positive}" for r in races if (c := everything[r.name]).false_positive
    ]
    target(not misses, "every fixed twin passes every schedule (unbounded Exhaustive)", misses)
    open_ = [
        r.name for r in races if (c := everything[r.name]).proof is None and not c.false_positive
    ]
    if open_:
        print(
            f"      ({len(open_)} of {len(races)} twins have more than {args.proof_runs} "
            f"schedules: only that many were run: {', '.join(open_)})"
        )
    misses = [
        f"{r.name}: declared {r.depth}, measured {depths[r.name]}"
        for r in races
        if depths[r.name] != r.depth
    ]
    target(
        not misses, "declared depths match Exhaustive (and depth >= 1: stock order passes)", misses
    )
    print()
    print(f"{perf_counter() - started:.1f}s")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
