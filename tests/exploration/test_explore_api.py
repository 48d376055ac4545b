"""simloop.explore and simloop.replay: what a result says, and that it is right.

A failure is found, counted, shrunk and recorded; its token replays it exactly; the same
arguments give the same exploration; a program without a race is never reported; a program
that depends on state outside the run is reported as nondeterministic; bad arguments raise
clear, named errors.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import warnings
from typing import Any

import pytest
from explore_support import (
    Case,
    ChoiceLog,
    bank_fixed,
    bank_race,
    broken_orders,
    location,
    schedule,
    trimmed,
    without_blocking,
)
from hypothesis import given
from simprog import ProgramRun
from simprog_strategies import fast, programs

import simloop

BANK_FAILURE = location(bank_race, "lost update: balance")


class LoopSpy(simloop.Instrument):
    """Keeps the loops it is attached to, to read their step counts and clocks afterwards."""

    def __init__(self) -> None:
        self.loops: list[simloop.SimLoop] = []

    def run_started(self, loop: simloop.SimLoop) -> None:
        if loop not in self.loops:
            self.loops.append(loop)


def fails_with_seed(main: Any, seed: int) -> bool:
    return fails_with(main, simloop.RandomWalk(seed))


def fails_with(main: Any, scheduler: simloop.Scheduler) -> bool:
    try:
        simloop.run(main(), scheduler=scheduler)
    except AssertionError:
        return True
    return False


# --- a failure found --------------------------------------------------------------------------


def test_a_found_failure_is_counted_shrunk_and_recorded() -> None:
    result = simloop.explore(bank_race, runs=100, seed=10)

    assert result.found
    # The default search is the Portfolio seeded 10: the first of its schedulers that fails,
    # checked run by run without explore.
    assert result.search == "Portfolio(seed=10)"
    schedulers = enumerate(simloop.Portfolio(seed=10).schedulers(), start=1)
    first, scheduler = next((i, s) for i, s in schedulers if fails_with(bank_race, s))
    assert result.runs == result.failing_run == first
    assert result.failing_scheduler == repr(scheduler)

    failure = result.failure
    assert failure is not None
    assert failure.kind == "exception"
    assert type(failure.exception) is AssertionError
    assert failure.location == BANK_FAILURE
    assert failure.signature == ("exception", "AssertionError", BANK_FAILURE)
    assert failure.summary() == f"AssertionError: lost update: balance 90 ({BANK_FAILURE})"
    assert result.nondeterminism is None
    assert result.proof is None

    recording = result.recording
    assert recording is not None
    assert recording.events is None  # a schedule only
    assert recording.deviations == 1  # the race needs one deviation
    assert result.shrink is not None
    assert result.shrink.deviations_after == 1
    # The full replay has the events, and is the same run as the recording.
    assert result.trace is not None
    assert result.trace.events
    assert result.trace.fingerprint() == recording.fingerprint()
    assert failure.step <= result.trace.steps


def test_the_token_round_trips_and_replays_the_same_failure() -> None:
    result = simloop.explore(bank_race, runs=100, shuffle=True, timer_jitter=0.002, start_time=5)
    recording = result.recording
    assert result.failure is not None
    assert recording is not None
    token = recording.token
    assert token.startswith("sl2-")

    decoded = simloop.Trace.from_token(token)
    assert decoded.choices == recording.choices
    assert decoded.options == recording.options
    assert decoded.seed == recording.seed
    assert decoded.shuffle is True
    assert decoded.timer_jitter_ns == 2_000_000
    assert decoded.start_time_ns == 5_000_000_000
    assert decoded.token == token

    # The loop settings travel with the token: replay needs nothing else.
    for recorded in (token, recording, decoded):
        replayed = simloop.replay(bank_race, recorded)
        assert replayed.failure is not None
        assert type(replayed.failure.exception) is type(result.failure.exception)
        assert str(replayed.failure.exception) == str(result.failure.exception)
        assert replayed.failure.signature == result.failure.signature
        assert replayed.failure.step == result.failure.step
        assert replayed.failure.time_ns == result.failure.time_ns
        assert replayed.trace.fingerprint() == recording.fingerprint()
        assert replayed.trace.events  # record_events=True by default

    with pytest.raises(AssertionError, match="lost update: balance 90"):
        simloop.run(bank_race(), replay=token)


def test_a_replay_of_another_programs_token_diverges() -> None:
    token = simloop.explore(bank_race, runs=100).recording.token  # type: ignore[union-attr]

    async def other() -> None:
        await asyncio.gather(*(asyncio.sleep(0) for _ in range(5)))

    result = simloop.replay(other, token)
    assert result.failure is not None
    assert result.failure.kind == "divergence"
    assert isinstance(result.failure.exception, simloop.ReplayDivergenceError)
    assert simloop.replay(other, token, strict=False).failure is None


def test_without_shrinking_the_recording_is_the_failing_run() -> None:
    unshrunk = simloop.explore(bank_race, runs=100, seed=3, shrink=False)
    shrunk = simloop.explore(bank_race, runs=100, seed=3)
    assert unshrunk.shrink is None
    assert unshrunk.recording is not None
    assert shrunk.recording is not None
    assert shrunk.shrink is not None
    assert unshrunk.failing_run == shrunk.failing_run
    assert unshrunk.failing_scheduler == shrunk.failing_scheduler

    # The choices of that random walk, recorded by an instrument of a plain simloop.run.
    seed = unshrunk.recording.seed
    assert unshrunk.failing_scheduler == f"RandomWalk(seed={seed})"
    log = ChoiceLog()
    with pytest.raises(AssertionError):
        simloop.run(bank_race(), seed=seed, instruments=[log])
    assert trimmed(unshrunk.recording.choices) == trimmed([c for _, _, c in log.choices])

    assert shrunk.shrink.deviations_before == unshrunk.recording.deviations
    assert shrunk.shrink.steps_before == unshrunk.recording.steps
    assert shrunk.recording.deviations <= unshrunk.recording.deviations
    assert unshrunk.recording.deviations > 1  # so that shrinking had something to do
    assert shrunk.recording.deviations == 1


def test_raise_failure() -> None:
    result = simloop.explore(bank_race, runs=100)
    with pytest.raises(AssertionError, match="lost update") as caught:
        result.raise_failure()
    assert result.failure is not None
    assert caught.value is result.failure.exception
    simloop.explore(bank_fixed, runs=5).raise_failure()  # nothing to raise


# --- nothing found ------------------------------------------------------------------------------


def test_nothing_found_runs_every_schedule_and_counts_them() -> None:
    spy = LoopSpy()
    result = simloop.explore(bank_fixed, runs=25, seed=7, search="random", instruments=[spy])
    assert not result.found
    assert result.search == "RandomSearch(seed=7)"
    assert result.runs == 25
    assert result.failure is None
    assert result.recording is None
    assert result.trace is None
    assert result.failing_run is None
    assert result.failing_scheduler is None
    assert result.shrink is None
    assert result.nondeterminism is None
    assert result.proof is None  # random walks prove nothing
    assert result.coverage is None
    assert [loop.seed for loop in spy.loops] == list(range(7, 32))
    assert result.total_steps == sum(loop.steps for loop in spy.loops)
    assert result.total_virtual_ns == 0  # sleep(0) only
    assert result.seconds > 0


@fast(25)
@given(desc=programs(max_tasks=3, max_ops=3, one_failure_per_gather=True))
def test_a_program_without_a_race_is_never_reported(desc: dict[str, Any]) -> None:
    """Without queues and events nothing can deadlock, and the program's own errors are all
    caught: no schedule can fail, whatever the search. (One failing child per gather: with
    two, simloop reports a false unretrieved exception, see test_explore_bugs.py.)"""
    desc = without_blocking(desc)

    async def main() -> None:
        run = ProgramRun(desc)
        results = await run.main()
        assert len(results) == len(desc["tasks"])

    for search in (None, simloop.Portfolio(seed=5), simloop.PCT(2)):
        result = simloop.explore(main, runs=8, search=search)
        assert not result.found, result.failure and result.failure.summary()
        assert result.runs == 8


# --- determinism --------------------------------------------------------------------------------


def summary(result: simloop.ExplorationResult) -> tuple[Any, ...]:
    """What two explorations with the same arguments must agree on."""
    assert result.recording is not None
    assert result.trace is not None
    assert result.failure is not None
    return (
        result.runs,
        result.failing_run,
        result.failing_scheduler,
        result.recording.token,
        result.recording.fingerprint(),
        result.trace.fingerprint(),
        result.shrink,
        result.failure.signature,
        result.failure.step,
        result.failure.time_ns,
        result.total_steps,
        result.nondeterminism,
    )


@fast(30)
@given(case=broken_orders(vary=True, max_tasks=3, max_ops=3))
def test_explore_is_deterministic(case: Case) -> None:
    main, seed, options = case.main, case.seed, case.options
    first = simloop.explore(main, runs=5, seed=seed, **options)
    assert first.found  # the random walk with this seed breaks the order
    assert first.failing_run == 1
    assert first.nondeterminism is None
    assert summary(simloop.explore(main, runs=5, seed=seed, **options)) == summary(first)
    portfolio = simloop.explore(main, runs=50, search=simloop.Portfolio(seed=seed))
    if portfolio.found:
        again = simloop.explore(main, runs=50, search=simloop.Portfolio(seed=seed))
        assert summary(again) == summary(portfolio)


@fast(30)
@given(case=broken_orders(vary=True, max_tasks=3, max_ops=3))
def test_a_token_replays_its_failure_with_the_loop_settings_it_carries(case: Case) -> None:
    result = simloop.explore(case.main, runs=1, seed=case.seed, **case.options)
    assert result.failure is not None
    assert result.recording is not None
    assert result.nondeterminism is None
    token = result.recording.token
    decoded = simloop.Trace.from_token(token)
    assert decoded.shuffle == case.options["shuffle"]
    assert decoded.timer_jitter_ns == round(case.options["timer_jitter"] * 1e9)
    assert (decoded.choices, decoded.options) == (
        result.recording.choices,
        result.recording.options,
    )
    replayed = simloop.replay(case.main, token, record_events=False)
    assert replayed.failure is not None
    assert replayed.failure.signature == result.failure.signature
    assert replayed.failure.step == result.failure.step
    assert replayed.trace.fingerprint() == result.recording.fingerprint()


# --- nondeterminism ----------------------------------------------------------------------------

_executions = itertools.count()


async def fails_on_first_execution() -> None:
    """Fails the first time this process runs it (a module-level counter): no schedule
    reproduces that."""
    first = next(_executions) == 0
    await asyncio.sleep(0)
    assert not first, "the first execution fails"


_spawned = itertools.count()


async def spawns_more_each_execution() -> None:
    """Starts one more task each time it runs (a module-level counter), and fails if the
    tasks did not start in order."""
    order: list[int] = []

    async def worker(i: int) -> None:
        await asyncio.sleep(0)
        order.append(i)

    count = 2 + next(_spawned)
    await asyncio.gather(*(worker(i) for i in range(count)))
    assert order == sorted(order), "a worker overtook another"


def test_a_failure_that_does_not_replay_is_reported_as_nondeterminism() -> None:
    global _executions
    _executions = itertools.count()
    result = simloop.explore(fails_on_first_execution, runs=10)
    assert result.found
    assert result.failing_run == 1
    assert result.failure is not None
    assert result.failure.summary().startswith("AssertionError: the first execution fails")
    assert result.nondeterminism is not None
    assert result.nondeterminism.startswith(
        "replaying the failing schedule did not fail the same way: the original run failed "
        "with AssertionError: the first execution fails"
    )
    assert "the replay passed. The program is nondeterministic" in result.nondeterminism
    # Indeed: its recording does not reproduce the failure.
    assert result.recording is not None
    assert simloop.replay(fails_on_first_execution, result.recording).failure is None


def test_a_schedule_that_no_longer_fits_is_reported_as_nondeterminism() -> None:
    global _spawned
    _spawned = itertools.count()
    result = simloop.explore(spawns_more_each_execution, runs=200)
    assert result.found
    assert result.nondeterminism is not None
    assert "The program is nondeterministic" in result.nondeterminism
    # Where: the choice the replay left its recording at, and the first step that differs.
    assert "replay diverged at choice" in result.nondeterminism
    assert "the replay diverged from the recorded run at step" in result.nondeterminism
    assert result.failure is not None
    assert result.failure.summary().startswith("AssertionError: a worker overtook another")


def test_a_deterministic_failure_is_not_reported_as_nondeterminism() -> None:
    result = simloop.explore(bank_race, runs=100)
    assert result.found
    assert result.failing_run is not None
    assert result.failing_run > 1  # so the schedule that passed before was run again
    assert result.nondeterminism is None
    assert result.stale_run is None


class _Account:
    """State made outside the program, which every run changes."""

    balance = 0


async def deposits_twice() -> None:
    """No race (the lock serialises the deposits), but it adds to a class attribute: the
    first run passes, and every later one starts from what the earlier ones left."""
    lock = asyncio.Lock()

    async def deposit() -> None:
        async with lock:
            balance = _Account.balance
            await asyncio.sleep(0)
            _Account.balance = balance + 50

    await asyncio.gather(deposit(), deposit())
    assert _Account.balance == 100, f"balance {_Account.balance}"


def test_state_that_outlives_a_run_is_reported_not_shrunk_into_a_plain_bug() -> None:
    """Run 2 fails in every schedule, asyncio's own order too, and its replays fail the same
    way: without running schedule 1 again, the report would call it a plain bug and give a
    replay command that passes in a fresh process."""
    _Account.balance = 0
    result = simloop.explore(deposits_twice, runs=50)
    assert result.found
    assert result.failing_run == 2
    assert result.stale_run == 1
    assert result.shrink is None  # nothing to shrink: no schedule reproduces it
    assert result.failure is not None
    assert result.failure.summary().startswith("AssertionError: balance 200")
    assert result.nondeterminism is not None
    assert result.nondeterminism.startswith(
        "schedule 1 passed, and run again after schedule 2 failed, it fails too, with "
        "AssertionError: balance 300"
    )
    assert "the program does not start from the same state in every run" in (result.nondeterminism)
    report = simloop.lowlevel.format_failure(result, planned_runs=50, replay_command="REPLAY")
    assert report.splitlines()[0].endswith(
        "but schedule 1, which passed, fails when run again: state outlives a run"
    )
    assert "REPLAY" not in report
    assert "no replay command: a replay would start from a different state" in report
    # Indeed: from a fresh start, the failing schedule passes.
    _Account.balance = 0
    assert result.recording is not None
    assert simloop.replay(deposits_twice, result.recording).failure is None


def test_a_module_lock_bound_to_an_earlier_runs_loop_is_state_that_outlives_a_run() -> None:
    """The classic: an asyncio.Lock made at import binds to the first loop that waits on it;
    a later run that waits on it fails with RuntimeError, in any schedule."""
    shared_lock = asyncio.Lock()

    async def two_writers() -> None:
        async def write() -> None:
            async with shared_lock:
                await asyncio.sleep(0)

        await asyncio.gather(write(), write())

    result = simloop.explore(two_writers, runs=20)
    # The runs where one writer waited for the other: the first bound the lock, a later one
    # failed. Another schedule that passed, in which a writer waited, fails when run again.
    assert result.failing_run is not None
    assert result.stale_run is not None
    assert 1 <= result.stale_run < result.failing_run
    assert result.failure is not None
    assert "is bound to a different event loop" in result.failure.summary()
    assert result.nondeterminism is not None
    assert "bound to the first loop that used it" in result.nondeterminism


# --- coverage ----------------------------------------------------------------------------------


async def queue_fills() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=2)

    async def producer() -> None:
        for item in range(4):
            simloop.sometimes("producer waits on a full queue", queue.full())
            await queue.put(item)

    async def consumer() -> None:
        for _ in range(4):
            await queue.get()
            simloop.sometimes("consumer finds the queue empty", queue.empty())
            simloop.sometimes("consumer sees five items", queue.qsize() == 5)

    await asyncio.gather(producer(), consumer())


def test_coverage_counts_pairs_of_consecutive_task_steps_and_marks() -> None:
    one = simloop.explore(queue_fills, runs=1, coverage=True, search=simloop.Exhaustive(0))
    assert one.coverage is not None
    # The same figure from the events of that one run (asyncio's order).
    replayed = simloop.replay(queue_fills, schedule([]))
    assert replayed.trace.events is not None
    labels = [step.label for step in replayed.trace.events if step.kind == "task"]
    assert one.coverage.interleavings == len(set(itertools.pairwise(labels)))

    many = simloop.explore(queue_fills, runs=50, coverage=True)
    assert many.coverage is not None
    assert many.coverage.interleavings >= one.coverage.interleavings
    assert many.coverage.marks == {
        "producer waits on a full queue": True,
        "consumer finds the queue empty": True,
        "consumer sees five items": False,
    }
    assert many.coverage.never_reached == ["consumer sees five items"]
    assert str(many.coverage) == (
        f"{many.coverage.interleavings} distinct pairs of consecutive task steps; "
        "marks: 2 of 3 reached (never: 'consumer sees five items')"
    )
    assert simloop.explore(queue_fills, runs=5).coverage is None


async def three_workers() -> None:
    async def worker() -> None:
        for _ in range(3):
            await asyncio.sleep(0)

    await asyncio.gather(worker(), worker(), worker())


def test_coverage_grows_with_the_runs() -> None:
    figures = []
    for runs in (1, 5, 40):
        result = simloop.explore(three_workers, runs=runs, coverage=True)
        assert result.coverage is not None
        assert result.coverage.marks == {}
        assert str(result.coverage).endswith("distinct pairs of consecutive task steps")
        figures.append(result.coverage.interleavings)
    assert figures == sorted(figures)
    assert figures[0] < figures[-1]


# --- bad arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"runs": 0}, "`runs` must be a positive int, not 0"),
        ({"runs": -3}, "`runs` must be a positive int, not -3"),
        ({"runs": True}, "`runs` must be a positive int, not True"),
        ({"runs": 2.5}, "`runs` must be a positive int, not 2.5"),
        ({"seed": "1"}, "`seed` must be an int or None, not str '1'"),
        ({"seed": False}, "`seed` must be an int or None, not bool False"),
        ({"shrink_budget": -1}, "`shrink_budget` must be a non-negative int, not -1"),
        ({"shrink_budget": "9"}, "`shrink_budget` must be a non-negative int, not '9'"),
        ({"search": simloop.PCT}, "not the class PCT: pass simloop.PCT(...)"),
        ({"search": simloop.Exhaustive}, "not the class Exhaustive"),
        ({"search": simloop.Portfolio}, "not the class Portfolio"),
        ({"search": simloop.Fifo}, "does not take a seed"),
        ({"search": simloop.Fifo()}, "`search` must be a search"),
        ({"search": 42}, "`search` must be a search"),
        ({"search": "pct:zero"}, "pct needs a positive int after ':', not 'zero'"),
        (
            {"search": "bogus"},
            "unknown search 'bogus'; use one of portfolio, random, pct[:DEPTH], "
            "exhaustive[:DEVIATIONS], fifo",
        ),
        ({"search": simloop.PCT(2, seed=3), "seed": 5}, "give the seed in one place"),
        ({"record_events": True}, "simloop.explore() takes no `record_events`"),
        ({"shuffle": "yes"}, "`shuffle` must be True or False, not str 'yes'"),
        ({"search": "pct", "scheduler": "pct"}, "give `search`"),
    ],
)
def test_bad_arguments_to_explore(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(simloop.InvalidArgumentError) as caught:
        simloop.explore(bank_race, **arguments)
    assert message in str(caught.value)


def test_main_must_be_a_function_not_a_coroutine() -> None:
    coro = bank_race()
    with pytest.raises(simloop.InvalidArgumentError, match=r"pass `main`, not `main\(\)`"):
        simloop.explore(coro)  # type: ignore[arg-type]
    assert coro.cr_frame is None  # closed: no "never awaited" warning later
    coro = bank_race()
    with pytest.raises(simloop.InvalidArgumentError, match=r"simloop.replay\(\) needs"):
        simloop.replay(coro, schedule([]).token)  # type: ignore[arg-type]
    assert coro.cr_frame is None


def test_main_must_make_a_coroutine() -> None:
    with pytest.raises(simloop.InvalidArgumentError, match="zero-argument async function"):
        simloop.explore(42)  # type: ignore[arg-type]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(simloop.InvalidArgumentError, match=r"`main\(\)` must return a"):
            simloop.explore(lambda: 42)  # type: ignore[arg-type,return-value]
        gc.collect()
    assert [str(w.message) for w in caught] == []


def test_a_main_that_raises_when_called_leaves_no_loop_open() -> None:
    async def needs_an_argument(x: int) -> None:
        pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TypeError, match="missing 1 required positional argument"):
            simloop.explore(needs_an_argument)  # type: ignore[arg-type]
        gc.collect()
    assert [str(w.message) for w in caught] == []


def test_bad_arguments_to_replay() -> None:
    token = simloop.explore(bank_race, runs=100).recording.token  # type: ignore[union-attr]
    recorded_seed = simloop.Trace.from_token(token).seed
    with pytest.raises(simloop.InvalidArgumentError, match="contradicts the recording"):
        simloop.replay(bank_race, token, seed=recorded_seed + 1)
    with pytest.raises(simloop.InvalidArgumentError, match=r"`timer_jitter`=0.5 \(recorded: 0.0\)"):
        simloop.replay(bank_race, token, timer_jitter=0.5)
    with pytest.raises(simloop.InvalidArgumentError, match="takes no `scheduler`"):
        simloop.replay(bank_race, token, scheduler=simloop.Fifo())
    with pytest.raises(simloop.TraceFormatError, match="corrupt replay token"):
        simloop.replay(bank_race, token[:-4])
    with pytest.raises(simloop.TraceFormatError, match="neither a replay token nor a trace"):
        simloop.replay(bank_race, "no-such-file.json")
    with pytest.raises(simloop.InvalidArgumentError, match="`recording` must be a Trace"):
        simloop.replay(bank_race, 12)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: simloop.PCT(0), "`depth` must be a positive int, not 0"),
        (lambda: simloop.PCT(2, seed=1.5), "`seed` must be an int or None, not float 1.5"),
        (lambda: simloop.PCT(2, expected_steps=0), "`expected_steps` must be a positive int"),
        (lambda: simloop.Portfolio(seed="x"), "`seed` must be an int or None, not str 'x'"),
        (lambda: simloop.Exhaustive(-1), "`max_deviations` must be at least 0, not -1"),
        (lambda: simloop.Exhaustive(True), "`max_deviations` must be an int, not True"),
        (lambda: simloop.Exhaustive(1, shard=(2, 2)), "`shard` must be (index, count)"),
        (lambda: simloop.Exhaustive(1, shard=(0, 0)), "`shard` must be (index, count)"),
        (lambda: simloop.Exhaustive(1, shard=5), "`shard` must be (index, count)"),
        (lambda: simloop.Exhaustive(1, shard=(True, 2)), "`shard` must be (index, count)"),
    ],
)
def test_bad_arguments_to_searches(make: Any, message: str) -> None:
    with pytest.raises(simloop.InvalidArgumentError) as caught:
        make()
    assert message in str(caught.value)
    # Named, and still what `except ValueError` / `except TypeError` code expects.
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, TypeError)


def test_explore_refuses_to_run_inside_a_running_loop() -> None:
    async def inside() -> None:
        with pytest.raises(RuntimeError, match="cannot be called from a running event loop"):
            simloop.explore(bank_race)
        with pytest.raises(RuntimeError, match="cannot be called from a running event loop"):
            simloop.replay(bank_race, schedule([]).token)

    simloop.run(inside())


# --- searches and seeds -----------------------------------------------------------------------


def test_the_old_scheduler_keyword_still_works_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match=r"explore\(scheduler=...\) is now"):
        old = simloop.explore(bank_race, runs=50, scheduler=simloop.PCT(1))
    new = simloop.explore(bank_race, runs=50, search=simloop.PCT(1))
    assert (old.runs, old.failing_scheduler) == (new.runs, new.failing_scheduler)


def test_a_seed_beside_a_search_seeds_it() -> None:
    """Before, explore(seed=5, scheduler=PCT(2)) silently ran seed 0."""
    beside = simloop.explore(bank_race, runs=30, seed=5, search=simloop.PCT(2))
    inside = simloop.explore(bank_race, runs=30, search=simloop.PCT(2, seed=5))
    zero = simloop.explore(bank_race, runs=30, search=simloop.PCT(2))
    # Runs are seeded seed, seed + 1...: the seed given beside the search is the first.
    assert beside.failing_scheduler == inside.failing_scheduler
    assert beside.failing_scheduler == f"PCT(depth=2, seed={5 + beside.failing_run - 1})"
    assert zero.failing_scheduler == f"PCT(depth=2, seed={zero.failing_run - 1})"


def test_searches_by_name_are_the_searches() -> None:
    by_name = simloop.explore(bank_race, runs=30, seed=3, search="pct:2")
    by_object = simloop.explore(bank_race, runs=30, search=simloop.PCT(2, seed=3))
    assert by_name.runs == by_object.runs
    assert by_name.failing_scheduler == by_object.failing_scheduler
    assert simloop.explore(bank_race, search="fifo").runs == 1
    # asyncio's own order passes (it is a race): with no deviation allowed, that is the proof.
    proof = simloop.explore(bank_race, search="exhaustive:0").proof
    assert proof == "the one schedule with at most 0 deviations from asyncio's order passes"


def test_progress_is_reported_while_exploring(monkeypatch: pytest.MonkeyPatch) -> None:
    from simloop import _explore

    monkeypatch.setattr(_explore, "PROGRESS_EVERY", 0.0)
    calls: list[tuple[int, float]] = []
    result = simloop.lowlevel.explore_program(
        simloop.lowlevel.AsyncProgram(bank_fixed, simloop.lowlevel.LoopOptions()),
        runs=50,
        search=simloop.lowlevel.make_search("random"),
        shrink=True,
        shrink_budget=10,
        progress=lambda done, seconds: calls.append((done, seconds)),
    )
    assert not result.found
    # Every 16 runs (the clock is read that often), then once at the end.
    assert [done for done, _ in calls] == [16, 32, 48, 50]
    assert all(seconds > 0 for _, seconds in calls)
    assert [s for _, s in calls] == sorted(s for _, s in calls)
