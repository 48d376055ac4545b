"""An existing suite adopts simloop with no surprises: the other async plugins' markers beside
simloop's, the fixture in any async test, async fixture scopes, the loops other plugins and the
tests themselves make."""

from __future__ import annotations

import pytest
from plugin_support import ini, schedules_run, source

#: A lost update that needs one deviation from asyncio's order (never happens in it).
RACE = """
import asyncio

import pytest

counter = 0


async def slow_bump():
    global counter
    value = counter
    await asyncio.sleep(0)
    counter = value + 1


async def late_bump():
    global counter
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    counter += 1


async def race():
    global counter
    counter = 0
    async with asyncio.TaskGroup() as tg:
        tg.create_task(slow_bump())
        tg.create_task(late_bump())
    assert counter == 2
"""


def test_the_anyio_marker_beside_simloops_explores(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_race=RACE
        + source(
            """
            @pytest.fixture
            def anyio_backend():
                return "asyncio"

            @pytest.mark.anyio
            @pytest.mark.simloop(runs=300)
            async def test_with_anyio():
                await race()

            @pytest.mark.anyio
            @pytest.mark.simloop(runs=3)
            async def test_asks_for_the_backend(anyio_backend):
                assert anyio_backend == "asyncio"
            """
        )
    )
    result = tester.runpytest("-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["simloop: failed on schedule * of 300 *deviation*"])
    assert schedules_run(result)["test_race.py::test_asks_for_the_backend"] == 3


def test_a_trio_backend_for_a_simloop_test_is_a_usage_error(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_trio=source(
            """
            import pytest

            @pytest.fixture(params=["asyncio", "trio"])
            def anyio_backend(request):
                return request.param

            @pytest.mark.anyio
            @pytest.mark.simloop(runs=3)
            async def test_both():
                pass
            """
        )
    )
    result = tester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: test_trio.py::test_both[[]trio[]] runs on simloop, but anyio_backend gives it "
            "'trio': simloop simulates asyncio; give this test the asyncio backend"
        ]
    )


def test_the_asyncio_marker_beside_simloops_explores_without_a_warning(
    tester: pytest.Pytester,
) -> None:
    tester.makepyfile(
        test_race=RACE
        + source(
            """
            pytestmark = pytest.mark.asyncio

            @pytest.mark.simloop(runs=300)
            async def test_with_asyncio():
                await race()

            @pytest.mark.simloop(runs=3)
            async def test_quiet():
                await asyncio.sleep(0)
            """
        )
    )
    result = tester.runpytest("-v", "-m", "asyncio")  # still selected by the asyncio marker
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.no_fnmatch_line("*not an async function*")
    assert schedules_run(result)["test_race.py::test_quiet"] == 3


FIXTURE_TEST = """
import asyncio


async def test_sleep_is_virtual(simloop):
    await asyncio.sleep(0.01)
    assert simloop.time() == 0.01
    assert type(asyncio.get_running_loop()).__name__ == "SimLoop"


def test_sync_driver(simloop):
    simloop.advance(5)
    assert simloop.time() == 5
"""


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_an_unmarked_async_test_asking_for_the_fixture_runs_on_simloop(
    tester: pytest.Pytester, mode: str
) -> None:
    tester.makeini(ini(asyncio_mode=mode))
    tester.makepyfile(test_fixture=FIXTURE_TEST)
    result = tester.runpytest("-v")
    result.assert_outcomes(passed=2)
    assert schedules_run(result) == {
        "test_fixture.py::test_sleep_is_virtual": 1,
        "test_fixture.py::test_sync_driver": 1,
    }


def test_advance_inside_an_async_test_is_refused_clearly(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_advance=source(
            """
            import pytest

            @pytest.mark.simloop(runs=1)
            async def test_advance(simloop):
                simloop.advance(5)
            """
        )
    )
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * RuntimeError: simloop.advance() inside an async test: the test already runs on "
            "the simulated loop, so let time pass by awaiting, e.g. `await asyncio.sleep(5)`"
        ]
    )
    result.stdout.no_fnmatch_line("*never awaited*")


MODULE_FIXTURE = """
import asyncio

import pytest
import pytest_asyncio


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared():
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__name__


@pytest.mark.asyncio(loop_scope="module")
async def test_a_pytest_asyncio_test(shared):
    pass


@pytest.mark.simloop(runs=5)
async def test_b_simloop_test(shared):
    pass
"""


@pytest.mark.parametrize("select", [[], ["-k", "simloop_test"]])
def test_a_module_scoped_async_fixture_is_refused_in_any_order(
    tester: pytest.Pytester, select: list[str]
) -> None:
    tester.makepyfile(test_scopes=MODULE_FIXTURE)
    result = tester.runpytest(*select)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: async fixture 'shared' has scope 'module', but simloop runs the async "
            "fixtures of test_scopes.py::test_b_simloop_test inside each schedule, on that "
            "schedule's loop; make it function-scoped (or a sync fixture)"
        ]
    )


def test_a_projects_own_loop_factories_are_kept_beside_simloops(tester: pytest.Pytester) -> None:
    tester.makeini(ini(simloop_asyncio_loop_factory="true"))
    tester.makeconftest(
        source(
            """
            import asyncio

            class ProjectLoop(asyncio.SelectorEventLoop):
                pass

            def pytest_asyncio_loop_factories(config, item):
                return {"project": ProjectLoop}
            """
        )
    )
    tester.makepyfile(
        test_loop=source(
            """
            import asyncio

            import pytest

            @pytest.mark.asyncio
            async def test_which_loop():
                print("LOOP:", type(asyncio.get_running_loop()).__name__)
            """
        )
    )
    result = tester.runpytest("-v", "-s")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*LOOP: ProjectLoop*", "*LOOP: SimLoop*"], consecutive=False)


OWN_LOOP = """
import asyncio


async def crash():
    raise RuntimeError("lost")


async def nap():
    asyncio.create_task(crash())  # nobody retrieves its exception: asyncio logs it
    await asyncio.sleep(3600)
    return type(asyncio.get_running_loop()).__name__


def test_makes_its_own_loop():
    print("LOOP:", asyncio.run(nap()))
"""


def test_a_stock_loop_under_simloops_loop_factory_is_named(tester: pytest.Pytester) -> None:
    tester.makeini(ini(simloop_asyncio_loop_factory="true"))
    tester.makepyfile(test_own_loop=OWN_LOOP.replace("3600", "0.01"))
    result = tester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*simloop: stock event loops*",
            "1 test ran a stock event loop, not a SimLoop, though simloop is configured to run "
            "this session's tests on it:",
            "  test_own_loop.py::test_makes_its_own_loop: asyncio.unix_events."
            "_UnixSelectorEventLoop",
            "Loops a test makes itself (asyncio.run(), new_event_loop()) become SimLoops with "
            "simloop_simulate = true.",
        ]
    )


def test_simulate_puts_the_loops_tests_make_on_simloop(tester: pytest.Pytester) -> None:
    tester.makeini(ini(simloop_simulate="true"))
    tester.makepyfile(test_own_loop=OWN_LOOP)
    result = tester.runpytest("-s")
    result.assert_outcomes(passed=1)  # a bare SimLoop logs the lost exception, as asyncio does
    result.stdout.fnmatch_lines(["*LOOP: SimLoop*"])
    result.stdout.no_fnmatch_line("*stock event loops*")
    assert result.duration < 30


def test_the_sessions_loop_options_reach_the_loops_simloop_gives_others(
    tester: pytest.Pytester,
) -> None:
    tester.makeini(ini(simloop_simulate="true", simloop_fail_on_unhandled="true"))
    tester.makepyfile(test_own_loop=OWN_LOOP)
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*UnhandledExceptionsError: 1 exception nobody retrieved*"])
