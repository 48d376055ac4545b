"""F8: ``SimLoop(bogus=1)`` raises TypeError, and then, when the half-made loop is collected,
prints "Exception ignored in: <function BaseEventLoop.__del__ ...>" (``_closed`` is never set,
because the call fails before ``__init__`` runs)."""

import subprocess
import sys

from _support import ROOT, report

SCRIPT = """
import gc, simloop
try:
    simloop.SimLoop(bogus=1)
except TypeError as exc:
    print("raised:", exc)
gc.collect()
"""


def check() -> bool:
    process = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    present = "Exception ignored" in process.stderr
    return report(
        "F8 SimLoop(bogus=1)",
        present,
        "also prints 'Exception ignored in BaseEventLoop.__del__'" if present else "clean error",
    )


if __name__ == "__main__":
    check()
