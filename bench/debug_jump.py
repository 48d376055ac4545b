"""How long the debugger takes to jump anywhere in a 10,000-step run (the goal: under 0.5 s).

    python bench/debug_jump.py            # best of 3
    python bench/debug_jump.py --steps 20000

The debugger re-executes the run from its start for every jump back (and runs on for a jump
forward), with an instrument that stops at the target step. This measures, on a program of
about ``--steps`` steps that fails at its end: the survey (one replay recording every step),
then each jump, from the moment a command is given to the moment the prompt is back at the
new step, with the loop alive there.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simloop

# The real clock: inside a simulation, time.perf_counter reads virtual time (every reference
# to it, even one bound before the run).
perf_counter = simloop.lowlevel.real_time_functions()["perf_counter"]

TASKS = 20


def make_program(steps: int) -> Any:
    rounds = max(1, steps // (2 * TASKS))

    async def worker(state: dict[str, int]) -> None:
        for _ in range(rounds):
            state["n"] += 1
            await asyncio.sleep(0.001)  # a task step and a timer each round

    async def main() -> None:
        state = {"n": 0}
        await asyncio.gather(*(worker(state) for _ in range(TASKS)))
        assert state["n"] < 0, "the run ends in a failure to stop at"

    return main


def measure(steps: int) -> dict[str, float]:
    main = make_program(steps)
    recording = simloop.replay(main, simloop.Trace(
        choices=[], options=[], steps=0, start_time_ns=0, end_time_ns=0, seed=None,
        scheduler="Fifo()").token).trace  # fmt: skip
    last = recording.steps
    jumps = [
        ("goto 0 (back from the failure)", "goto 0"),
        (f"goto {last // 2} (forward)", f"goto {last // 2}"),
        ("back 1 (from the middle)", "back 1"),
        (f"goto {last - 10} (forward, to the end)", f"goto {last - 10}"),
        ("back 1 (from the end: re-runs it all)", "back 1"),
        ("goto 1 (back, all the way)", "goto 1"),
        ("goto t=0.2 (forward, by virtual time)", "goto t=0.2"),
        ("until failure", "until failure"),
    ]
    times: dict[str, float] = {}
    script = iter(jumps)
    pending: list[tuple[str, float]] = []
    started = perf_counter()

    def next_command() -> str | None:
        now = perf_counter()
        if pending:
            label, began = pending.pop()
            times[label] = now - began
        else:
            times["survey, then stop at the failure"] = now - started
        entry = next(script, None)
        if entry is None:
            return None
        pending.append((entry[0], perf_counter()))
        return entry[1]

    simloop.debug(main, recording, commands=next_command, out=open("/dev/null", "w"))  # noqa: SIM115
    times["steps"] = float(last)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000, help="about this many steps")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many sessions")
    args = parser.parse_args()
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        for label, seconds in measure(args.steps).items():
            best[label] = min(best.get(label, seconds), seconds)
    steps = int(best.pop("steps"))
    print(f"simloop debugger, a run of {steps} steps (Python {sys.version.split()[0]}):")
    for label, seconds in best.items():
        print(f"  {label:<40} {seconds * 1000:7.0f} ms")
    worst = max(v for k, v in best.items() if not k.startswith("survey"))
    verdict = "under" if worst < 0.5 else "OVER"
    print(f"  slowest jump: {worst * 1000:.0f} ms ({verdict} the 0.5 s goal)")


if __name__ == "__main__":
    main()
