"""F5: an unmarked ``async def`` test that takes the ``simloop`` fixture fails with "async def
functions are not natively supported" in pytest-asyncio's strict mode, and in auto mode runs
on pytest-asyncio's real loop (virtual time reads 0 after a sleep)."""

from _support import missing, report, run_pytest, skip

TESTS = """
import asyncio

async def test_sleep_is_virtual(simloop):
    await asyncio.sleep(0.01)
    assert simloop.time() == 0.01
"""


def check() -> bool:
    if why := missing("pytest_asyncio"):
        return skip("F5a unmarked async test with the simloop fixture", why)
    results = {}
    for mode in ("strict", "auto"):
        ini = f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
        _, output = run_pytest({"pytest.ini": ini, "test_fixture.py": TESTS})
        if "not natively supported" in output:
            results[mode] = "not natively supported"
        elif "assert 0.0 == 0.01" in output:
            results[mode] = "ran on a real loop (time 0.0)"
        elif "1 passed" in output:
            results[mode] = "passed on SimLoop"
        else:
            results[mode] = "other: " + output.strip().splitlines()[-1]
    present = any(result != "passed on SimLoop" for result in results.values())
    return report(
        "F5a unmarked async test with the simloop fixture",
        present,
        "; ".join(f"asyncio_mode={mode}: {result}" for mode, result in results.items()),
    )


if __name__ == "__main__":
    check()
