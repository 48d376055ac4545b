"""The Hypothesis integration: schedules(), HypothesisScheduler, SimLoopStateMachine.

Hypothesis finds a lost update by drawing schedules and shrinks the failing one to a single
deviation from asyncio's order; ``st.from_type(simloop.Scheduler)`` draws the same strategy,
also when ``hypothesis_simloop`` is imported before Hypothesis; a state machine runs its
rules' coroutines as concurrent tasks, finds a race between them, and cleans up after itself.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from typing import ClassVar

import pytest
from explore_support import bank_fixed, bank_race
from hypothesis import find, given, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule, run_state_machine_as_test
from hypothesis_simloop import HypothesisScheduler, SimLoopStateMachine, schedules

import simloop

QUICK = settings(database=None, deadline=None, derandomize=True)


def test_hypothesis_shrinks_a_lost_update_to_one_deviation() -> None:
    seen: list[HypothesisScheduler] = []

    @settings(QUICK, max_examples=200)
    @given(schedule=schedules())
    def check_bank(schedule: HypothesisScheduler) -> None:
        seen.append(schedule)
        simloop.run(bank_race(), scheduler=schedule)

    with pytest.raises(AssertionError, match="lost update: balance 90") as caught:
        check_bank()

    # Hypothesis runs the shrunk example last, to raise its failure.
    final = seen[-1]
    assert final.deviations == 1
    shown = list(final.choices)
    while shown and shown[-1] == 0:
        shown.pop()
    assert repr(final) == f"schedules() -> 1 deviation, choices {shown}"
    notes = getattr(caught.value, "__notes__", [])
    assert any(
        f"The schedule came from Hypothesis (1 deviation from asyncio's order, choices {shown})"
        in note
        for note in notes
    ), notes
    # Those choices are the failing schedule: replayed, they fail the same way.
    with pytest.raises(AssertionError, match="lost update: balance 90"):
        simloop.run(bank_race(), scheduler=simloop.Replay(final.choices))
    # And nothing simpler fails: asyncio's own order passes.
    simloop.run(bank_race())


async def account_check(withdrawal: int, deposit: int) -> None:
    account = Account()
    await asyncio.gather(account.withdraw(withdrawal), account.deposit(deposit))
    expected = 100 - withdrawal + deposit
    assert account.balance == expected, f"balance {account.balance}, expected {expected}"


@pytest.mark.parametrize("random_seed", [0, 1, 2])
def test_hypothesis_shrinks_inputs_and_orderings_together(random_seed: int) -> None:
    """Whatever examples Hypothesis starts from, it ends at the simplest: amounts of 1 and
    one deviation. (A run with a deviation may make fewer choices, and Hypothesis prefers
    fewer draws: a deviation must cost draws, or it ends at two deviations, see
    HypothesisScheduler.)"""
    seen: list[tuple[int, int, HypothesisScheduler]] = []

    @seed(random_seed)
    @settings(database=None, deadline=None, max_examples=200)
    @given(amounts=st.tuples(st.integers(1, 50), st.integers(1, 50)), schedule=schedules())
    def check(amounts: tuple[int, int], schedule: HypothesisScheduler) -> None:
        seen.append((*amounts, schedule))
        simloop.run(account_check(*amounts), scheduler=schedule)

    with pytest.raises(AssertionError, match="balance 99, expected 100"):
        check()
    withdrawal, deposit, schedule = seen[-1]
    assert (withdrawal, deposit) == (1, 1)
    assert schedule.deviations == 1


def test_a_race_free_program_passes_every_drawn_schedule() -> None:
    runs = []

    @settings(QUICK, max_examples=60)
    @given(schedule=schedules())
    def check_fixed(schedule: HypothesisScheduler) -> None:
        simloop.run(bank_fixed(), scheduler=schedule)
        runs.append(schedule.deviations)

    check_fixed()
    assert len(runs) >= 5
    assert max(runs) >= 2  # Hypothesis did try other orders


def test_a_scheduler_remembers_its_choices_across_loops() -> None:
    @settings(QUICK, max_examples=5)
    @given(schedule=schedules())
    def two_runs(schedule: HypothesisScheduler) -> None:
        assert repr(schedule) == "schedules()"
        assert schedule.choices == []
        simloop.run(bank_fixed(), scheduler=schedule)
        first = list(schedule.choices)
        simloop.run(bank_fixed(), scheduler=schedule)
        assert schedule.choices[: len(first)] == first
        assert len(schedule.choices) > len(first)
        assert schedule.deviations == sum(1 for c in schedule.choices if c)

    two_runs()


def test_from_type_draws_a_schedule() -> None:
    drawn = find(st.from_type(simloop.Scheduler), lambda schedule: True, settings=QUICK)
    assert isinstance(drawn, HypothesisScheduler)

    @settings(QUICK, max_examples=10)
    @given(schedule=st.from_type(simloop.Scheduler))
    def runs_with_it(schedule: simloop.Scheduler) -> None:
        assert isinstance(schedule, HypothesisScheduler)
        simloop.run(bank_fixed(), scheduler=schedule)

    runs_with_it()


FRESH_PROCESS = """
import warnings
warnings.simplefilter("error")
{imports}
from hypothesis import find, settings, strategies as st
import simloop

drawn = find(st.from_type(simloop.Scheduler), lambda s: True, settings=settings(database=None))
print(type(drawn).__module__, type(drawn).__name__)
"""


@pytest.mark.parametrize(
    "imports",
    ["import hypothesis_simloop", "import simloop", "import hypothesis"],
    ids=["hypothesis_simloop first", "simloop first", "hypothesis first"],
)
def test_the_entry_point_works_whatever_is_imported_first(imports: str) -> None:
    """Hypothesis loads simloop's entry point while ``import hypothesis`` runs, which may be
    in the middle of importing hypothesis_simloop itself (its first import is Hypothesis)."""
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_NO_PLUGINS"}
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FRESH_PROCESS.format(imports=imports))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["hypothesis_simloop", "HypothesisScheduler"]
    assert completed.stderr == ""


# --- SimLoopStateMachine ------------------------------------------------------------------------


class Account:
    def __init__(self) -> None:
        self.balance = 100

    async def withdraw(self, amount: int) -> None:
        balance = self.balance
        await asyncio.sleep(0)  # write to the ledger first
        self.balance = balance - amount

    async def deposit(self, amount: int) -> None:
        await asyncio.sleep(0)
        self.balance += amount


class AccountMachine(SimLoopStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.account = Account()
        self.expected = 100

    @rule(amount=st.integers(1, 30))
    def withdraw(self, amount: int) -> None:
        self.start(self.account.withdraw(amount))
        self.expected -= amount

    @rule(amount=st.integers(1, 30))
    def deposit(self, amount: int) -> None:
        self.start(self.account.deposit(amount))
        self.expected += amount

    @rule()
    def run_pending(self) -> None:
        self.settle()
        balance, expected = self.account.balance, self.expected
        assert balance == expected, f"balance {balance}, expected {expected}"


def test_a_state_machine_finds_a_race_between_its_rules() -> None:
    with pytest.raises(AssertionError, match=r"balance \d+, expected \d+"):
        run_state_machine_as_test(
            AccountMachine, settings=settings(QUICK, max_examples=200, stateful_step_count=8)
        )


class LockedAccount(Account):
    def __init__(self) -> None:
        super().__init__()
        self.lock = asyncio.Lock()

    async def withdraw(self, amount: int) -> None:
        async with self.lock:
            await super().withdraw(amount)

    async def deposit(self, amount: int) -> None:
        await asyncio.sleep(0)
        async with self.lock:
            self.balance += amount


class LockedAccountMachine(AccountMachine):
    machines: ClassVar[list[LockedAccountMachine]] = []

    def __init__(self) -> None:
        super().__init__()
        self.account = LockedAccount()
        self.machines.append(self)
        self.max_pending = 0

    @rule()
    def start_a_slow_audit(self) -> None:
        self.start(asyncio.sleep(3600))

    @invariant()
    def note_concurrency(self) -> None:
        if self.schedule is not None:
            assert self.loop.scheduler is self.schedule
            pending = [task for task in self._started if not task.done()]
            self.max_pending = max(self.max_pending, len(pending))


def test_a_state_machine_runs_rules_concurrently_and_cleans_up() -> None:
    LockedAccountMachine.machines.clear()
    run_state_machine_as_test(
        LockedAccountMachine, settings=settings(QUICK, max_examples=40, stateful_step_count=8)
    )
    machines = LockedAccountMachine.machines
    assert machines
    # Tasks started by different rules were pending together.
    assert max(machine.max_pending for machine in machines) >= 3
    for machine in machines:
        if machine._loop is None:
            continue  # no rule used the loop
        assert machine.loop.is_closed()
        # Teardown cancelled what was still running (the audits, at least).
        assert all(task.done() for task in machine._started)


class CrashingMachine(SimLoopStateMachine):
    @rule()
    def crash_in_the_background(self) -> None:
        async def crash() -> None:
            await asyncio.sleep(0)
            raise ValueError("nobody looked at this")

        self.start(crash())
        self.settle()


def test_a_task_that_crashed_unseen_fails_the_example() -> None:
    with pytest.raises(ValueError, match="nobody looked at this"):
        run_state_machine_as_test(
            CrashingMachine, settings=settings(QUICK, max_examples=10, stateful_step_count=3)
        )


class SetUpMachine(SimLoopStateMachine):
    """Its own initialize rule uses the loop; Hypothesis runs initialize rules in any order."""

    schedule_drawn_first: ClassVar[list[bool]] = []

    @initialize()
    def open_the_shop(self) -> None:
        self.schedule_drawn_first.append(self.schedule is not None)
        self.opened = self.start(asyncio.sleep(1))
        self.run(asyncio.sleep(0))

    @rule()
    def wait_a_little(self) -> None:
        self.advance(0.5)
        assert self.loop.time() <= 100

    def teardown(self) -> None:
        opened = getattr(self, "opened", None)
        super().teardown()
        if opened is not None:
            # The teardown finished what the initialize rule started (the sleep is cancelled
            # unless the rules advanced the clock past it) and closed the loop.
            assert opened.done()
            assert self.loop.is_closed()


def test_an_initialize_rule_of_its_own_may_use_the_loop() -> None:
    SetUpMachine.schedule_drawn_first.clear()
    run_state_machine_as_test(
        SetUpMachine, settings=settings(QUICK, max_examples=30, stateful_step_count=4)
    )
    # Both orders ran: the loop made before the schedule was drawn, and after.
    assert set(SetUpMachine.schedule_drawn_first) == {True, False}


def test_start_does_not_run_the_task_until_settled() -> None:
    class Machine(SimLoopStateMachine):
        @rule()
        def nothing(self) -> None:
            pass

    machine = Machine()
    machine._simloop_start(HypothesisScheduler(_ZeroRandom()))  # type: ignore[arg-type]
    steps: list[str] = []

    async def note(name: str) -> None:
        steps.append(name)
        await asyncio.sleep(0)
        steps.append(name + " again")

    task = machine.start(note("a"), name="a")
    machine.start(note("b"))
    assert steps == []
    machine.settle()
    assert steps == ["a", "b", "a again", "b again"]
    assert task.done()
    assert machine.loop.time() == 0
    later = machine.start(asyncio.sleep(5, result="late"))
    machine.advance(5)
    assert later.result() == "late"
    assert machine.run(asyncio.sleep(1, result=7)) == 7
    assert machine.loop.time() == 6
    machine.teardown()
    assert machine.loop.is_closed()


class _ZeroRandom:
    """A stand-in for Hypothesis's random source: every choice is 0, asyncio's order."""

    def randrange(self, n: int) -> int:
        return 0
