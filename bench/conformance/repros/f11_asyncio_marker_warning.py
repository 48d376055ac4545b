"""F11: ``@pytest.mark.asyncio`` beside ``@pytest.mark.simloop`` explores, but pytest-asyncio
then warns "is marked with '@pytest.mark.asyncio' but it is not an async function" (the plugin
hands pytest a plain Function), which fails the test under ``filterwarnings = error``."""

from _support import STRICT_INI, missing, report, run_pytest, skip

TESTS = """
import asyncio
import pytest

@pytest.mark.asyncio
@pytest.mark.simloop(runs=3)
async def test_both_markers():
    await asyncio.sleep(0)
"""


def check() -> bool:
    if why := missing("pytest_asyncio"):
        return skip("F11 asyncio marker beside the simloop marker", why)
    ini = STRICT_INI + "filterwarnings = error\n"
    _, output = run_pytest({"pytest.ini": ini, "test_markers.py": TESTS})
    present = "is not an async function" in output
    return report(
        "F11 asyncio marker beside the simloop marker",
        present,
        "pytest-asyncio warns 'not an async function' (an error here)" if present else "no warning",
    )


if __name__ == "__main__":
    check()
