"""``python -m simloop``: the demo, running unmodified scripts, and reading traces.

python -m simloop demo               find a race in a bundled program, shrink it, replay it
python -m simloop demo --replay TOKEN
python -m simloop run script.py      run an asyncio script on SimLoop (virtual time)
python -m simloop trace FILE         print a saved trace step by step
"""

from __future__ import annotations

import argparse
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

from simloop._cli_demo import run_demo
from simloop._errors import SimulationError
from simloop._install import simulated
from simloop._text import plural
from simloop._trace import Trace


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simloop",
        description="Deterministic simulation testing for asyncio.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="find a race in a bundled program, shrink it, show how to replay it"
    )
    demo.add_argument("--runs", type=int, default=100, help="schedules to try (default 100)")
    demo.add_argument("--seed", type=int, default=0, help="first random-walk seed (default 0)")
    demo.add_argument("--replay", metavar="TOKEN", help="replay one schedule (a replay token)")
    demo.add_argument(
        "--artifacts",
        default=".simloop",
        help="directory for the failing run's trace (default .simloop)",
    )

    script = commands.add_parser("run", help="run an asyncio script on SimLoop")
    script.add_argument("path", help="the script (it calls asyncio.run() as usual)")
    script.add_argument("--seed", type=int, default=None, help="seed a random walk")
    script.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")

    trace = commands.add_parser("trace", help="print a saved trace, step by step")
    trace.add_argument("path", help="a trace file written by simloop")

    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            return run_demo(
                runs=args.runs, seed=args.seed, replay=args.replay, artifacts=Path(args.artifacts)
            )
        if args.command == "run":
            return run_script(args.path, args.args, seed=args.seed)
        return print_trace(args.path)
    except SimulationError as error:
        print(f"simloop: {error}", file=sys.stderr)
        return 2


def run_script(path: str, script_args: Sequence[str], *, seed: int | None) -> int:
    """Run a script as ``__main__`` with every event loop it makes a SimLoop."""
    saved_argv = sys.argv
    sys.argv = [path, *script_args]
    try:
        with simulated(seed=seed):
            runpy.run_path(path, run_name="__main__")
    finally:
        sys.argv = saved_argv
    return 0


def print_trace(path: str) -> int:
    trace = Trace.load(path)
    print(
        f"{path}: {trace.scheduler}, seed {trace.seed}, {plural(trace.steps, 'step')}, "
        f"{plural(trace.deviations, 'deviation')} from asyncio's order, "
        f"fingerprint {trace.fingerprint()}"
    )
    if trace.outcome:
        outcome = trace.outcome
        summary = outcome.get("summary")
        print(f"outcome: {outcome.get('kind')}" + (f": {summary}" if summary else ""))
    print(trace.format_events())
    return 0


if __name__ == "__main__":
    sys.exit(main())
