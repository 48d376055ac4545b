"""F14: with ``simloop_asyncio_loop_factory = true``, simloop answers pytest-asyncio's
``pytest_asyncio_loop_factories`` hook (first answer wins), so a project's own answer in its
conftest (aiostream's fake-clock test loop, a uvloop variant...) is dropped without a word
(fixed: SimLoop's factory is added beside the project's, and each test runs on both)."""

from _support import missing, report, run_pytest, skip

CONFTEST = """
import asyncio

class ProjectLoop(asyncio.SelectorEventLoop):
    pass

def pytest_asyncio_loop_factories(config, item):
    return {"project": ProjectLoop}
"""

TESTS = """
import asyncio
import pytest

@pytest.mark.asyncio
async def test_which_loop():
    print("LOOP:", type(asyncio.get_running_loop()).__name__)
"""


def check() -> bool:
    if why := missing("pytest_asyncio"):
        return skip("F14 a conftest's own loop factories", why)
    ini = (
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
        "simloop_asyncio_loop_factory = true\n"
    )
    _, output = run_pytest(
        {"pytest.ini": ini, "conftest.py": CONFTEST, "test_loop.py": TESTS}, "-s"
    )
    ran_on = sorted(name for name in ("SimLoop", "ProjectLoop") if f"LOOP: {name}" in output)
    warned = "pytest_asyncio_loop_factories" in output and "simloop" in output.lower()
    return report(
        "F14 a conftest's own loop factories",
        ran_on == ["SimLoop"] and not warned,
        f"the test ran on {', '.join(ran_on) or '?'}; a warning about a dropped factory: {warned}",
    )


if __name__ == "__main__":
    check()
