"""F2: stock asyncio asks ``self.time()`` when it schedules a timer and when it decides which
timers are due, so a test may replace ``loop.time`` (aiolimiter's suite does, with
``mock.patch.object(loop, "time", fake)``) and move the fake clock itself. SimLoop schedules
and fires timers by its own clock and ignores the replacement."""

import asyncio
from unittest import mock

from _support import compare


async def main() -> None:
    loop = asyncio.get_running_loop()
    fake_now = 1000.0

    def fake_time() -> float:
        return fake_now

    with mock.patch.object(loop, "time", fake_time):
        fired = loop.create_future()
        handle = loop.call_later(5, fired.set_result, None)
        assert handle.when() == 1005.0, f"the timer is due at {handle.when()}, not at fake 1005"
        fake_now = 1010.0  # the fake clock passes the timer's deadline
        await asyncio.wait([fired], timeout=0)
        assert fired.done(), "the timer due by the patched clock did not fire"


def check() -> bool:
    return compare("F2 patched loop.time", main)


if __name__ == "__main__":
    check()
