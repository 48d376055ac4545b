"""The determinism torture run: generated programs, every entry path, several processes.

    python bench/torture.py                      # 10,000 programs, 3 processes (about 20 min)
    python bench/torture.py --programs 500       # a quick look
    python bench/torture.py --plugin 300         # also 300 programs as pytest tests

Each program is generated from its number: tasks that sleep (often to the same instant),
yield, take locks, pass messages on a queue, wait for events with timeouts, read the guarded
``random``, ``uuid`` and clocks, run blocking functions in executors (``run_in_executor`` and
``asyncio.to_thread``, with ``time.sleep`` inside), start async generators and leave them open
(kept, dropped, or held by a reference cycle), make reference cycles of their own, fail in
task groups (exception groups, caught with ``except*``), cancel each other, and update a shared
counter in a way some schedules break. Every program logs what it does, with virtual times.

A run's *fingerprint* is a digest of that log, the outcome and the trace's own fingerprint.
Per program, with its number as the seed, on each entry path:

* ``simloop.run``, twice in the process (with other loops' tasks and allocations between);
* ``asyncio.Runner(loop_factory=...)`` (and ``asyncio.run(..., loop_factory=...)`` on 3.12+);
* a recorded run replayed from its token and from its trace file (same fingerprint);
* ``simloop.explore`` (a few schedules; a failure is shrunk and replayed, and must replay the
  same way from its token and its file, never be called nondeterministic);

and the whole set again in other processes, with other ``PYTHONHASHSEED`` values, the
programs in reverse order, and the garbage collector running far more often: every
fingerprint must be the same everywhere. With ``--plugin N``,
the first ``N`` programs also run as ``@pytest.mark.simloop`` tests, in two pytest processes
with different hash seeds, whose logs must agree. The result is the number of divergences
(target: 0).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simloop
from simloop import lowlevel

ROOT = Path(__file__).resolve().parent.parent

# --- programs -----------------------------------------------------------------------------------


def describe_program(number: int) -> dict[str, Any]:
    """The program with this number: a description that is JSON and the same everywhere."""
    rng = random.Random(number)
    tasks = []
    for _ in range(rng.randint(2, 5)):
        ops = []
        for _ in range(rng.randint(1, 6)):
            kind = rng.choice(OP_KINDS)
            if kind == "sleep":
                ops.append(["sleep", rng.choice([0, 1, 1, 2, 5])])
            elif kind == "lock":
                ops.append(["lock", rng.randrange(2), rng.choice([0, 1, 2])])
            elif kind == "wait":
                ops.append(["wait", rng.randrange(2), rng.choice([1, 3, 10])])
            elif kind == "executor":
                ops.append(["executor", rng.choice([0, 1, 4]), rng.choice(["loop", "to_thread"])])
            elif kind == "agen":
                ops.append(["agen", rng.choice(["keep", "drop", "cycle"])])
            elif kind == "group":
                ops.append(["group", rng.randint(1, 3), rng.randrange(3)])
            else:
                ops.append([kind])
        tasks.append(ops)
    return {"tasks": tasks, "check": rng.random() < 0.5}


OP_KINDS = [
    "sleep",
    "sleep",
    "yield",
    "lock",
    "put",
    "get",
    "set",
    "wait",
    "random",
    "executor",
    "agen",
    "cycle",
    "group",
    "cancel",
    "increment",
]


class Program:
    """One run of a described program: ``main()`` runs it and fills ``log``."""

    def __init__(self, desc: dict[str, Any]) -> None:
        self.desc = desc
        self.log: list[Any] = []
        self.kept: list[Any] = []  # async generators left open, kept alive by the program

    def note(self, *what: Any) -> None:
        self.log.append([*what, asyncio.get_running_loop().time()])

    async def gen(self, who: str) -> Any:
        try:
            for i in range(3):
                yield i
        finally:
            self.note(who, "agen closed")
            await asyncio.sleep(0)

    async def main(self) -> Any:
        self.locks = [asyncio.Lock(), asyncio.Lock()]
        self.events = [asyncio.Event(), asyncio.Event()]
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.counter = {"value": 0, "expected": 0}
        self.workers: list[asyncio.Task[Any]] = []
        for i, ops in enumerate(self.desc["tasks"]):
            self.workers.append(asyncio.create_task(self.worker(f"w{i}", ops), name=f"w{i}"))
        results = await asyncio.gather(*self.workers, return_exceptions=True)
        outcome = [_shown(r) for r in results]
        self.note("main", "gathered", outcome)
        # Unblock whatever still waits, and drain the queue.
        for event in self.events:
            event.set()
        while not self.queue.empty():
            self.note("main", "drained", self.queue.get_nowait())
        if self.desc["check"]:
            assert self.counter["value"] == self.counter["expected"], (
                f"lost update: {self.counter['value']} of {self.counter['expected']}"
            )
        return outcome

    async def worker(self, who: str, ops: list[Any]) -> str:
        for op in ops:
            await self.step(who, op)
        return f"{who} done"

    async def step(self, who: str, op: list[Any]) -> None:
        kind = op[0]
        if kind == "sleep":
            await asyncio.sleep(op[1] / 1000)
            self.note(who, "slept", op[1])
        elif kind == "yield":
            await asyncio.sleep(0)
            self.note(who, "yielded")
        elif kind == "lock":
            async with self.locks[op[1]]:
                self.note(who, "locked", op[1])
                await asyncio.sleep(op[2] / 1000)
        elif kind == "put":
            await self.queue.put(who)
            self.note(who, "put")
        elif kind == "get":
            try:
                item = await asyncio.wait_for(self.queue.get(), 0.004)
                self.note(who, "got", item)
            except TimeoutError:
                self.note(who, "get timed out")
        elif kind == "set":
            self.events[len(who) % 2].set()
            self.note(who, "set")
        elif kind == "wait":
            try:
                async with asyncio.timeout(op[2] / 1000):
                    await self.events[op[1]].wait()
                self.note(who, "waited", op[1])
            except TimeoutError:
                self.note(who, "wait timed out", op[1])
        elif kind == "random":
            self.note(who, "random", random.random(), str(uuid.uuid4()), time.time())
        elif kind == "executor":
            self.note(who, "executor", await self.blocking(op[1], op[2]))
        elif kind == "agen":
            await self.async_generator(who, op[1])
        elif kind == "cycle":
            node: dict[str, Any] = {"name": who}
            node["self"] = node
            node["future"] = asyncio.get_running_loop().create_future()
            node["future"].set_result(len(self.log))
            node["callback"] = lambda: node
            self.note(who, "cycle", node["future"].result())
            del node
        elif kind == "group":
            await self.group(who, op[1], op[2])
        elif kind == "cancel":
            others = [w for w in self.workers if not w.done() and w.get_name() != who]
            if others:
                others[0].cancel()
                self.note(who, "cancelled", others[0].get_name())
        elif kind == "increment":
            value = self.counter["value"]
            self.counter["expected"] += 1
            await asyncio.sleep(0)
            self.counter["value"] = value + 1
            self.note(who, "incremented", value + 1)

    async def blocking(self, ms: int, how: str) -> Any:
        def work() -> float:
            time.sleep(ms / 1000)  # virtual time, inside the simulation
            return round(random.random(), 6)

        if how == "to_thread":
            return await asyncio.to_thread(work)
        return await asyncio.get_running_loop().run_in_executor(None, work)

    async def async_generator(self, who: str, how: str) -> None:
        generator = self.gen(who)
        self.note(who, "agen", how, await generator.__anext__())
        if how == "keep":
            self.kept.append(generator)  # left open: closed by the loop's cleanup
        elif how == "cycle":
            holder: dict[str, Any] = {"generator": generator}
            holder["self"] = holder  # only the garbage collector frees it
            del holder
        del generator  # "drop": freed now, its finalizer closes it

    async def group(self, who: str, children: int, failing: int) -> None:
        async def child(i: int) -> int:
            await asyncio.sleep(i / 1000)
            if i < failing:
                raise ValueError(f"{who} child {i}")
            return i

        try:
            async with asyncio.TaskGroup() as group:
                for i in range(children):
                    group.create_task(child(i))
            self.note(who, "group done")
        except* ValueError as errors:
            self.note(who, "group failed", sorted(str(e) for e in errors.exceptions))


def _shown(value: Any) -> str:
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return str(value)


# --- fingerprints -------------------------------------------------------------------------------


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def outcome_of(result: lowlevel.RunResult) -> str:  # type: ignore[name-defined]
    failure = result.failure
    return "ok" if failure is None else failure.summary()


def run_once(number: int, path: str, tmp: Path) -> dict[str, str]:
    """The fingerprints of program ``number`` on one entry path (several for the replays)."""
    desc = describe_program(number)
    if path == "run":
        program = Program(desc)
        loops: list[simloop.SimLoop] = []

        class Capture(simloop.Instrument):
            def run_started(self, loop: simloop.SimLoop) -> None:
                if not loops:
                    loops.append(loop)

        try:
            value: Any = simloop.run(program.main(), seed=number, instruments=[Capture()])
        except Exception as exc:  # noqa: BLE001 - a failing program is a result too
            value = _shown(exc)
        return {"run": digest(program.log, value, loops[0].trace.fingerprint())}
    if path == "runner":
        program = Program(desc)
        factory = simloop.loop_factory(seed=number, fail_on_unhandled=True)
        try:
            with asyncio.Runner(loop_factory=factory) as runner:
                value = runner.run(program.main())
                loop = runner.get_loop()
                trace = loop.trace
        except Exception as exc:  # noqa: BLE001 - a failing program is a result too
            value, trace = _shown(exc), None
        return {"runner": digest(program.log, value, trace and trace.fingerprint())}
    if path == "replay":
        program = Program(desc)
        loop = simloop.SimLoop(seed=number)
        result = lowlevel.run_coroutine(loop, program.main())
        recorded = digest(program.log, outcome_of(result), result.trace.fingerprint())
        found = {"recorded": recorded}
        trace_file = tmp / f"{number}.json"
        result.trace.save(trace_file)
        for source, recording in (("token", result.trace.token), ("file", trace_file)):
            replayed = Program(desc)
            again = simloop.replay(lambda replayed=replayed: replayed.main(), recording)
            found[f"replay from {source}"] = digest(
                replayed.log, outcome_of(again), again.trace.fingerprint()
            )
        trace_file.unlink()
        return found
    if path == "explore":
        programs: list[Program] = []

        def main() -> Any:
            programs.append(Program(desc))
            return programs[-1].main()

        result = simloop.explore(main, runs=8, seed=number, shrink_budget=20)
        if not result.found:
            return {"explore": digest("passed", result.runs, result.total_steps)}
        assert result.recording is not None
        found = {
            "explore": digest(
                result.failure and result.failure.summary(),
                result.nondeterminism,
                result.recording.fingerprint(),
            )
        }
        if result.nondeterminism:
            found["explore nondeterminism"] = result.nondeterminism
        trace_file = tmp / f"{number}-explored.json"
        result.recording.save(trace_file)
        for source, recording in (("token", result.recording.token), ("file", trace_file)):
            replayed = simloop.replay(main, recording)
            same = (
                replayed.failure is not None
                and result.failure is not None
                and (replayed.failure.signature == result.failure.signature)
            )
            found[f"explored, replayed from {source}"] = digest(
                same,
                replayed.trace.fingerprint() == result.trace.fingerprint(),  # type: ignore[union-attr]
            )
        trace_file.unlink()
        return found
    raise ValueError(path)


PATHS = ["run", "runner", "replay", "explore"]


def perturb(rng: random.Random) -> list[Any]:
    """Live tasks of another loop and garbage of varying sizes: a different process history
    for the next run."""
    other = simloop.SimLoop()
    tasks = [other.create_task(asyncio.sleep(1)) for _ in range(rng.randrange(1, 30))]
    junk = [bytearray(rng.randrange(1, 400)) for _ in range(rng.randrange(50))]
    for task in tasks:
        task.cancel()
    other.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    other.close()
    if rng.random() < 0.2:
        gc.collect()
    return junk


def worker(numbers: list[int], out: Path) -> None:
    """Every path for each program; twice in this process for simloop.run and the Runner."""
    results: dict[str, dict[str, str]] = {}
    divergences: list[str] = []
    rng = random.Random(len(numbers))
    keep: list[Any] = []
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        for number in numbers:
            found: dict[str, str] = {}
            for path in PATHS:
                found.update(run_once(number, path, tmp))
                keep.append(perturb(rng))
                if len(keep) > 20:
                    keep.pop(0)
            for path in ("run", "runner"):
                again = run_once(number, path, tmp)[path]
                if again != found[path]:
                    divergences.append(f"program {number}: {path} differs when run again")
            if found["recorded"] != found["replay from token"]:
                divergences.append(f"program {number}: replay from token differs")
            if found["recorded"] != found["replay from file"]:
                divergences.append(f"program {number}: replay from file differs")
            if "explore nondeterminism" in found:
                divergences.append(f"program {number}: explore: {found['explore nondeterminism']}")
            for source in ("token", "file"):
                key = f"explored, replayed from {source}"
                if key in found and found[key] != digest(True, True):
                    divergences.append(f"program {number}: explored failure, {key}: differs")
            if found["run"] != found["recorded"] and False:
                pass  # different options (instruments), not compared
            results[str(number)] = found
    out.write_text(json.dumps({"results": results, "divergences": divergences}))


# --- the plugin -----------------------------------------------------------------------------------


PLUGIN_TEST = """
import json
import os
import pytest
import torture

LOGS = os.environ["TORTURE_LOGS"]


SCHEDULES = {{}}


@pytest.mark.parametrize("number", {numbers!r})
@pytest.mark.simloop(runs=3, shrink=False)
async def test_program(number, simloop):
    # Schedules of one test run one after the other: number them in that order.
    SCHEDULES[number] = SCHEDULES.get(number, 0) + 1
    program = torture.Program(torture.describe_program(number))
    try:
        await program.main()
    finally:
        name = f"{{number}}-{{SCHEDULES[number]}}-seed-{{simloop.seed}}.json"
        with open(os.path.join(LOGS, name), "w") as f:
            json.dump(program.log, f, default=str)
"""


def plugin_run(numbers: list[int], hash_seed: str) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        logs = tmp / "logs"
        logs.mkdir()
        (tmp / "test_torture.py").write_text(PLUGIN_TEST.format(numbers=numbers))
        (tmp / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        env = {
            **os.environ,
            "PYTHONHASHSEED": hash_seed,
            "TORTURE_LOGS": str(logs),
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(ROOT)]),
        }
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                str(tmp),
                f"--simloop-artifacts={tmp / 'artifacts'}",
            ],
            cwd=tmp,
            env=env,
            capture_output=True,
            check=False,
        )
        return {p.name: digest(p.read_text()) for p in sorted(logs.iterdir())}


# --- the driver -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=10_000)
    parser.add_argument("--first", type=int, default=0, help="number of the first program")
    parser.add_argument("--plugin", type=int, default=0, help="programs also run under pytest")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    numbers = list(range(args.first, args.first + args.programs))
    if args.worker:
        order = numbers[::-1] if args.worker == "reversed" else numbers
        if args.worker == "eager-gc":
            gc.set_threshold(20, 2, 2)  # the collector runs far more often: other moments
        worker(order, Path(args.out))
        return 0

    started = time.perf_counter()
    processes = [("0", "forward"), ("1", "reversed"), ("random", "eager-gc")]
    with tempfile.TemporaryDirectory() as directory:
        outs = [Path(directory) / f"process-{i}.json" for i in range(len(processes))]
        running = []
        for (hash_seed, order), out in zip(processes, outs, strict=True):
            env = {**os.environ, "PYTHONHASHSEED": hash_seed}
            command = [
                sys.executable,
                __file__,
                f"--programs={args.programs}",
                f"--first={args.first}",
                f"--worker={order}",
                f"--out={out}",
            ]
            running.append(subprocess.Popen(command, env=env))
            if len(running) == 2:  # two cores
                running.pop(0).wait()
        for process in running:
            process.wait()
        reports = [json.loads(out.read_text()) for out in outs]

    divergences = [d for report in reports for d in report["divergences"]]
    first = reports[0]["results"]
    compared = 0
    for (hash_seed, order), report in zip(processes[1:], reports[1:], strict=True):
        for number, found in report["results"].items():
            for key, value in found.items():
                compared += 1
                if first[number].get(key) != value:
                    divergences.append(
                        f"program {number}: {key} differs in the process with "
                        f"PYTHONHASHSEED={hash_seed} ({order})"
                    )
    failing = sum(1 for found in first.values() if "explored, replayed from token" in found)
    runs_per_program = 2 + 2 + 3 + 8  # run x2, runner x2, recorded + 2 replays, explore
    print(f"simloop {simloop.__version__}, Python {sys.version.split()[0]}")
    print(
        f"{args.programs} programs x {len(processes)} processes (PYTHONHASHSEED "
        f"{', '.join(h for h, _ in processes)}), about {runs_per_program} runs each per process; "
        f"{failing} programs failed under explore (shrunk, replayed from token and file)"
    )
    if args.plugin:
        plugin_numbers = numbers[: args.plugin]
        first_run = plugin_run(plugin_numbers, "0")
        second_run = plugin_run(plugin_numbers, "1")
        compared += len(first_run)
        for name in sorted(set(first_run) | set(second_run)):
            if first_run.get(name) != second_run.get(name):
                divergences.append(f"plugin: {name} differs between pytest processes")
        print(
            f"plugin: {len(plugin_numbers)} programs as tests, {len(first_run)} logged schedules "
            "compared between two pytest processes (PYTHONHASHSEED 0, 1)"
        )
    print(
        f"{compared} cross-process comparisons; {len(divergences)} divergences "
        f"in {time.perf_counter() - started:.0f}s"
    )
    for line in divergences[:30]:
        print("  " + line)
    return 1 if divergences else 0


if __name__ == "__main__":
    sys.exit(main())
