"""Hypothesis: ``@given`` tests on SimLoop, ``schedules()``, health checks, state machines."""

from __future__ import annotations

import pytest
from plugin_support import line_number, source

#: A lost update that needs one deviation from asyncio's order (see plugin_support.RACE).
SCENARIO = """
import asyncio

import pytest
from hypothesis import given, settings, strategies as st

import simloop
from hypothesis_simloop import HypothesisScheduler, schedules

LOOPS = []
examples = settings(max_examples=60, database=None, deadline=None, derandomize=True)


async def scenario():
    state = {"balance": 0}

    async def deposit(amount):
        balance = state["balance"]
        await asyncio.sleep(0)
        state["balance"] = balance + amount

    task = asyncio.create_task(deposit(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    state["balance"] += 2
    await task
    assert state["balance"] == 3, f"lost update: {state['balance']}"
"""


def test_given_async_test_runs_each_example_on_a_fresh_simloop(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_given=SCENARIO
        + source(
            """
            @examples
            @given(delay=st.integers(0, 10**6))
            @pytest.mark.simloop
            async def test_examples(delay):
                loop = asyncio.get_running_loop()
                assert isinstance(loop, simloop.SimLoop)
                LOOPS.append(loop)
                await asyncio.sleep(delay)
                assert loop.time() == delay
                # Without schedules(), each example runs in asyncio's order: no race.
                await scenario()

            def test_loops():
                assert len(LOOPS) == 60
                assert len({id(loop) for loop in LOOPS}) == 60
                assert all(loop.is_closed() for loop in LOOPS)
            """
        )
    )
    result = tester.runpytest("-v")
    result.assert_outcomes(passed=2)
    # Exploration is Hypothesis's job here: simloop adds no schedules of its own.
    result.stdout.no_fnmatch_line("*explored*")


def test_given_async_test_with_schedules_finds_the_race(tester: pytest.Pytester) -> None:
    module = SCENARIO + source(
        """
        @examples
        @given(schedule=schedules())
        @pytest.mark.simloop
        async def test_race(schedule):
            assert isinstance(schedule, HypothesisScheduler)
            await scenario()
        """
    )
    tester.makepyfile(test_given=module)
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    assert_line = line_number(module, "assert state")
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: lost update: 1",
            "E * simloop: failed after * steps at virtual time 0s. The schedule came from "
            "Hypothesis (1 deviation from asyncio's order, choices [[]*[]]); Hypothesis "
            "replays it from its example database on the next run.",
            f"test_given.py:{assert_line}: AssertionError",
        ]
    )


def test_given_failure_names_the_test(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_given=SCENARIO
        + source(
            """
            @examples
            @given(schedule=schedules())
            @pytest.mark.simloop
            async def test_race(schedule):
                await scenario()
            """
        )
    )
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*run_example(*")
    result.stdout.fnmatch_lines(["E *test_race(", "E *schedule=*"])


def test_given_sync_test_with_the_fixture(tester: pytest.Pytester) -> None:
    module = SCENARIO + source(
        """
        @examples
        @given(delay=st.integers(0, 10**6))
        def test_fresh_loop_per_example(simloop, delay):
            LOOPS.append(simloop.loop)
            assert simloop.time() == 0
            simloop.run(asyncio.sleep(delay))
            assert simloop.time() == delay
            simloop.run(scenario())  # asyncio's order: no race

        def test_loops():
            assert len(LOOPS) == 60
            assert len({id(loop) for loop in LOOPS}) == 60
            assert all(loop.is_closed() for loop in LOOPS)

        @examples
        @given(schedule=schedules())
        def test_schedule_drives_the_fixture(simloop, schedule):
            simloop.run(scenario())

        @examples
        @given(schedule=st.from_type(simloop.Scheduler))
        def test_from_type(schedule):
            assert isinstance(schedule, HypothesisScheduler)
            simloop.run(asyncio.sleep(1), scheduler=schedule)
        """
    )
    tester.makepyfile(test_given=module)
    result = tester.runpytest()
    # The fixture needs no health check suppressed.
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.no_fnmatch_line("*FailedHealthCheck*")
    result.stdout.fnmatch_lines(
        [
            "*_ test_schedule_drives_the_fixture _*",
            "simloop = <simloop harness seed=None scheduler=schedules() -> 1 deviation, "
            "choices [[]*[]]>",
            "E * AssertionError: lost update: 1",
            "FAILED test_given.py::test_schedule_drives_the_fixture - AssertionError: *",
        ]
    )


def test_given_keeps_other_health_checks(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_health=source(
            """
            import pytest
            from hypothesis import HealthCheck, given, settings, strategies as st

            EXAMPLES = []

            @pytest.fixture
            def other():
                return 1

            @settings(max_examples=5, database=None)
            @given(n=st.integers())
            def test_other_fixture(other, simloop, n):
                pass

            @settings(max_examples=5, database=None)
            @given(n=st.integers())
            def test_no_simloop(other, n):
                pass

            @settings(max_examples=7, database=None, suppress_health_check=[HealthCheck.too_slow])
            @given(n=st.integers())
            def test_own_settings_kept(simloop, n):
                EXAMPLES.append(n)

            def test_examples():
                assert len(EXAMPLES) == 7
            """
        )
    )
    result = tester.runpytest()
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E * hypothesis.errors.FailedHealthCheck: 'test_health.py::test_other_fixture' uses "
            "the function-scoped fixture 'other'. *",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E * hypothesis.errors.FailedHealthCheck: 'test_health.py::test_no_simloop' uses "
            "a function-scoped fixture 'other'.",
        ]
    )


def test_health_check_does_not_blame_the_simloop_fixture(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_health=source(
            """
            import pytest
            from hypothesis import given, settings, strategies as st

            @pytest.fixture
            def other():
                return 1

            @settings(max_examples=5, database=None)
            @given(n=st.integers())
            def test_simloop_first(simloop, other, n):
                pass
            """
        )
    )
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E *.FailedHealthCheck: * uses the function-scoped fixture 'other'. *"]
    )


def test_given_with_async_fixture_is_refused(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_given=source(
            """
            import pytest
            from hypothesis import HealthCheck, given, settings, strategies as st

            @pytest.fixture
            async def resource():
                return 1

            @settings(
                max_examples=5,
                database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture],
            )
            @given(n=st.integers())
            @pytest.mark.simloop
            async def test_with_async_fixture(resource, n):
                pass
            """
        )
    )
    result = tester.runpytest()
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*test_given.py::test_with_async_fixture: async fixtures (resource) are not supported "
            "in @given tests on simloop; make them sync fixtures, or set the state up inside the "
            "test*"
        ]
    )


STATE_MACHINE = '''
import asyncio

from hypothesis import settings
from hypothesis.stateful import rule

import simloop
from hypothesis_simloop import SimLoopStateMachine


class Account:
    """A deposit reads, yields, then writes; a bonus yields twice, then adds at once. In
    asyncio's order a bonus started with a deposit lands after the deposit's write."""

    def __init__(self):
        self.balance = 0

    async def deposit(self, amount):
        balance = self.balance
        await asyncio.sleep(0)
        self.balance = balance + amount

    async def bonus(self, amount):
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.balance += amount


class AccountMachine(SimLoopStateMachine):
    def __init__(self):
        super().__init__()
        self.account = Account()
        self.expected = 0

    @rule()
    def deposit_and_bonus(self):
        self.settle()  # two deposits at once lose an update even in asyncio's order
        self.start(self.account.deposit(1))
        self.start(self.account.bonus(10))
        self.expected += 11

    @rule()
    def settle_and_check(self):
        self.settle()
        assert self.account.balance == self.expected, (
            f"lost update after {self.schedule.deviations} deviations"
        )


AccountMachine.TestCase.settings = settings(
    max_examples=300, database=None, deadline=None, derandomize=True, stateful_step_count=5
)
TestAccount = AccountMachine.TestCase


def test_fine_in_asyncios_order():
    async def main():
        account = Account()
        for _ in range(3):
            await asyncio.gather(account.deposit(1), account.bonus(10))
        assert account.balance == 33

    simloop.run(main())
'''


def test_state_machine_finds_an_interleaving_bug(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_machine=STATE_MACHINE)
    result = tester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: lost update after [1-9] deviations",
            "E * state = AccountMachine()",
            "E * state._simloop_start(schedule=schedules())",
            "E * state.deposit_and_bonus()",
            "E * state.settle_and_check()",
            "FAILED test_machine.py::TestAccount::runTest - AssertionError: lost update*",
        ]
    )
