"""F5: ``simloop.advance()`` inside an async test raises "This event loop is already running"
(and leaves the coroutine it made for run_until_complete() never awaited)."""

from _support import STRICT_INI, report, run_pytest

TESTS = """
import pytest

@pytest.mark.simloop(runs=1)
async def test_advance(simloop):
    simloop.advance(5)
    assert simloop.time() == 5
"""


def check() -> bool:
    _, output = run_pytest({"pytest.ini": STRICT_INI, "test_advance.py": TESTS})
    present = "This event loop is already running" in output
    return report(
        "F5b simloop.advance() in an async test",
        present,
        "raises 'This event loop is already running'" if present else "no such error",
    )


if __name__ == "__main__":
    check()
