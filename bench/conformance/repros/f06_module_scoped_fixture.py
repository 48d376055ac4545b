"""F6: a module-scoped async fixture is refused (UsageError) when the simloop test runs alone
or first, but silently handed over, made on pytest-asyncio's loop, when a pytest-asyncio test
of the same module asked for it first."""

from _support import STRICT_INI, missing, report, run_pytest, skip

TESTS = """
import asyncio
import pytest
import pytest_asyncio

@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared():
    await asyncio.sleep(0)
    return {"loop": type(asyncio.get_running_loop()).__name__}

@pytest.mark.asyncio(loop_scope="module")
async def test_a_pytest_asyncio_test(shared):
    pass

@pytest.mark.simloop(runs=5)
async def test_b_simloop_test(shared):
    pass
"""


def check() -> bool:
    if why := missing("pytest_asyncio"):
        return skip("F6 module-scoped async fixture", why)
    _, both = run_pytest({"pytest.ini": STRICT_INI, "test_scopes.py": TESTS})
    _, alone = run_pytest({"pytest.ini": STRICT_INI, "test_scopes.py": TESTS}, "-k", "simloop_test")
    refused_alone = "UsageError" in alone
    accepted_after = "2 passed" in both
    return report(
        "F6 module-scoped async fixture",
        refused_alone and accepted_after,
        f"simloop test alone: {'UsageError' if refused_alone else 'accepted'}; "
        f"after a pytest-asyncio test: {'accepted silently' if accepted_after else 'refused'}",
    )


if __name__ == "__main__":
    check()
