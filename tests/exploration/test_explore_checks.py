"""The checks: invariant, eventually, sometimes and cancel_somewhere.

An invariant failure names the step that broke it (checked against an independent observer of
every step, over generated programs and random schedules); eventually fails with the name and
the deadline; sometimes marks show up in the trace and the coverage; cancel_somewhere finds a
cancellation bug, and never cancels in asyncio's order; every check refuses to run outside a
simulated run.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from explore_support import location, schedule, task_of
from hypothesis import given
from hypothesis import strategies as st
from simprog import ProgramRun, run_sim, shut_down
from simprog_strategies import fast, programs, seeds

import simloop

# --- invariant -----------------------------------------------------------------------------------


async def transfers() -> None:
    accounts = {"a": 50, "b": 50}
    simloop.invariant(lambda: sum(accounts.values()) == 100, name="money is conserved")

    async def move(source: str, target: str, amount: int) -> None:
        accounts[source] -= amount
        await asyncio.sleep(0.01)  # the bank's API call
        accounts[target] += amount

    await asyncio.gather(move("a", "b", 10), move("b", "a", 5))


def test_an_invariant_failure_names_the_step_that_broke_it() -> None:
    result = simloop.explore(transfers, runs=10)
    failure = result.failure
    assert failure is not None
    assert failure.kind == "invariant"
    exc = failure.exception
    assert isinstance(exc, simloop.InvariantError)
    assert isinstance(exc, AssertionError)
    assert exc.name == "money is conserved"
    assert failure.location == "money is conserved"
    assert exc.step == 1
    api_call = location(transfers, "the bank's API call").replace(" in transfers", " in move")
    assert str(exc) == (
        f"invariant 'money is conserved' broken by step 1 (Task-2 (move), which then waited "
        f"at {api_call}) at virtual time 0s"
    )
    # The replay's events agree: step 1 is the first move's first step.
    assert result.trace is not None
    assert result.trace.events is not None
    step = result.trace.events[exc.step]
    assert step.index == 1
    assert step.label == "Task-2 (move)"
    assert step.suspended_at == api_call


class FirstFalse(simloop.Instrument):
    """Evaluates a check after every step, as an observer: the index of the first step after
    which it was false."""

    def __init__(self, check: Any) -> None:
        self.check = check
        self.first: int | None = None
        #: How many steps had run when the loop first stopped (the end of the main run).
        self.stopped_at: int | None = None

    def step_finished(self, loop: simloop.SimLoop, index: int, handle: Any) -> None:
        if self.first is None and not self.check():
            self.first = index

    def run_stopped(self, loop: simloop.SimLoop) -> None:
        if self.stopped_at is None:
            self.stopped_at = loop.steps


@fast(40)
@given(desc=programs(max_tasks=3, max_ops=3), seed=seeds, data=st.data())
def test_an_invariant_fails_at_the_first_step_after_which_it_is_false(
    desc: dict[str, Any], seed: int, data: st.DataObject
) -> None:
    length = len(run_sim(desc, seed=seed).log)
    limit = data.draw(st.integers(2, max(2, length)), label="limit")
    run = ProgramRun(desc)

    def short() -> bool:
        return len(run.log) < limit

    observer = FirstFalse(short)
    name = short.__qualname__

    async def main() -> None:
        simloop.invariant(short)
        await run.main()

    failure: BaseException | None = None
    try:
        simloop.run(main(), seed=seed, instruments=[observer], fail_on_unhandled=False)
    except (simloop.InvariantError, simloop.DeadlockError) as exc:
        failure = exc
    if isinstance(failure, simloop.InvariantError):
        assert observer.first is not None
        assert failure.step == observer.first
        assert str(failure).startswith(f"invariant {name} broken by step {observer.first} (")
    elif isinstance(failure, simloop.DeadlockError):
        # It held until the deadlock; the cleanup that follows (cancelling the stuck tasks,
        # which log that) may break it: that is a note on the deadlock, and the cleanup ends.
        assert observer.stopped_at is not None
        notes = "\n".join(getattr(failure, "__notes__", []))
        if observer.first is None:
            assert "while cleaning up" not in notes
        else:
            assert observer.first >= observer.stopped_at
            assert f"simloop: then, while cleaning up: invariant {name} broken by step" in notes
        assert all(task.done() for task in run.workers)
    else:
        # It held to the end: the observer never saw it false.
        assert observer.first is None
        assert len(run.log) < limit


async def stuck_consumers() -> None:
    """Deadlocks; its cleanup (cancelling the consumers) then breaks its invariant."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    state = {"cancelled": 0}
    simloop.invariant(lambda: state["cancelled"] == 0, name="no consumer is cancelled")

    async def consumer() -> None:
        try:
            await queue.get()  # nobody ever puts
        except asyncio.CancelledError:
            state["cancelled"] += 1
            await asyncio.sleep(0)
            raise

    await asyncio.gather(consumer(), consumer())


def test_a_check_broken_by_the_cleanup_after_a_failure_is_a_note_on_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The run's failure is the deadlock. Raising the invariant's failure from the cleanup
    would cut the cleanup short, and leave the consumers pending ("Task was destroyed but it
    is pending!" when collected)."""
    result = simloop.explore(stuck_consumers, runs=1)
    assert result.failure is not None
    assert result.failure.kind == "deadlock"
    notes = result.failure.exception.__notes__
    assert any(
        note.startswith(
            "simloop: then, while cleaning up: invariant 'no consumer is cancelled' broken by "
        )
        for note in notes
    ), notes
    del result
    gc.collect()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def test_invariant_details() -> None:
    async def main() -> None:
        state = {"ok": True}

        def check() -> bool:
            if not state["ok"]:
                raise AssertionError("state went bad")
            return True

        remove = simloop.invariant(lambda: True)
        remove()
        remove()  # removing twice is harmless
        simloop.invariant(check, name="state")
        await asyncio.sleep(0)
        state["ok"] = False
        await asyncio.sleep(1)

    with pytest.raises(simloop.InvariantError) as caught:
        simloop.run(main())
    assert caught.value.name == "state"
    assert str(caught.value).endswith("at virtual time 0s: state went bad")

    async def broken_from_the_start() -> None:
        simloop.invariant(lambda: False, name="never")

    with pytest.raises(simloop.InvariantError, match="invariant 'never' does not hold when it"):
        simloop.run(broken_from_the_start())

    async def removed() -> None:
        state = {"ok": True}
        remove = simloop.invariant(lambda: state["ok"])
        await asyncio.sleep(0)
        remove()
        state["ok"] = False
        await asyncio.sleep(0)

    simloop.run(removed())


def test_a_check_that_ends_does_not_hide_the_next_one_for_that_step() -> None:
    """An eventually met at a step detaches itself from the loop; the invariant set after it
    must still be checked after that step (the loop goes through its checks in a list)."""

    async def main() -> None:
        state = {"ready": False, "balance": 100}
        simloop.eventually(lambda: state["ready"], within=10, name="ready")
        simloop.invariant(lambda: state["balance"] >= 0, name="never overdrawn")
        await asyncio.sleep(0)
        state["ready"] = True
        state["balance"] = -5  # broken by this step...
        await asyncio.sleep(0)
        state["balance"] = 100  # ...and mended by the next
        await asyncio.sleep(0)

    with pytest.raises(simloop.InvariantError) as caught:
        simloop.run(main())
    assert caught.value.step == 1


# --- eventually ----------------------------------------------------------------------------------


async def heartbeat_stops() -> None:
    beats: list[float] = []

    async def beat() -> None:
        while len(beats) < 3:  # a bug: it was meant to beat forever
            beats.append(asyncio.get_running_loop().time())
            await asyncio.sleep(1)

    beating = asyncio.create_task(beat())
    await asyncio.sleep(5)
    simloop.eventually(lambda: len(beats) > 5, within=10, name="the heartbeat goes on")
    await asyncio.sleep(60)
    await beating


def test_eventually_fails_at_its_deadline_with_its_name() -> None:
    result = simloop.explore(heartbeat_stops, runs=3)
    failure = result.failure
    assert failure is not None
    assert failure.kind == "liveness"
    assert isinstance(failure.exception, simloop.LivenessError)
    assert failure.exception.name == "the heartbeat goes on"
    assert failure.location == "the heartbeat goes on"
    assert str(failure.exception) == (
        "eventually 'the heartbeat goes on' never became true by the deadline "
        "(deadline: virtual time 15s; now 15s)"
    )
    assert failure.time_ns == 15_000_000_000
    assert result.nondeterminism is None


def test_eventually_fails_when_the_program_ends_first() -> None:
    async def gives_up() -> None:
        done: list[bool] = []
        simloop.eventually(lambda: done, within=10)
        await asyncio.sleep(2)

    with pytest.raises(simloop.LivenessError) as caught:
        simloop.run(gives_up())
    assert str(caught.value) == (
        "eventually test_eventually_fails_when_the_program_ends_first.<locals>.gives_up."
        "<locals>.<lambda> never became true before the program finished "
        "(deadline: virtual time 10s; now 2s)"
    )


def test_eventually_passes_when_it_becomes_true_in_time() -> None:
    async def recovers() -> None:
        up = {"value": False}

        async def restart() -> None:
            await asyncio.sleep(3)
            up["value"] = True

        task = asyncio.create_task(restart())
        simloop.eventually(lambda: up["value"], within=5, name="up again")
        await asyncio.sleep(20)
        await task

    result = simloop.explore(recovers, runs=20)
    assert not result.found


def test_eventually_checks_its_arguments_even_when_already_true() -> None:
    async def main() -> None:
        with pytest.raises(simloop.InvalidArgumentError, match="`within` must be a non-negative"):
            simloop.eventually(lambda: True, within=-1)
        with pytest.raises(simloop.InvalidArgumentError, match="`check` must be a function"):
            simloop.eventually(True, within=1)  # type: ignore[arg-type]
        with pytest.raises(simloop.InvalidArgumentError, match="`name` must be a str"):
            simloop.invariant(lambda: True, name=3)  # type: ignore[arg-type]

    simloop.run(main())


# --- sometimes -----------------------------------------------------------------------------------


def test_sometimes_marks_reach_the_trace_and_the_coverage() -> None:
    async def main() -> None:
        simloop.sometimes("reached")
        simloop.sometimes("never true", False)
        simloop.sometimes("true once", False)
        simloop.sometimes("true once", True)
        simloop.sometimes("true once", False)

    result = simloop.explore(main, runs=3, coverage=True)
    assert result.coverage is not None
    assert result.coverage.marks == {"reached": True, "never true": False, "true once": True}
    assert result.coverage.never_reached == ["never true"]
    replayed = simloop.replay(main, schedule([]))
    assert replayed.trace.marks == {"reached": True, "never true": False, "true once": True}

    async def bad_label() -> None:
        simloop.sometimes(3)  # type: ignore[arg-type]

    with pytest.raises(simloop.InvalidArgumentError, match="`label` must be a str, not int 3"):
        simloop.run(bad_label())


def test_a_mark_reached_in_one_run_of_many_counts() -> None:
    async def main() -> None:
        order: list[str] = []

        async def worker(name: str) -> None:
            await asyncio.sleep(0)
            order.append(name)

        await asyncio.gather(worker("a"), worker("b"))
        simloop.sometimes("b overtook a", order == ["b", "a"])

    fifo_only = simloop.explore(main, runs=1, coverage=True, search=simloop.Exhaustive(0))
    assert fifo_only.coverage is not None
    assert fifo_only.coverage.never_reached == ["b overtook a"]
    searched = simloop.explore(main, runs=100, coverage=True, search=simloop.Exhaustive(1))
    assert searched.coverage is not None
    assert searched.coverage.never_reached == []
    assert searched.proof is not None


# --- cancel_somewhere ---------------------------------------------------------------------------


async def journal() -> None:
    lock = asyncio.Lock()

    async def write() -> None:
        await lock.acquire()
        await asyncio.sleep(0.01)  # fsync
        lock.release()  # skipped if cancelled during the fsync

    task = asyncio.create_task(write())
    simloop.cancel_somewhere(task)
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert not lock.locked(), "a cancelled write left the journal locked"


def test_cancel_somewhere_finds_a_cancellation_bug() -> None:
    result = simloop.explore(journal, runs=100, search=simloop.Exhaustive(1))
    assert result.failure is not None
    assert result.failure.summary() == (
        "AssertionError: a cancelled write left the journal locked "
        f"({location(journal, 'left the journal locked')})"
    )
    assert result.recording is not None
    assert result.recording.deviations == 1
    assert result.trace is not None
    assert result.trace.events is not None
    # The trace shows the cancellation at the step it cut short.
    assert [step.deviation for step in result.trace.events if step.deviation] == [
        "cancelled here by the explorer (cancel_somewhere)"
    ]
    # Random walks cancel too (a quarter of the time, at each step of the task).
    assert simloop.explore(journal, runs=50).found


def test_cancel_somewhere_never_cancels_in_asyncios_order() -> None:
    for scheduler in (None, simloop.Fifo(), simloop.Replay([])):
        log = _choices_of(journal, scheduler)
        kinds = {kind for kind, _, _ in log}
        assert kinds == {"cancel"}
        assert [choice for _, _, choice in log] == [0] * len(log)
        assert len(log) == 2  # one before each step of the task


@fast(25)
@given(desc=programs(max_tasks=3, max_ops=3), marked=st.integers(0, 3))
def test_cancel_somewhere_changes_nothing_in_asyncios_order(
    desc: dict[str, Any], marked: int
) -> None:
    """With every choice 0 (Fifo, or a replay of nothing), marking a task changes nothing
    the program does: the same log as without the mark."""
    marked %= len(desc["tasks"])
    plain = run_sim(desc, fail_on_unhandled=False)

    class MarkingRun(ProgramRun):
        async def worker(self, who: str, ops: Any) -> str:
            if who == f"w{marked}":
                task = asyncio.current_task()
                assert task is not None
                simloop.cancel_somewhere(task)
            return await super().worker(who, ops)

    for scheduler in (simloop.Fifo(), simloop.Replay([])):
        loop = simloop.SimLoop(scheduler=scheduler, fail_on_unhandled=False)
        run = MarkingRun(desc)
        main = loop.create_task(run.main())
        try:
            loop.run_until_complete(main)
        except simloop.DeadlockError:
            pass
        shut_down(loop)
        loop.close()
        assert run.log == plain.log
        assert loop.trace.deviations == 0


@pytest.mark.parametrize("order", ["ab", "ba"])
def test_every_step_of_every_marked_task_has_a_cancel_choice(order: str) -> None:
    """When one marked task ends, its check detaches itself: the other task's check must still
    make its choice at that step."""
    steps: list[str] = []

    class Steps(simloop.Instrument):
        def step_started(self, loop: simloop.SimLoop, index: int, handle: Any, *rest: Any) -> None:
            task = task_of(handle)
            if task is not None and task.get_name() in ("a", "b"):
                steps.append(task.get_name())

    async def main() -> None:
        async def worker(count: int) -> None:
            for _ in range(count):
                await asyncio.sleep(0)

        tasks = {"a": asyncio.create_task(worker(1), name="a")}
        tasks["b"] = asyncio.create_task(worker(4), name="b")
        for name in order:
            simloop.cancel_somewhere(tasks[name])
        await asyncio.gather(*tasks.values())

    choices = _Choices()
    simloop.run(main(), instruments=[choices, Steps()])
    assert steps.count("a") == 2
    assert steps.count("b") == 5
    assert [kind for kind, _, _ in choices.made] == ["cancel"] * len(steps)


def test_cancel_somewhere_arguments() -> None:
    with pytest.raises(simloop.InvalidArgumentError, match=r"`task` must be an asyncio\.Task"):
        simloop.cancel_somewhere(object())  # type: ignore[arg-type]

    other = simloop.SimLoop()
    task = other.create_task(asyncio.sleep(0))

    async def main() -> None:
        with pytest.raises(simloop.InvalidArgumentError, match="belongs to another event loop"):
            simloop.cancel_somewhere(task)

    try:
        simloop.run(main())
    finally:
        other.run_until_complete(task)
        other.close()


# --- outside a simulated run --------------------------------------------------------------------

CHECKS = {
    "invariant": lambda: simloop.invariant(lambda: True),
    "eventually": lambda: simloop.eventually(lambda: False, within=1),
    "sometimes": lambda: simloop.sometimes("label"),
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_checks_refuse_to_run_outside_a_simulation(name: str) -> None:
    with pytest.raises(simloop.InvalidArgumentError) as caught:
        CHECKS[name]()
    assert str(caught.value) == (
        f"simloop.{name}() must be called inside a simulated run (a coroutine running on a "
        "SimLoop), not outside any event loop"
    )

    async def on_a_stock_loop() -> str:
        with pytest.raises(simloop.InvalidArgumentError) as caught:
            CHECKS[name]()
        return str(caught.value)

    message = asyncio.run(on_a_stock_loop())
    assert message.startswith(f"simloop.{name}() must be called inside a simulated run")
    assert "not on <_UnixSelectorEventLoop" in message


def test_cancel_somewhere_refuses_a_stock_loop() -> None:
    async def on_a_stock_loop() -> None:
        task = asyncio.create_task(asyncio.sleep(0))
        with pytest.raises(simloop.InvalidArgumentError, match="must be called inside a sim"):
            simloop.cancel_somewhere(task)
        await task

    asyncio.run(on_a_stock_loop())


# --- helpers --------------------------------------------------------------------------------------


class _Choices(simloop.Instrument):
    def __init__(self) -> None:
        self.made: list[tuple[str, int, int]] = []

    def choice_made(
        self, loop: simloop.SimLoop, point: simloop.lowlevel.ChoicePoint, choice: int
    ) -> None:
        self.made.append((point.kind, point.n, choice))


def _choices_of(main: Any, scheduler: Any) -> list[tuple[str, int, int]]:
    watcher = _Choices()
    simloop.run(main(), scheduler=scheduler, instruments=[watcher])
    return watcher.made
