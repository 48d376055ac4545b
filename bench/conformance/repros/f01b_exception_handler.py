"""F1: a library that reports an exception to the loop's exception handler (aiojobs does so
for a failed job, even when the job's waiter also gets the exception) is only logged by
asyncio; a bare SimLoop records it and raises UnhandledExceptionsError."""

import asyncio

from _support import compare


async def main() -> None:
    loop = asyncio.get_running_loop()
    try:
        raise RuntimeError("job failed")
    except RuntimeError as exc:
        loop.call_exception_handler({"message": "Job processing failed", "exception": exc})


def check() -> bool:
    return compare("F1b exception reported with call_exception_handler()", main)


if __name__ == "__main__":
    check()
