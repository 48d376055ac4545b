"""F9: a blocking ``time.sleep()`` inside the loop makes SimLoop warn (BlockingCallWarning),
which a suite running with warnings as errors (``filterwarnings = error``, common) turns into
a failure; stock asyncio does not warn (it logs slow callbacks in debug mode only)."""

import time
import warnings

from _support import compare


async def main() -> None:
    time.sleep(0.05)  # blocks the loop: asyncer's tutorial shows this on purpose


def check() -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return compare("F9 BlockingCallWarning under warnings-as-errors", main)


if __name__ == "__main__":
    check()
