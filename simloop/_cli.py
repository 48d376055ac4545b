"""The ``simloop`` command (also ``python -m simloop``).

simloop demo                 find a race in a bundled program, shrink it, show how to debug it
simloop run SCRIPT           run an asyncio script on SimLoop (virtual time)
simloop show TRACE           a saved trace, step by step (``trace`` is the old name)
simloop replay TRACE         re-run a trace's program; does it fail the same way?
simloop debug TRACE          stop the trace's run at any step, with the loop alive
simloop diff A B             the first step where two traces differ
simloop export TRACE --format perfetto|html -o OUT

Every command answers a bad input (a missing, corrupt or foreign file, a program that cannot
be found) with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import runpy
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import attrs

from simloop._cli_demo import run_demo
from simloop._debug import Console, Debugger, timeline_lines
from simloop._determinism import COMPARED, describe
from simloop._errors import SimulationError
from simloop._explore import AsyncProgram, replay, with_outcome
from simloop._install import simulated
from simloop._options import LoopOptions
from simloop._recorder import TraceRecorder
from simloop._report import interleaving_table
from simloop._text import plural
from simloop._trace import Trace


class UsageError(Exception):
    """A bad command line or input: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"simloop: {message}\n")


def _parser() -> argparse.ArgumentParser:
    program = "python -m simloop" if sys.argv[0].endswith("__main__.py") else "simloop"
    parser = _Parser(prog=program, description="Deterministic simulation testing for asyncio.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="find a race in a bundled program, shrink it, show how to replay and debug it"
    )
    demo.add_argument("--runs", type=int, default=100, help="schedules to try (default 100)")
    demo.add_argument("--seed", type=int, default=0, help="first random-walk seed (default 0)")
    demo.add_argument("--replay", metavar="TOKEN", help="replay one schedule (a replay token)")
    demo.add_argument(
        "--artifacts", default=".simloop", help="directory for the failing run's trace"
    )

    script = commands.add_parser("run", help="run an asyncio script on SimLoop")
    script.add_argument("path", help="the script (it calls asyncio.run() as usual)")
    script.add_argument("--seed", type=int, default=None, help="seed a random walk")
    script.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")

    for name, help_text in (
        ("show", "print a saved trace, step by step"),
        ("trace", "the old name of show"),
    ):
        show = commands.add_parser(name, help=help_text)
        show.add_argument("path", help="a trace file written by simloop")
        show.add_argument("--task", help="only the steps of this task (its name)")
        show.add_argument("--steps", metavar="A:B", help="only steps A to B")
        show.add_argument("--around", type=int, metavar="N", help="the steps around step N")

    again = commands.add_parser("replay", help="re-run a trace's program under its schedule")
    again.add_argument("path", help="a trace file")
    again.add_argument("--program", metavar="MODULE:FUNCTION", help="the program to run")
    again.add_argument("--save", metavar="OUT", help="write the replay's trace to OUT")
    again.add_argument(
        "--chains",
        action="store_true",
        help="record every step's whole await chain (with --save; `show` prints them)",
    )

    debug = commands.add_parser("debug", help="stop a trace's run at any step")
    debug.add_argument("path", help="a trace file (or a replay token, with --program)")
    debug.add_argument("--program", metavar="MODULE:FUNCTION", help="the program to run")
    debug.add_argument(
        "--stop-at", default="failure", help="step N, t=SECONDS, task=NAME or failure"
    )
    debug.add_argument(
        "--commands", metavar="FILE", help="read commands from FILE instead of the terminal"
    )

    diff = commands.add_parser("diff", help="the first difference between two traces")
    diff.add_argument("first", help="a trace file")
    diff.add_argument("second", help="another trace file")

    export = commands.add_parser("export", help="the trace as HTML or Perfetto JSON")
    export.add_argument("path", help="a trace file")
    export.add_argument("--format", choices=("perfetto", "html"), required=True)
    export.add_argument("-o", "--output", required=True, help="the file to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command: Callable[[argparse.Namespace], int] = _COMMANDS[args.command]
    try:
        return command(args)
    except (SimulationError, UsageError) as error:
        print(f"simloop: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


# --- commands -------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    return run_demo(
        runs=args.runs, seed=args.seed, replay=args.replay, artifacts=Path(args.artifacts)
    )


def _run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{args.path}: no such script")
    if not path.is_file():
        raise UsageError(f"{args.path}: not a script (a directory or a special file)")
    saved_argv = sys.argv
    sys.argv = [args.path, *args.args]
    try:
        with simulated(seed=args.seed):
            runpy.run_path(args.path, run_name="__main__")
    finally:
        sys.argv = saved_argv
    return 0


def _show(args: argparse.Namespace) -> int:
    trace = Trace.load(args.path)
    print(
        f"{args.path}: {trace.scheduler}, seed {trace.seed}, {plural(trace.steps, 'step')}, "
        f"{plural(trace.deviations, 'deviation')} from asyncio's order, "
        f"fingerprint {trace.fingerprint()}"
    )
    if trace.outcome:
        summary = trace.outcome.get("summary")
        print(f"outcome: {trace.outcome.get('kind')}" + (f": {summary}" if summary else ""))
    if trace.program:
        print(f"program: {_entry_text(trace.program)}")
    if not trace.events:
        print("(no events recorded: run with record_events=True)")
        return 0
    steps = trace.events
    first, last = steps[0].index, steps[-1].index
    if args.steps:
        first, last = _range(args.steps, first, last)
    if args.around is not None:
        first, last = max(first, args.around - 10), min(last, args.around + 10)
    chosen = [s for s in steps if first <= s.index <= last]
    if args.task:
        chosen = [s for s in chosen if s.task_id is not None and _names(s.label, args.task)]
        if not chosen:
            raise UsageError(f"no step of a task named {args.task!r} in {args.path}")
    lines = timeline_lines(chosen, 0, len(chosen) - 1, watch_columns=True)
    shown = {s.index for s in chosen}
    left_before = sum(1 for s in steps if s.index < first)
    left_after = sum(1 for s in steps if s.index > last)
    other = len(steps) - len(shown) - left_before - left_after
    if left_before:
        print(f"  ... {plural(left_before, 'earlier step')}")
    for line in lines:
        print(line)
    if other:
        print(f"  ... {plural(other, 'step')} of other tasks left out")
    if left_after:
        print(f"  ... {plural(left_after, 'later step')}")
    return 0


def _names(label: str, name: str) -> bool:
    task_name, _, coro = label.partition(" (")
    return name in (label, task_name, coro.rstrip(")"))


def _range(text: str, first: int, last: int) -> tuple[int, int]:
    a, sep, b = text.partition(":")
    try:
        start = int(a) if a else first
        end = int(b) if b else last
    except ValueError:
        raise UsageError(f"--steps must be A:B (step numbers), not {text!r}") from None
    if not sep:
        end = start
    return start, end


def _replay(args: argparse.Namespace) -> int:
    trace = Trace.load(args.path)
    entry = _entry(trace, args.program)
    if entry.get("kind") == "pytest":
        return _pytest(trace, entry, debug=None)
    if args.chains and not args.save:
        raise UsageError("--chains records the chains in the trace --save writes: give --save")
    main = _function(entry["target"])
    recorder = TraceRecorder(chains=True) if args.chains else None
    result = replay(main, trace, instruments=() if recorder is None else (recorder,))
    if args.save:
        saved = attrs.evolve(
            with_outcome(result.trace, result.failure),
            program=entry,
            events=list(recorder.events) if recorder is not None else result.trace.events,
        )
        try:
            saved.save(args.save)
        except OSError as error:
            raise UsageError(f"{args.save}: cannot write ({error.strerror or error})") from None
    recorded = (trace.outcome or {}).get("summary")
    now = None if result.failure is None else result.failure.summary()
    if result.failure is not None and result.failure.kind == "nondeterminism":
        print(f"{args.path}: the replay is not the recorded run")
        print(f"  {result.failure.exception}")
        return 1
    if result.failure is not None and result.failure.kind == "divergence":
        print(f"{args.path}: the schedule does not fit this program any more")
        print(f"  {result.failure.summary()}")
        return 1
    known = trace.outcome is not None
    same = recorded == now if known else True
    if now is None:
        print(f"{args.path}: the run passes" + ("" if same else f" (recorded: {recorded})"))
    else:
        what = (
            ("fails the same way" if same else f"fails differently (recorded: {recorded})")
            if known
            else "fails"
        )
        print(f"{args.path}: {what}: {now}")
        if result.trace.events:
            print()
            for line in interleaving_table(result.trace.events, result.failure.step):  # type: ignore[union-attr]
                print("  " + line)
    return 0 if same else 1


def _debug(args: argparse.Namespace) -> int:
    if args.path.startswith(("sl1-", "sl2-")):
        trace = Trace.from_token(args.path)
    else:
        trace = Trace.load(args.path)
    entry = _entry(trace, args.program)
    commands = None
    if args.commands:
        try:
            commands = Path(args.commands).read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise UsageError(f"{args.commands}: cannot read ({error.strerror})") from None
    if entry.get("kind") == "pytest":
        return _pytest(trace, entry, debug=args.stop_at, commands=commands)
    main = _function(entry["target"])
    options = LoopOptions.build(**trace.recorded_options())
    console = Console(commands, sys.stdout)
    Debugger(AsyncProgram(main, options), trace, console=console).run(_stop_at(args.stop_at))
    return 0


def _stop_at(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _diff(args: argparse.Namespace) -> int:
    a, b = Trace.load(args.first), Trace.load(args.second)
    if a.fingerprint() == b.fingerprint() and _same_events(a, b):
        print(f"the same run: fingerprint {a.fingerprint()}, {plural(a.steps, 'step')}")
        return 0
    for i, (pair_a, pair_b) in enumerate(
        zip(
            zip(a.choices, a.options, strict=True),
            zip(b.choices, b.options, strict=True),
            strict=False,
        )
    ):
        if pair_a != pair_b:
            kind = a.kind_of(i) or "choice"
            print(
                f"the schedules differ at choice {i} ({kind}): option {pair_a[0]} of "
                f"{pair_a[1]} in {args.first}, option {pair_b[0]} of {pair_b[1]} in {args.second}"
            )
            break
    if a.events and b.events:
        ours = {s.index: s for s in a.events}
        for step in b.events:
            mine = ours.get(step.index)
            if mine is None:
                continue
            if any(getattr(mine, f) != getattr(step, f) for f in COMPARED):
                print(f"the runs first differ at step {step.index}:")
                print(f"  {args.first}: {describe(mine)}")
                print(f"  {args.second}: {describe(step)}")
                return 1
        if len(a.events) != len(b.events):
            print(
                f"the runs agree step for step, then {args.first} has "
                f"{plural(len(a.events), 'step')} and {args.second} {len(b.events)}"
            )
            return 1
    elif a.steps != b.steps:
        print(f"{args.first} has {plural(a.steps, 'step')}, {args.second} {b.steps}")
    return 1


def _same_events(a: Trace, b: Trace) -> bool:
    if not a.events or not b.events:
        return True
    return len(a.events) == len(b.events) and all(
        getattr(x, f) == getattr(y, f)
        for x, y in zip(a.events, b.events, strict=True)
        for f in COMPARED
    )


def _export(args: argparse.Namespace) -> int:
    trace = Trace.load(args.path)
    if not trace.events:
        raise UsageError(f"{args.path}: the trace has no events to draw (record it with events)")
    if args.format == "html":
        text = trace.to_html(title=f"simloop: {Path(args.path).name}")
    else:
        text = json.dumps(trace.to_perfetto())
    target = Path(args.output)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{args.output}: cannot write ({error.strerror or error})") from None
    print(f"wrote {args.output}")
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _demo,
    "run": _run,
    "show": _show,
    "trace": _show,
    "replay": _replay,
    "debug": _debug,
    "diff": _diff,
    "export": _export,
}


# --- the program a trace came from -------------------------------------------------------


def _entry(trace: Trace, given: str | None) -> dict[str, str]:
    if given:
        return {"kind": "function", "target": given}
    if trace.program is None:
        raise UsageError(
            "the trace does not say which program made it (traces of simloop.explore, "
            "simloop.replay and the pytest plugin do): give it with --program MODULE:FUNCTION"
        )
    return trace.program


def _entry_text(entry: dict[str, str]) -> str:
    if entry.get("kind") == "pytest":
        return f"pytest {entry['target']}"
    return entry["target"]


def _function(target: str) -> Callable[[], Any]:
    """The function ``module:function`` (or ``path/to/file.py:function``) names."""
    module_name, sep, name = target.partition(":")
    if not sep or not module_name or not name:
        raise UsageError(f"a program is MODULE:FUNCTION, not {target!r}")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise UsageError(f"{module_name}: no such file")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules.setdefault(path.stem, module)
            spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except UsageError:
        raise
    except Exception as error:  # noqa: BLE001 - the user's module failed to import: say so
        raise UsageError(
            f"cannot import {module_name!r} for the program {target!r}: "
            f"{type(error).__name__}: {error}"
        ) from None
    found: Any = module
    for part in name.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise UsageError(f"{module_name!r} has no {name!r} (the program {target!r})")
    if not callable(found):
        raise UsageError(f"{target!r} is not a function")
    return found  # type: ignore[no-any-return]


def _pytest(
    trace: Trace, entry: dict[str, str], *, debug: str | None, commands: list[str] | None = None
) -> int:
    """Replay (or debug) a pytest test's trace by running the test under pytest."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        entry["target"],
        f"--simloop-replay={trace.token}",
        "-p",
        "no:cacheprovider",
    ]
    if debug is not None:
        command += ["-s", f"--simloop-debug={debug}"]
    cwd = entry.get("rootdir") or None
    if cwd is not None and not Path(cwd).is_dir():
        raise UsageError(f"the test's directory {cwd} does not exist here")
    shown = ["pytest", *command[3:]]
    print("$ " + " ".join(shlex.quote(part) for part in shown), flush=True)
    # Commands from a file go to the debugger in pytest through its standard input.
    stdin = None if commands is None else "".join(f"{c}\n" for c in commands)
    try:
        done = subprocess.run(command, cwd=cwd, check=False, input=stdin, text=True)
    except OSError as error:
        raise UsageError(f"cannot run pytest: {error}") from None
    # pytest's status 1 is a failing test: reproduced, if the trace recorded a failure.
    if trace.outcome is not None and debug is None:
        return 0 if done.returncode == 1 else 1
    return 0 if done.returncode in (0, 1) else done.returncode
