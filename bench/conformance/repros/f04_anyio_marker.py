"""F4: ``@pytest.mark.anyio`` beside ``@pytest.mark.simloop(runs=300)`` runs the test once, on
anyio's own (stock) loop, and passes a race that the same pair with ``@pytest.mark.asyncio``
finds."""

from _support import STRICT_INI, missing, report, run_pytest, skip

TESTS = """
import asyncio
import pytest

counter = 0

async def slow_bump():
    global counter
    value = counter
    await asyncio.sleep(0)      # read, yield, write: a lost update if the other task
    counter = value + 1         # writes in between (never in asyncio's own order)

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

@pytest.fixture
def anyio_backend():
    return "asyncio"

@pytest.mark.anyio
@pytest.mark.simloop(runs=300)
async def test_with_anyio():
    await race()

@pytest.mark.asyncio
@pytest.mark.simloop(runs=300)
async def test_with_asyncio():
    await race()
"""


def check() -> bool:
    if why := missing("anyio", "pytest_asyncio"):
        return skip("F4 anyio marker beside the simloop marker", why)
    _, output = run_pytest({"pytest.ini": STRICT_INI, "test_race.py": TESTS})
    anyio_passed = "PASSED test_race.py::test_with_anyio" in output
    asyncio_failed = "FAILED test_race.py::test_with_asyncio" in output
    return report(
        "F4 anyio marker beside the simloop marker",
        anyio_passed and asyncio_failed,
        f"anyio + simloop: {'passed (one run)' if anyio_passed else 'failed or refused'}; "
        f"asyncio + simloop: {'found the race' if asyncio_failed else 'passed'}",
    )


if __name__ == "__main__":
    check()
