"""F3: a clock function bound before the run (``from time import monotonic``, a default
argument ``clock=time.monotonic``) keeps reading the real clock inside a simulation, because
the guards replace the attributes of the ``time`` module, not the functions themselves."""

import asyncio
import time
from time import monotonic  # bound at import time

from _support import compare


def elapsed_since(start: float, clock=time.monotonic) -> float:  # bound when def runs
    return clock() - start


async def main() -> None:
    start = monotonic()
    await asyncio.sleep(0.2)
    by_import = monotonic() - start
    by_default = elapsed_since(start)
    assert by_import >= 0.2, f"`from time import monotonic` saw {by_import:.3f}s pass"
    assert by_default >= 0.2, f"`clock=time.monotonic` saw {by_default:.3f}s pass"


def check() -> bool:
    return compare("F3a clocks bound before the run", main)


if __name__ == "__main__":
    check()
