"""F12 (a documented difference, not a bug): a task that stays ready (``await sleep(0)`` in a
loop) until a timeout ends it never ends on SimLoop, because virtual time does not move while
anything is ready; stock asyncio's clock moves anyway. SimLoop reports it (StepLimitError)
rather than hanging."""

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
