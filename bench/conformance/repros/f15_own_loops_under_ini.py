"""F15: ``simloop_asyncio_loop_factory = true`` (and ``pytest_simloop.anyio_backend()``) put
only the tests that pytest-asyncio (or anyio) runs on SimLoop (fixed: the terminal summary names
the tests that ran a stock loop, and ``simloop_simulate = true`` makes their loops SimLoops). A test that makes its own loop
(``asyncio.run()``, ``asyncio.new_event_loop()``, ``anyio.run()``; tenacity's whole asyncio
suite does) still runs on a stock loop, and nothing says so."""

from _support import missing, report, run_pytest, skip

TESTS = """
import asyncio

async def nap():
    await asyncio.sleep(0.01)
    return type(asyncio.get_running_loop()).__name__

def test_makes_its_own_loop():
    print("LOOP:", asyncio.run(nap()))
"""


def check() -> bool:
    if why := missing("pytest_asyncio"):
        return skip("F15 loops a test makes itself, under the ini", why)
    ini = (
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
        "simloop_asyncio_loop_factory = true\n"
    )
    _, output = run_pytest({"pytest.ini": ini, "test_own_loop.py": TESTS}, "-s")
    stock = "LOOP: _UnixSelectorEventLoop" in output
    named = "simloop: stock event loops" in output and "test_makes_its_own_loop" in output
    _, simulated = run_pytest(
        {"pytest.ini": ini + "simloop_simulate = true\n", "test_own_loop.py": TESTS}, "-s"
    )
    on_simloop = "LOOP: SimLoop" in simulated
    return report(
        "F15 loops a test makes itself, under the ini",
        (stock and not named) or not on_simloop,
        f"asyncio.run() in a test ran on the stock loop ({'named' if named else 'silently'}); "
        f"with simloop_simulate = true: {'SimLoop' if on_simloop else 'still stock'}",
    )


if __name__ == "__main__":
    check()
