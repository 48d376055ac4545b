"""F12: a task that stays ready (``await sleep(0)`` in a loop) until a timeout ends it. Stock
asyncio's clock moves while it spins; SimLoop's stood still while anything was ready, so the
spin ran into the step limit. Gone since the clock moves by a microsecond per busy step to
the next timer (simloop._kernel.BUSY_STEP_NS): a 10 ms timeout ends it after 10,000 steps."""

import asyncio

from _support import compare


async def spin() -> None:
    while True:
        await asyncio.sleep(0)


async def main() -> None:
    try:
        await asyncio.wait_for(spin(), timeout=0.01)
    except TimeoutError:
        return


def check() -> bool:
    return compare("F12 busy loop ended by a timeout", main)


if __name__ == "__main__":
    check()
