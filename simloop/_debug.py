"""Time-travel debugging: stop a recorded run at any step, with the loop alive.

A run is deterministic, so re-executing its schedule up to step N reproduces step N exactly:
that is the whole time machine. The debugger first *surveys* the run (one replay that
records every step, and the failure), then stops it where asked by re-executing it with an
:class:`~simloop.Instrument` whose ``step_finished`` hook opens the command prompt. At the
prompt the loop is running: ``asyncio.all_tasks()``, every task's frames and the program's
own objects are live, and the determinism guards are on as they were at that step. Going
forward returns from the hook; going back ends this execution and starts another, which
stops earlier. A line breakpoint stops *inside* a step, from a trace function that only
runs while breakpoints are set.

Built on :mod:`simloop` and :mod:`simloop.lowlevel` alone, as any extension would be.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import linecache
import os
import pdb
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import Any, TextIO

import attrs

from simloop import (
    Failure,
    Instrument,
    InvalidArgumentError,
    RunResult,
    SimLoop,
    Step,
    Trace,
    lowlevel,
)

#: Real clock (inside a run, time.perf_counter reads virtual time).
_perf_counter = time.perf_counter

_HELP = """\
Commands (a step number N means: stopped after step N ran):
  step [n]             run n more steps (default 1)
  next                 run to the current task's next step
  back [n]             go back n steps (default 1): re-executes the run to there
  goto N | t=SECONDS   go to step N, or to the first step at or after that virtual time
  until task=NAME | failure | line FILE:LINE | change EXPR | EXPR
                       run to the next step of a task, to the failure, to a line (stops
                       inside the step), to where EXPR's value changes, or where EXPR holds
  tasks                every unfinished task: state, await chain with locals, what it waits on
  where                the current task's await chain, with the source around its line
  locals               the current frame's local variables
  print EXPR           evaluate EXPR (names: the current frame, then the main task's frames,
                       then the program's module)
  watch [EXPR]         every step where EXPR changed, old -> new (no EXPR: simloop.watch values)
  break FILE:LINE [if COND] | break | clear [N]
                       set, list or clear line breakpoints; `continue` runs to the next one
  pdb                  a real pdb in the current frame (the loop stays alive; `c` returns)
  timeline [all|A:B]   the steps around here (or all, or A to B), deviations marked *
  help                 this text
  quit                 leave the debugger"""


class _Jump(BaseException):
    """Raised out of a command to leave the prompt and end the current execution."""


class _EndOfExecution(Exception):
    """Ends an execution the debugger has no more use for, through
    :func:`simloop.lowlevel.fail`: the run then ends as a failed run does, its leftover
    tasks cancelled and cleaned up (raising through the program's frames instead would let
    its ``except`` clauses catch it, and leave its tasks pending)."""


@attrs.frozen
class _Breakpoint:
    number: int
    filename: str  # a basename or a path suffix
    line: int
    condition: str | None

    def __str__(self) -> str:
        where = f"{self.filename}:{self.line}"
        return f"{self.number}: {where}" + (f" if {self.condition}" if self.condition else "")


@attrs.define
class _Position:
    """Where the debugger is stopped."""

    index: int
    #: A frame when stopped inside the step (at a line breakpoint), else None.
    frame: FrameType | None = None
    #: Why it stopped there, shown in the header ("breakpoint 1").
    reason: str | None = None
    #: Back where it was after a command that needed an execution: no header again.
    quiet: bool = False
    #: Line breakpoints to run to instead (the first stop of ``stop_at="line FILE:LINE"``).
    points: list[_Breakpoint] | None = None


class Console:
    """Where commands come from and output goes: a terminal, or a script of commands."""

    def __init__(
        self,
        commands: Iterable[str] | Callable[[], str | None] | None,
        out: TextIO,
    ) -> None:
        self.out = out
        self._next: Callable[[], str | None]
        if commands is None:
            self._next = self._terminal
            self.echo = False
        elif callable(commands):
            self._next = commands
            self.echo = True
        else:
            script = iter(list(commands))
            self._next = lambda: next(script, None)
            self.echo = True

    def _terminal(self) -> str | None:
        try:
            line = input("(simloop) ")
        except EOFError:
            return None
        if not sys.stdin.isatty():
            self.write(line)  # commands piped in: show them, as a transcript
        return line

    def read(self) -> str | None:
        """The next command, or None when there are no more (quit)."""
        command = self._next()
        if command is not None and not isinstance(command, str):
            msg = f"a debugger command must be a string, not {type(command).__name__}"
            raise InvalidArgumentError(msg)
        if self.echo and command is not None:
            self.write(f"(simloop) {command}")
        return command

    def write(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()


class _ConsoleFile:
    """A file-like stdin for pdb that reads from the debugger's console."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def readline(self) -> str:
        command = self.console._next()
        if command is None:
            return ""  # EOF: pdb continues
        if self.console.echo:
            self.console.write(command)
        return command + "\n"


class Debugger:
    """Drives a recorded run for a person (see the module docstring).

    ``program`` is run under ``schedule`` (a :class:`~simloop.Trace` or its token) as often as
    the session needs; every execution is the same run.
    """

    def __init__(
        self,
        program: lowlevel.Program,
        schedule: Trace,
        *,
        console: Console,
    ) -> None:
        self.program = program
        self.schedule = schedule
        self.console = console
        self.events: list[Step] = []
        self.failure: Failure | None = None
        self.breakpoints: list[_Breakpoint] = []
        self._breakpoint_numbers = 0
        #: Debugger watches: expression -> [(step index, old, new)].
        self.watches: dict[str, list[tuple[int, str, str]]] = {}
        self.position = _Position(0)
        self._target: Callable[[int], bool] | None = None
        #: Line breakpoints to run to (a trace function watches for them), or None.
        self._target_line: list[_Breakpoint] | None = None
        self._jump_to: _Position | None = None
        self._action: Callable[[], _Position | None] | None = None
        self._pending_reason: str | None = None
        #: The program's module globals, seen in the main task's frames while it ran.
        self._program_globals: dict[str, Any] | None = None
        self._quiet = False
        self.last = 0
        self._quit = False
        self._stopped_loop: SimLoop | None = None
        self._main: asyncio.Future[Any] | None = None
        self._task: asyncio.Task[Any] | None = None
        self.executions = 0

    # --- running -----------------------------------------------------------------------

    def survey(self) -> RunResult:
        """Replay the whole run once, recording every step."""
        scheduler = _Attach(self.schedule.replay_scheduler(), [])
        self.executions += 1
        result = self.program.run(scheduler, self.schedule.seed, record_events=True)
        self.events = list(result.trace.events or ())
        self.failure = result.failure
        self.last = _last_step(self.events, self.failure)
        return result

    def _execute(self, instruments: list[_Execution]) -> RunResult | None:
        """One execution of the run with ``instruments``; None if one of them ended it."""
        scheduler = _Attach(self.schedule.replay_scheduler(), list(instruments))
        self.executions += 1
        try:
            result = self.program.run(scheduler, self.schedule.seed, record_events=False)
        finally:
            for instrument in instruments:
                instrument.end()
        if result.failure is not None and isinstance(result.failure.exception, _EndOfExecution):
            return None
        return result

    def run(self, stop_at: object = "failure") -> None:
        """Survey the run, stop at ``stop_at`` and take commands until ``quit``."""
        self.survey()
        if not self.events:
            self.console.write("the run has no steps: nothing to debug")
            return
        self.console.write(self._summary())
        position = self._first_stop(stop_at)
        while position is not None and not self._quit:
            self._jump_to = None
            if position.points:
                self._go_to_line(position.points)
            else:
                self._go(position)
            if self._quit:
                break
            if self._action is not None:
                action, self._action = self._action, None
                position = action()
            else:
                position = self._jump_to

    def _first_stop(self, stop_at: object) -> _Position | None:
        """Where the session stops first: ``stop_at`` as :func:`debug` documents it."""
        if callable(stop_at):
            index = self.find_true(stop_at, after=-1)
            if index is None:
                self.console.write("the predicate never holds: stopping at the end of the run")
                return _Position(self.last, reason="the end of the run")
            return _Position(index, reason="the predicate holds")
        if isinstance(stop_at, str) and stop_at.startswith("line "):
            point = self.add_breakpoint(stop_at[5:].strip())
            self.breakpoints.remove(point)
            return _Position(0, points=[point])
        if isinstance(stop_at, str) and stop_at.startswith("change "):
            expression = stop_at[7:].strip()
            changes = self.watch(expression)
            if not changes:
                self.console.write(f"{expression} never changes: stopping at the end of the run")
                return _Position(self.last, reason="the end of the run")
            index, old, new = changes[0]
            return _Position(index, reason=f"{expression} changed: {old} -> {new}")
        return self._parse_target(stop_at)

    def _go_to_line(self, points: list[_Breakpoint]) -> None:
        """Execute the run again, stopping where it first reaches one of ``points``."""
        self._target = None
        self._target_line = list(points)
        self._pending_reason = None
        self._quiet = False
        stopper = _Stopper(self)
        self._execute([stopper])
        if stopper.reached_end and self._jump_to is None and self._action is None:
            self.console.write("the run never reaches that line: stopping at its end")
            self._jump_to = _Position(self.last, reason="the end of the run")

    def _go(self, position: _Position) -> None:
        """Execute the run again, stopping at ``position`` (and then wherever commands say)."""
        self._target = position_target(position.index)
        self._target_line = None
        self._pending_reason = position.reason
        self._quiet = position.quiet
        stopper = _Stopper(self)
        self._execute([stopper])
        if stopper.reached_end and self._jump_to is None and self._action is None:
            # Every stop was passed (a target beyond the run): stop at the last step.
            self._jump_to = _Position(self.last, reason="the end of the run")

    def later(self, action: Callable[[], _Position | None]) -> bool:
        """Run ``action`` between executions (it needs an execution of its own, which cannot
        start while this one is stopped), then go where it says."""
        self._action = action
        raise _Jump

    def _summary(self) -> str:
        steps = self.last + 1
        text = f"simloop debug: {steps} steps"
        if self.events:
            end = self.events[min(self.last, len(self.events) - 1)].time_ns
            text += f", virtual time 0s to {lowlevel.format_seconds(end)}"
        if self.failure is not None:
            text += f"; fails at step {self.last}: {self.failure.summary()}"
        else:
            text += "; the run passes"
        return text + ". Type `help` for commands."

    # --- at a stop ---------------------------------------------------------------------

    def stop(self, loop: SimLoop, position: _Position) -> None:
        """Inside a hook: show where we are and take commands until one moves on."""
        self.position = position
        self._target = None
        self._target_line = None
        self._stopped_loop = loop
        self._main = lowlevel.main_task(loop=loop)
        if not self._quiet:
            self.console.write(self.header())
        self._quiet = False
        try:
            while True:
                command = self.console.read()
                if command is None:
                    command = "quit"
                try:
                    if self.command(command.strip()):
                        return
                except _Jump:
                    raise
                except InvalidArgumentError as error:
                    self.console.write(f"*** {error}")
                except Exception as error:  # noqa: BLE001 - the user's expression failed
                    self.console.write(f"*** {type(error).__name__}: {error}")
        finally:
            self._stopped_loop = None

    def header(self) -> str:
        position = self.position
        step = self.events[position.index] if position.index < len(self.events) else None
        parts = [f"step {position.index}"]
        if step is not None:
            parts.append(f"t={lowlevel.format_seconds(step.time_ns)}")
            parts.append(_describe_step(step, inside=position.frame is not None))
        if position.frame is not None:
            parts.append(f"stopped at {_frame_location(position.frame)}")
        if position.reason:
            parts.append(position.reason)
        if self.failure is not None and position.index == self.last and position.frame is None:
            parts.append(f"failure: {self.failure.summary()}")
        return " · ".join(parts)

    def command(self, line: str) -> bool:
        """Run one command; whether it moves on (leaves the prompt). A line that is no
        command is evaluated as an expression, as pdb does."""
        if not line:
            return False
        match = re.match(r"([a-z]+)(?![\w.\[])\s*(.*)$", line)
        handler = None if match is None else _COMMANDS.get(match.group(1))
        if handler is None or match is None:
            try:
                compile(line, "<command>", "eval")
            except SyntaxError:
                name = line.split()[0]
                self.console.write(f"*** unknown command {name!r}: type `help` for the commands")
                return False
            try:
                return _cmd_print(self, line)
            except NameError:
                if not line.isidentifier():
                    raise
                self.console.write(
                    f"*** unknown command or name {line!r}: type `help` for the commands"
                )
                return False
        return handler(self, match.group(2).strip())

    def move_to(self, index: int, reason: str | None = None) -> bool:
        """Go to step ``index`` (forward: go on running; back: re-execute)."""
        index = max(0, min(index, self.last))
        here = self.position.index
        if index == here and self.position.frame is None:
            self.console.write(f"already at step {index}")
            return False
        if index > here or (index == here and self.position.frame is not None):
            self._target = position_target(index)
            self._pending_reason = reason
            return True
        self._jump_to = _Position(index, reason=reason)
        raise _Jump

    # --- what the commands read ----------------------------------------------------------

    @property
    def loop(self) -> SimLoop:
        assert self._stopped_loop is not None
        return self._stopped_loop

    def current_task(self) -> asyncio.Task[Any] | None:
        return self._task

    def current_frame(self) -> FrameType | None:
        """The frame commands look at: the breakpoint's, else the current task's innermost
        frame of the program (not asyncio's)."""
        if self.position.frame is not None:
            return self.position.frame
        task = self._task
        if task is None:
            return None
        if task.done():
            # A task that failed: the frame that raised, from its traceback (post mortem).
            exc = lowlevel.exception_of(task)
            frames = [
                frame
                for frame, _ in traceback.walk_tb(exc.__traceback__ if exc else None)
                if not lowlevel.is_library_frame(frame)
            ]
            return frames[-1] if frames else None
        chain = [link for link in lowlevel.await_chain(task) if not link.library]
        return chain[-1].frame if chain else None

    def namespace(self, *, frame: FrameType | None) -> tuple[dict[str, Any], Any]:
        """(globals, locals) to evaluate an expression in: ``frame``'s variables, then those
        of the main task's frames (innermost first), then the program's module."""
        scopes: list[Any] = []
        globals_: dict[str, Any] | None = None
        if frame is not None:
            scopes.append(frame.f_locals)
            globals_ = frame.f_globals
        main = self._main
        if isinstance(main, asyncio.Task) and not main.done():
            frames = [link.frame for link in lowlevel.await_chain(main) if not link.library]
            for main_frame in reversed(frames):
                scopes.append(main_frame.f_locals)
            if frames:
                self._program_globals = frames[0].f_globals
        if self._program_globals is not None:
            scopes.append(self._program_globals)
            if globals_ is None:
                globals_ = self._program_globals
        if globals_ is None:
            globals_ = {"__builtins__": __builtins__}
        return globals_, collections.ChainMap(*scopes) if scopes else {}

    def evaluate(self, expression: str, *, frame: FrameType | None) -> Any:
        globals_, locals_ = self.namespace(frame=frame)
        return eval(expression, globals_, locals_)

    # --- targets -----------------------------------------------------------------------

    def _parse_target(self, spec: object) -> _Position | None:
        """The first position of a session: a step, ``"t=2.5"``, ``"failure"``..."""
        if spec is None:
            spec = "failure"
        if isinstance(spec, bool) or not isinstance(spec, (int, str)):
            msg = (
                "`stop_at` must be a step number, a target ('failure', 't=2.5', 'task=NAME', "
                "'line FILE:LINE [if COND]', 'change EXPR', or an expression that becomes true) "
                f"or a function of no arguments, not {type(spec).__name__} {spec!r}"
            )
            raise InvalidArgumentError(msg)
        if isinstance(spec, int) or spec.strip().lstrip("-").isdigit():
            return _Position(max(0, min(int(spec), self.last)))
        text = spec.strip()
        if text == "failure":
            reason = "the failure" if self.failure is not None else "the end of the run"
            return _Position(self.last, reason=reason)
        if not text.startswith(("t=", "task=")):
            compile(text, "<stop_at>", "eval")  # an expression: a SyntaxError if not
            index = self.find_true(text, after=-1)
            if index is None:
                self.console.write(f"{text} never holds: stopping at the end of the run")
                return _Position(self.last, reason="the end of the run")
            return _Position(index, reason=f"{text} holds")
        found = self._find(text, after=-1)
        if found is None:
            self.console.write(f"no step matches {text!r}; stopping at step 0")
            return _Position(0)
        return found

    def _find(self, text: str, *, after: int) -> _Position | None:
        """The first recorded step after ``after`` that ``text`` (a target) names."""
        if text.startswith("t="):
            seconds = _seconds(text[2:])
            when = lowlevel.seconds_to_ns(seconds, name="t")
            times = [step.time_ns for step in self.events[: self.last + 1]]
            index = bisect.bisect_left(times, when)
            if index > self.last:
                return None
            return _Position(index, reason=f"the first step at t>={lowlevel.format_seconds(when)}")
        if text.startswith("task="):
            name = text[5:].strip()
            for step in self.events[after + 1 : self.last + 1]:
                if step.task_id is not None and _names_task(step.label, name):
                    return _Position(step.index, reason=f"the next step of {step.label}")
            return None
        if text == "failure":
            return _Position(self.last, reason="the failure")
        if text.isdigit():
            return _Position(int(text))
        msg = f"not a step target: {text!r} (a number, t=SECONDS, task=NAME or failure)"
        raise InvalidArgumentError(msg)

    def add_breakpoint(self, spec: str) -> _Breakpoint:
        where, _, condition = spec.partition(" if ")
        filename, _, line = where.strip().rpartition(":")
        if not filename or not line.isdigit():
            msg = f"a breakpoint is FILE:LINE [if CONDITION], not {spec!r}"
            raise InvalidArgumentError(msg)
        if condition:
            compile(condition, "<condition>", "eval")  # a SyntaxError now, not at every line
        self._breakpoint_numbers += 1
        point = _Breakpoint(
            self._breakpoint_numbers, filename, int(line), condition.strip() or None
        )
        self.breakpoints.append(point)
        return point

    def line_hit(self, frame: FrameType, points: list[_Breakpoint]) -> str | None:
        """Whether a line event in ``frame`` hits one of ``points``: the reason, or None."""
        for point in points:
            if frame.f_lineno != point.line or not _same_file(
                frame.f_code.co_filename, point.filename
            ):
                continue
            if point.condition is not None:
                try:
                    if not self.evaluate(point.condition, frame=frame):
                        continue
                except Exception:  # noqa: BLE001 - a condition that fails does not hold
                    continue
            return f"breakpoint {point.number}"
        return None

    def watch(self, expression: str) -> list[tuple[int, str, str]]:
        """Every step where ``expression`` changed (an execution of its own: call it between
        executions, see :meth:`later`)."""
        compile(expression, "<watch>", "eval")
        if expression not in self.watches:
            watcher = _Watcher(self, expression)
            self._execute([watcher])
            self.watches[expression] = watcher.changes
        return self.watches[expression]

    def find_true(self, expression: str | Callable[[], object], *, after: int) -> int | None:
        """The first step after ``after`` where ``expression`` holds (an execution)."""
        finder = _Watcher(self, expression, truth=True, after=after)
        self._execute([finder])
        return finder.first_true


def position_target(index: int) -> Callable[[int], bool]:
    return lambda i: i >= index


def _last_step(events: list[Step], failure: Failure | None) -> int:
    """The last step of the run proper: the failing step (not asyncio's callbacks that end
    the run after it), or the last step before the cleanup."""
    if not events:
        return 0
    end = len(events) if failure is None else max(1, min(failure.step, len(events)))
    last = end - 1
    while last > 0 and _is_plumbing(events[last]):
        last -= 1
    return last


def _is_plumbing(step: Step) -> bool:
    """asyncio's own callbacks (a run ending, a gather collecting results)."""
    return step.kind == "callback" and (
        step.label.startswith("asyncio.") or step.label == "_stop_loop_when_done"
    )


def _seconds(text: str) -> float:
    try:
        return float(text.rstrip("s"))
    except ValueError:
        msg = f"not a virtual time: {text!r} (seconds, e.g. t=2.5)"
        raise InvalidArgumentError(msg) from None


def _names_task(label: str, name: str) -> bool:
    """Whether a step's label ("Task-3 (hedge)", "hedge") names the task ``name``."""
    if label == name:
        return True
    task_name, _, coro = label.partition(" (")
    return name in (task_name, coro.rstrip(")"))


def _same_file(filename: str, wanted: str) -> bool:
    filename = filename.replace(os.sep, "/")
    wanted = wanted.replace(os.sep, "/")
    return filename == wanted or filename.endswith("/" + wanted.lstrip("./"))


def _frame_location(frame: FrameType) -> str:
    code = frame.f_code
    return f"{os.path.basename(code.co_filename)}:{frame.f_lineno} in {code.co_name}"


def _describe_step(step: Step, *, inside: bool) -> str:
    if step.kind != "task":
        return f"{step.label} ran"
    text = f"{step.label} resumed at {step.resumed_at or '?'}"
    if inside:
        return text
    ended = step.ended or ("finished" if step.suspended_at == "finished" else "suspended")
    if ended == "suspended":
        ended = f"suspended at {step.suspended_at or '?'}"
    return f"{text} → {ended}"


# --- instruments ------------------------------------------------------------------------


class _Attach:
    """A scheduler that answers as ``inner`` and attaches instruments when the loop binds it:
    the one way into a :class:`~simloop.lowlevel.Program`'s loop from outside."""

    def __init__(self, inner: Any, instruments: list[Instrument]) -> None:
        self.inner = inner
        self.instruments = instruments

    def choose(self, point: lowlevel.ChoicePoint) -> int:
        answer: int = self.inner.choose(point)
        return answer

    def bind(self, loop: SimLoop) -> None:
        bind = getattr(self.inner, "bind", None)
        if bind is not None:
            bind(loop)
        for instrument in self.instruments:
            loop.add_instrument(instrument)

    def __repr__(self) -> str:
        return repr(self.inner)


class _Execution(Instrument):
    """An instrument of one execution that may end it early (:meth:`finish`): the
    tasks it leaves behind must not be reported as failures nobody saw."""

    def __init__(self) -> None:
        self._tasks: dict[int, asyncio.Task[Any]] = {}
        #: Set once the execution is being ended: the hooks then do nothing.
        self.ending = False

    def finish(self, loop: SimLoop) -> None:
        """End this execution at the next batch boundary, cleaning up as a failure does."""
        if not self.ending:
            self.ending = True
            lowlevel.fail(_EndOfExecution(), loop=loop)

    def note(self, handle: Any) -> asyncio.Task[Any] | None:
        task = lowlevel.task_of(handle)
        if task is not None:
            self._tasks[id(task)] = task
        return task

    def end(self) -> None:
        """The execution ends here: its failed tasks' exceptions count as seen (they will be
        seen again, by the execution that stops there)."""
        for task in self._tasks.values():
            if task.done() and not task.cancelled():
                task.exception()
        self._tasks.clear()


class _Watcher(_Execution):
    """Evaluates an expression after every step: where it changed, or first held."""

    def __init__(
        self,
        debugger: Debugger,
        expression: str | Callable[[], object],
        *,
        truth: bool = False,
        after: int = -1,
    ) -> None:
        super().__init__()
        self.debugger = debugger
        self.predicate = expression if callable(expression) else None
        self.code = None if callable(expression) else compile(expression, "<watch>", "eval")
        self.truth = truth
        self.after = after
        self.changes: list[tuple[int, str, str]] = []
        self.first_true: int | None = None
        self._last: str | None = None

    def run_started(self, loop: SimLoop) -> None:
        self.debugger._main = lowlevel.main_task(loop=loop)

    def step_started(self, loop: SimLoop, index: int, handle: Any, *args: Any) -> None:
        self.note(handle)

    def step_finished(self, loop: SimLoop, index: int, handle: Any) -> None:
        debugger = self.debugger
        if index > debugger.last or self.ending:
            return
        main = lowlevel.main_task(loop=loop)
        if self.predicate is None and (not isinstance(main, asyncio.Task) or main.done()):
            return  # the names it reads live in the main task's frames
        debugger._main = main
        try:
            if self.predicate is not None:
                value = self.predicate()
            else:
                globals_, locals_ = debugger.namespace(frame=None)
                value = eval(self.code, globals_, locals_)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - not yet computable (a name not bound yet)
            text = f"<{type(exc).__name__}>"
            value = None
        else:
            text = _short_repr(value)
        if self.truth:
            if index > self.after and value and self.first_true is None:
                self.first_true = index
                self.finish(loop)  # found: no need to run the rest
            return
        if self._last is not None and text != self._last:
            self.changes.append((index, self._last, text))
        self._last = text


class _Stopper(_Execution):
    """Stops the run where the debugger's target says, and runs the prompt there."""

    def __init__(self, debugger: Debugger) -> None:
        super().__init__()
        self.debugger = debugger
        self.reached_end = False
        self._tracing = False
        self._saved_trace: Any = None

    def step_started(self, loop: SimLoop, index: int, handle: Any, *args: Any) -> None:
        if self.ending:
            return
        debugger = self.debugger
        debugger._task = self.note(handle)
        if debugger._program_globals is None:
            main = lowlevel.main_task(loop=loop)
            if isinstance(main, asyncio.Task) and not main.done():
                for link in lowlevel.await_chain(main):
                    if not link.library:
                        debugger._program_globals = link.frame.f_globals
                        break
        line_target = debugger._target_line
        if line_target is not None and index <= debugger.last:
            self._start_tracing(loop, index)

    def step_finished(self, loop: SimLoop, index: int, handle: Any) -> None:
        debugger = self.debugger
        self._stop_tracing()
        if self.ending:
            return
        if index > debugger.last:
            if debugger._target is not None or debugger._target_line is not None:
                self.reached_end = True
                self.finish(loop)
            return
        if debugger._target is not None and debugger._target(index):
            reason = debugger._pending_reason
            debugger._pending_reason = None
            self.stop_here(loop, _Position(index, reason=reason))
        elif index == debugger.last and (
            debugger._target is not None or debugger._target_line is not None
        ):
            self.reached_end = True
            self.finish(loop)

    def stop_here(self, loop: SimLoop, position: _Position) -> None:
        """Take commands at ``position``; end the execution if they leave it."""
        try:
            self.debugger.stop(loop, position)
        except _Jump:
            self.finish(loop)

    # Line breakpoints: a trace function on the program's frames, only during steps.

    def _start_tracing(self, loop: SimLoop, index: int) -> None:
        self._saved_trace = sys.gettrace()
        self._tracing = True
        debugger = self.debugger
        points = debugger._target_line
        assert points is not None

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            if event == "line":
                reason = debugger.line_hit(frame, points)
                if reason is not None:
                    sys.settrace(None)
                    frame.f_trace = None
                    debugger._target_line = None
                    self.stop_here(loop, _Position(index, frame=frame, reason=reason))
                    if debugger._target_line is not None and not self.ending:
                        sys.settrace(global_trace)
                        return local
                    return None
            return local

        def global_trace(frame: FrameType, event: str, arg: Any) -> Any:
            if event != "call" or lowlevel.is_library_frame(frame):
                return None
            filename = frame.f_code.co_filename
            if not any(_same_file(filename, point.filename) for point in points):
                return None
            return local

        sys.settrace(global_trace)

    def _stop_tracing(self) -> None:
        if self._tracing:
            sys.settrace(self._saved_trace)
            self._tracing = False
            self._saved_trace = None


_ADDRESS = re.compile(r" (?:object )?at 0x[0-9a-fA-F]+")


def _short_repr(value: object, limit: int = 200) -> str:
    """``repr(value)``, short, without memory addresses (which differ in every process)."""
    try:
        text = _ADDRESS.sub("", repr(value))
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not stop the debugger
        text = f"<{type(value).__name__}: repr failed: {exc}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- commands -----------------------------------------------------------------------------


def _count(rest: str, default: int = 1) -> int:
    if not rest:
        return default
    if not rest.isdigit():
        msg = f"not a number of steps: {rest!r}"
        raise InvalidArgumentError(msg)
    return int(rest)


def _cmd_step(d: Debugger, rest: str) -> bool:
    if d.position.frame is not None:
        # Inside a step: finish it first (stopping after it), then count on from there.
        return d.move_to(d.position.index + _count(rest) - 1, None)
    if d.position.index >= d.last:
        d.console.write("at the last step of the run (`back` or `goto` to move)")
        return False
    return d.move_to(d.position.index + _count(rest))


def _cmd_next(d: Debugger, rest: str) -> bool:
    here = d.events[d.position.index]
    if here.task_id is None:
        d.console.write("the current step is not a task's: use `step`")
        return False
    for step in d.events[d.position.index + 1 : d.last + 1]:
        if step.task_id == here.task_id:
            return d.move_to(step.index, f"the next step of {step.label}")
    d.console.write(f"{here.label} takes no further step before the end of the run")
    return False


def _cmd_back(d: Debugger, rest: str) -> bool:
    back = _count(rest)
    if d.position.frame is not None:
        back -= 1  # inside step N, "back 1" is after step N-1
    if d.position.index - back < 0:
        d.console.write("at the start of the run")
        return False
    return d.move_to(d.position.index - back)


def _cmd_goto(d: Debugger, rest: str) -> bool:
    if not rest:
        msg = "goto needs a step number or t=SECONDS"
        raise InvalidArgumentError(msg)
    if rest.isdigit():
        return d.move_to(int(rest))
    found = d._find(rest, after=-1)
    if found is None:
        d.console.write(f"no step matches {rest!r}")
        return False
    return d.move_to(found.index, found.reason)


def _cmd_until(d: Debugger, rest: str) -> bool:
    here = d.position.index
    if not rest:
        msg = "until needs a target: task=NAME, failure, line FILE:LINE, change EXPR or EXPR"
        raise InvalidArgumentError(msg)
    if rest.startswith("line "):
        point = d.add_breakpoint(rest[5:].strip())
        d.breakpoints.remove(point)
        return _continue(d, [point])
    if rest.startswith("change "):
        expression = rest[7:].strip()
        for step in d.events[here + 1 : d.last + 1]:
            if step.watched and expression in step.watched:
                # A label of simloop.watch: the recorded values say where.
                value = step.watched[expression]
                return d.move_to(step.index, f"{expression} changed to {value}")
        compile(expression, "<until>", "eval")

        def to_change() -> _Position:
            for index, old, new in d.watch(expression):
                if index > here:
                    return _Position(index, reason=f"{expression} changed: {old} -> {new}")
            d.console.write(f"{expression} does not change after step {here}")
            return _Position(here, quiet=True)

        return d.later(to_change)
    if rest.startswith(("task=", "t=")) or rest == "failure":
        found = d._find(rest, after=here)
        if found is None or (found.index <= here and rest != "failure"):
            d.console.write(f"no step after {here} matches {rest!r}")
            return False
        return d.move_to(found.index, found.reason)
    compile(rest, "<until>", "eval")

    def to_true() -> _Position:
        index = d.find_true(rest, after=here)
        if index is None:
            d.console.write(f"{rest} does not hold after step {here}")
            return _Position(here, quiet=True)
        return _Position(index, reason=f"{rest} holds")

    return d.later(to_true)


def _continue(d: Debugger, points: list[_Breakpoint]) -> bool:
    if not points:
        d.console.write("no breakpoints: set one with `break FILE:LINE`")
        return False

    # Between steps, tracing starts with the next step; stopped inside a step (at a
    # breakpoint), the rest of that step is traced too.
    d._target_line = list(points)
    d._target = None
    return True


def _cmd_continue(d: Debugger, rest: str) -> bool:
    return _continue(d, list(d.breakpoints))


def _cmd_break(d: Debugger, rest: str) -> bool:
    if not rest:
        if not d.breakpoints:
            d.console.write("no breakpoints")
        for point in d.breakpoints:
            d.console.write(f"breakpoint {point}")
        return False
    point = d.add_breakpoint(rest)
    d.console.write(f"breakpoint {point} (`continue` runs to it)")
    return False


def _cmd_clear(d: Debugger, rest: str) -> bool:
    if not rest:
        d.breakpoints.clear()
        d.console.write("all breakpoints cleared")
        return False
    number = _count(rest)
    d.breakpoints = [p for p in d.breakpoints if p.number != number]
    d.console.write(f"breakpoint {number} cleared")
    return False


def _cmd_tasks(d: Debugger, rest: str) -> bool:
    loop = d.loop
    tasks = lowlevel.live_tasks(loop=loop)
    if not tasks:
        d.console.write("no unfinished tasks")
    for task in tasks:
        for line in _task_lines(d, task, loop, locals_=True):
            d.console.write(line)
    return False


def _task_lines(
    d: Debugger, task: asyncio.Task[Any], loop: SimLoop, *, locals_: bool
) -> Iterator[str]:
    report = lowlevel.describe_task(task, loop=loop)
    marker = "> " if task is d.current_task() else "  "
    state = report.state
    if task is d.current_task() and d.position.frame is not None:
        state = "running"
    yield f"{marker}{lowlevel.task_label(task)}  {state}" + (
        f": {report.waiting_on}" if report.waiting_on and state != "running" else ""
    )
    for link in lowlevel.await_chain(task):
        frame = link.frame
        if link.library:
            # asyncio's own frames: where the chain goes, not code to read.
            yield f"      {_frame_location(frame)}  (library)"
            continue
        yield f"      {_frame_location(frame)}"
        if link.source_line:
            yield f"          {link.source_line}"
        if locals_:
            variables = _locals_text(frame)
            if variables:
                yield f"          locals: {variables}"


def _locals_text(frame: FrameType, limit: int = 60) -> str:
    try:
        items = list(frame.f_locals.items())
    except Exception:  # noqa: BLE001 - a strange frame
        return ""
    return ", ".join(f"{name}={_short_repr(value, limit)}" for name, value in items)


def _cmd_where(d: Debugger, rest: str) -> bool:
    task = d.current_task()
    frame = d.current_frame()
    if task is None:
        d.console.write(f"step {d.position.index} ran no task: {d.events[d.position.index].label}")
        return False
    if task.done():
        ended = "cancelled" if task.cancelled() else "finished"
        d.console.write(f"{lowlevel.task_label(task)} has {ended}")
        return False
    for line in _task_lines(d, task, d.loop, locals_=False):
        d.console.write(line)
    if frame is not None:
        d.console.write("")
        for line in _source_around(frame):
            d.console.write(line)
    return False


def _source_around(frame: FrameType, context: int = 2) -> list[str]:
    filename = frame.f_code.co_filename
    lineno = frame.f_lineno
    lines = []
    for number in range(max(1, lineno - context), lineno + context + 1):
        text = linecache.getline(filename, number)
        if not text:
            continue
        mark = "->" if number == lineno else "  "
        lines.append(f"  {number:4d} {mark} {text.rstrip()}")
    return lines


def _cmd_locals(d: Debugger, rest: str) -> bool:
    frame = d.current_frame()
    if frame is None:
        d.console.write("no frame here (the step ran no task of the program)")
        return False
    d.console.write(f"{_frame_location(frame)}:")
    for name, value in frame.f_locals.items():
        d.console.write(f"  {name} = {_short_repr(value)}")
    return False


def _cmd_print(d: Debugger, rest: str) -> bool:
    if not rest:
        msg = "print needs an expression"
        raise InvalidArgumentError(msg)
    d.console.write(_short_repr(d.evaluate(rest, frame=d.current_frame()), limit=2000))
    return False


def _cmd_watch(d: Debugger, rest: str) -> bool:
    if not rest:
        recorded = [(s.index, s.watched) for s in d.events if s.watched]
        if not recorded and not d.watches:
            d.console.write("nothing watched: `watch EXPR`, or simloop.watch() in the program")
        for index, values in recorded:
            assert values is not None
            for label, value in values.items():
                d.console.write(f"  step {index}: {label} = {value}")
        for expression, changes in d.watches.items():
            d.console.write(f"  watch {expression}: {len(changes)} changes")
        return False
    compile(rest, "<watch>", "eval")
    here = d.position.index

    def show() -> _Position:
        changes = d.watch(rest)
        if not changes:
            d.console.write(f"{rest} never changes during the run")
        for index, old, new in changes:
            mark = "  <- here" if index == here else ""
            d.console.write(f"  step {index}: {old} -> {new}{mark}")
        return _Position(here, quiet=True)

    if rest in d.watches:
        show()
        return False
    return d.later(show)


def _cmd_pdb(d: Debugger, rest: str) -> bool:
    frame = d.current_frame()
    if frame is None:
        d.console.write("no frame here for pdb (the step ran no task of the program)")
        return False
    debugger = pdb.Pdb(stdin=_ConsoleFile(d.console), stdout=d.console.out)  # type: ignore[arg-type]
    debugger.use_rawinput = False
    debugger.prompt = "(Pdb) "
    debugger.reset()
    debugger.interaction(frame, None)
    return False


def _cmd_timeline(d: Debugger, rest: str) -> bool:
    here = d.position.index
    if rest == "all":
        first, last = 0, d.last
    elif ":" in rest:
        a, _, b = rest.partition(":")
        first, last = _count(a, 0), _count(b, d.last)
    else:
        first, last = max(0, here - 5), min(d.last, here + 5)
    for line in timeline_lines(d.events, first, last, here=here, watches=d.watches):
        d.console.write(line)
    return False


def timeline_lines(
    events: list[Step],
    first: int,
    last: int,
    *,
    here: int | None = None,
    watches: dict[str, list[tuple[int, str, str]]] | None = None,
    watch_columns: bool = False,
) -> list[str]:
    """A table of ``events[first:last + 1]``: where each task resumed and how its step
    ended, deviations (``*``), cancellations; values of :func:`simloop.watch` as columns
    (``watch_columns``) or notes, and the debugger's watches as notes."""
    changed: dict[int, list[str]] = {}
    for expression, changes in (watches or {}).items():
        for index, _, new in changes:
            changed.setdefault(index, []).append(f"{expression} = {new}")
    labels = sorted({k for s in events for k in (s.watched or {})}) if watch_columns else []
    values: dict[str, str] = {}
    rows: list[tuple[str, str, str, list[str], str]] = []
    for step in events[first : last + 1]:
        mark = ("*" if step.deviates else " ") + (">" if step.index == here else " ")
        notes = []
        if step.deviation:
            notes.append(step.deviation)
        notes.extend(f"cancellation {c}" for c in step.cancellations)
        notes.extend(step.exceptions)
        if step.chain:
            notes.append("chain: " + " > ".join(step.chain))
        if step.watched:
            if watch_columns:
                values.update(step.watched)
            else:
                notes.extend(f"{k} = {v}" for k, v in step.watched.items())
        notes.extend(changed.get(step.index, ()))
        columns = [
            values.get(label, "") + ("*" if label in (step.watched or {}) else "")
            for label in labels
        ]
        text = _describe_step(step, inside=False)
        if notes:
            text += "  <- " + "; ".join(notes)
        rows.append(
            (mark, f"{step.index:5d}", lowlevel.format_seconds(step.time_ns), columns, text)
        )
    widths = [
        max([len(label), *(len(row[3][i]) for row in rows)]) for i, label in enumerate(labels)
    ]
    time_width = max([5, *(len(row[2]) for row in rows)])
    lines = []
    if labels:
        head = " " * 9 + "vtime".rjust(time_width)
        head += "".join(f"  {label.ljust(w)}" for label, w in zip(labels, widths, strict=True))
        lines.append(head + "  (changed values marked *)")
    for mark, number, when, values_now, text in rows:
        cells = "".join(f"  {c.ljust(w)}" for c, w in zip(values_now, widths, strict=True))
        lines.append(f"{mark}{number} {when.rjust(time_width)}{cells} {text}")
    return lines


def _cmd_help(d: Debugger, rest: str) -> bool:
    d.console.write(_HELP)
    return False


def _cmd_quit(d: Debugger, rest: str) -> bool:
    d._quit = True
    d._jump_to = None
    raise _Jump


_COMMANDS: dict[str, Callable[[Debugger, str], bool]] = {
    "step": _cmd_step,
    "s": _cmd_step,
    "next": _cmd_next,
    "n": _cmd_next,
    "back": _cmd_back,
    "b": _cmd_back,
    "goto": _cmd_goto,
    "until": _cmd_until,
    "u": _cmd_until,
    "continue": _cmd_continue,
    "c": _cmd_continue,
    "tasks": _cmd_tasks,
    "where": _cmd_where,
    "w": _cmd_where,
    "locals": _cmd_locals,
    "print": _cmd_print,
    "p": _cmd_print,
    "watch": _cmd_watch,
    "break": _cmd_break,
    "clear": _cmd_clear,
    "pdb": _cmd_pdb,
    "timeline": _cmd_timeline,
    "help": _cmd_help,
    "h": _cmd_help,
    "quit": _cmd_quit,
    "q": _cmd_quit,
}


def debug(
    main: Callable[[], Any],
    recording: Trace | str | os.PathLike[str],
    *,
    stop_at: int | str | Callable[[], object] = "failure",
    commands: Iterable[str] | Callable[[], str | None] | None = None,
    out: TextIO | None = None,
    **loop_options: Any,
) -> None:
    """Re-execute ``main()`` under a recorded schedule and stop it with the loop alive.

    ``recording`` is a :class:`~simloop.Trace`, a replay token or a trace file. ``stop_at``
    is where the first stop is: a step number, ``"failure"`` (the default: the failing step,
    or the last step of a run that passes), ``"t=2.5"`` (the first step at or after that
    virtual time), ``"task=NAME"`` (that task's first step), ``"line pool.py:41 if n > 5"``
    (inside the first step that reaches that line with the condition true), ``"change EXPR"``
    (the first step where ``EXPR``'s value changes), an expression (the first step after
    which it holds), or a function of no arguments (the first step after which it returns
    true; it is called inside the run). At each stop the debugger
    takes commands (``help`` lists them) from ``commands`` (a list of strings, or a function
    returning the next one, called at the stop with the loop alive; ``None`` when done) or,
    by default, from the terminal, and writes to ``out`` (default ``sys.stdout``).
    ``loop_options`` go to the loop, as for :func:`simloop.replay`.
    """
    if lowlevel.get_running_loop_or_none() is not None:
        msg = "simloop.debug() cannot be called from a running event loop"
        raise RuntimeError(msg)
    if asyncio.iscoroutine(main):
        main.close()
        msg = (
            "simloop.debug() needs a function that makes a fresh coroutine: "
            "pass `main`, not `main()`"
        )
        raise InvalidArgumentError(msg)
    if not callable(main):
        msg = f"`main` must be a zero-argument async function, not {type(main).__name__} {main!r}"
        raise InvalidArgumentError(msg)
    schedule = as_schedule(recording)
    recorded = schedule.recorded_options()
    lowlevel.check_recorded(recorded, loop_options, "simloop.debug()")
    options = lowlevel.LoopOptions.build(**{**loop_options, **recorded})
    console = Console(commands, sys.stdout if out is None else out)
    Debugger(lowlevel.AsyncProgram(main, options), schedule, console=console).run(stop_at)


def as_schedule(recording: object) -> Trace:
    """A recording given as a :class:`~simloop.Trace`, a replay token or a trace file."""
    if isinstance(recording, Trace):
        return recording
    if isinstance(recording, str) and recording.startswith(("sl1-", "sl2-")):
        return Trace.from_token(recording)
    if isinstance(recording, (str, os.PathLike)):
        return Trace.load(recording)
    msg = (
        "`recording` must be a simloop.Trace, a replay token or a trace file's path, not "
        f"{type(recording).__name__} {recording!r}"
    )
    raise InvalidArgumentError(msg)
