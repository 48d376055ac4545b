"""simloop next to pytest-asyncio (strict and auto mode, its loop-factory hook) and anyio's
plugin; simloop's own auto mode; loading the plugin explicitly."""

from __future__ import annotations

import pytest
from plugin_support import ini, schedules_run, source

#: Tests of each kind, each checking which loop it runs on.
MIXED = """
import asyncio

import pytest
import pytest_asyncio

import simloop


@pytest_asyncio.fixture
async def asyncio_fixture():
    yield type(asyncio.get_running_loop()).__name__


@pytest.fixture
async def plain_async_fixture():
    yield type(asyncio.get_running_loop()).__name__


@pytest.mark.simloop(runs=3)
async def test_simloop(plain_async_fixture):
    assert plain_async_fixture == "SimLoop"
    loop = asyncio.get_running_loop()
    assert isinstance(loop, simloop.SimLoop)
    await asyncio.sleep(3600)
    assert loop.time() == 3600


@pytest.mark.simloop(runs=3)
async def test_simloop_with_asyncio_fixture(asyncio_fixture):
    assert asyncio_fixture == "SimLoop"


@pytest.mark.asyncio
async def test_asyncio(asyncio_fixture):
    assert asyncio_fixture != "SimLoop"
    assert not isinstance(asyncio.get_running_loop(), simloop.SimLoop)


def test_sync():
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
"""


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_pytest_asyncio_tests_stay_on_its_loop(tester: pytest.Pytester, mode: str) -> None:
    tester.makepyfile(test_mixed=MIXED)
    tester.makepyfile(
        test_unmarked=source(
            """
            import asyncio
            import simloop

            async def test_unmarked():
                assert not isinstance(asyncio.get_running_loop(), simloop.SimLoop)
            """
        )
    )
    result = tester.runpytest("-v", "-o", f"asyncio_mode={mode}")
    if mode == "strict":
        # Neither plugin claims an unmarked async test in strict mode.
        result.assert_outcomes(passed=4, failed=1)
        result.stdout.fnmatch_lines(
            ["FAILED test_unmarked.py::test_unmarked - Failed: async def *"]
        )
    else:
        result.assert_outcomes(passed=5)
    assert schedules_run(result) == {
        "test_mixed.py::test_simloop": 3,
        "test_mixed.py::test_simloop_with_asyncio_fixture": 3,
    }
    result.stdout.fnmatch_lines(
        [
            "test_mixed.py::test_simloop: Portfolio(seed=*): 3 schedules, * steps, "
            "10800s virtual in *s*"
        ]
    )


def test_both_auto_modes_are_refused(tester: pytest.Pytester) -> None:
    tester.makeini(ini(asyncio_mode="auto", simloop_mode="auto"))
    tester.makepyfile(test_x="async def test_x():\n    pass\n")
    result = tester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: simloop_mode = auto and asyncio_mode = auto both claim every async test; "
            "choose one (or mark tests with @pytest.mark.simloop / @pytest.mark.asyncio)"
        ]
    )


AUTO = """
import asyncio

import pytest

import simloop

LOOPS = []


@pytest.fixture
async def resource():
    yield type(asyncio.get_running_loop()).__name__


async def test_plain(resource):
    loop = asyncio.get_running_loop()
    LOOPS.append(loop)
    assert isinstance(loop, simloop.SimLoop)
    assert resource == "SimLoop"
    await asyncio.sleep(100)
    assert loop.time() == 100


@pytest.mark.simloop
async def test_marked():
    assert isinstance(asyncio.get_running_loop(), simloop.SimLoop)


@pytest.mark.asyncio
async def test_asyncio():
    assert not isinstance(asyncio.get_running_loop(), simloop.SimLoop)


@pytest.mark.anyio
async def test_anyio():
    assert not isinstance(asyncio.get_running_loop(), simloop.SimLoop)


def test_sync():
    pass
"""


def test_simloop_auto_mode_from_pyproject(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        asyncio_default_fixture_loop_scope = "function"
        filterwarnings = ["error"]
        simloop_mode = "auto"
        simloop_runs = 7
        """
    )
    pytester.makepyfile(test_auto=AUTO)
    pytester.makeconftest(
        "import pytest\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["simloop: mode=auto, seed=per test (from its id), artifacts=*"])
    # An unmarked test runs once, in asyncio's order (simloop_runs is for marked tests).
    assert schedules_run(result) == {"test_auto.py::test_plain": 1, "test_auto.py::test_marked": 7}
    result.stdout.fnmatch_lines(
        ["test_auto.py::test_plain: Fifo(): 1 schedule, * steps, 100s virtual in *s*"]
    )

    result = pytester.runpytest("-v", "--simloop-runs=4")
    result.assert_outcomes(passed=5)
    assert schedules_run(result) == {"test_auto.py::test_plain": 4, "test_auto.py::test_marked": 4}


def test_strict_mode_leaves_unmarked_async_tests_alone(tester: pytest.Pytester) -> None:
    tester.makeini(ini(simloop_mode="strict", asyncio_mode="auto"))
    tester.makepyfile(
        test_strict=source(
            """
            import asyncio
            import simloop

            async def test_unmarked():
                assert not isinstance(asyncio.get_running_loop(), simloop.SimLoop)

            def test_fixture(simloop):
                assert simloop.time() == 0
            """
        )
    )
    result = tester.runpytest("-v")
    result.assert_outcomes(passed=2)
    assert schedules_run(result) == {"test_strict.py::test_fixture": 1}


def test_asyncio_loop_factory_runs_pytest_asyncio_tests_on_simloop(
    tester: pytest.Pytester,
) -> None:
    tester.makeini(ini(simloop_asyncio_loop_factory="true"))
    tester.makepyfile(
        test_factory=source(
            """
            import asyncio
            import time

            import pytest
            import pytest_asyncio

            import simloop

            @pytest_asyncio.fixture
            async def resource():
                await asyncio.sleep(10)
                yield type(asyncio.get_running_loop()).__name__

            @pytest.mark.asyncio
            async def test_on_simloop(resource):
                loop = asyncio.get_running_loop()
                assert isinstance(loop, simloop.SimLoop)
                assert resource == "SimLoop"
                started = time.monotonic()
                await asyncio.sleep(3600)  # virtual: no real hour passes
                assert time.monotonic() - started == 3600

            def test_sync():
                pass
            """
        )
    )
    result = tester.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["test_factory.py::test_on_simloop PASSED*"])
    # pytest-asyncio runs these tests; simloop does not explore them.
    result.stdout.no_fnmatch_line("*explored*")
    assert result.duration < 30


def test_asyncio_loop_factory_needs_pytest_asyncio(tester: pytest.Pytester) -> None:
    tester.makeini("[pytest]\nsimloop_asyncio_loop_factory = true\n")
    tester.makepyfile(test_x="def test_x():\n    pass\n")
    result = tester.runpytest("-p", "no:asyncio")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: simloop_asyncio_loop_factory = true needs pytest-asyncio (>= 1.2) installed"]
    )


def test_anyio_backend_runs_anyio_tests_on_simloop(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_on_simloop=source(
            """
            import asyncio

            import anyio
            import pytest

            import pytest_simloop
            import simloop

            @pytest.fixture
            def anyio_backend():
                return pytest_simloop.anyio_backend(start_time=50)

            @pytest.fixture
            async def resource():
                await anyio.sleep(1)
                yield type(asyncio.get_running_loop()).__name__

            @pytest.mark.anyio
            async def test_anyio(resource):
                loop = asyncio.get_running_loop()
                assert isinstance(loop, simloop.SimLoop)
                assert resource == "SimLoop"
                assert loop.time() == 51
                async with anyio.create_task_group() as group:
                    group.start_soon(anyio.sleep, 10)
                    group.start_soon(anyio.sleep, 20)
                assert loop.time() == 71
                with anyio.fail_after(5):
                    await anyio.sleep(4)
            """
        ),
        test_on_asyncio=source(
            """
            import asyncio

            import pytest

            import simloop

            @pytest.fixture
            def anyio_backend():
                return "asyncio"

            @pytest.mark.anyio
            async def test_anyio():
                assert not isinstance(asyncio.get_running_loop(), simloop.SimLoop)
            """
        ),
    )
    result = tester.runpytest("-v")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*explored*")


def test_plugin_loads_explicitly_without_autoload(
    tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    tester.makeini("[pytest]\nfilterwarnings = error\n")
    tester.makepyfile(
        test_explicit=source(
            """
            import asyncio
            import pytest

            @pytest.mark.simloop(runs=4)
            async def test_marked():
                await asyncio.sleep(1)
            """
        )
    )
    # In a process of its own: here the plugin's module is imported already.
    result = tester.runpytest_subprocess("-v", "--strict-markers")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*'simloop' not found in `markers` configuration option*"])

    result = tester.runpytest_subprocess("-v", "--strict-markers", "-p", "pytest_simloop.plugin")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "simloop: mode=strict, seed=per test (from its id), artifacts=*",
            "test_explicit.py::test_marked: *: 4 schedules, * steps, 4s virtual in *s*",
        ]
    )
