"""F1: a task that crashed and that nobody awaited is logged by asyncio ("Task exception was
never retrieved"); a bare SimLoop raises UnhandledExceptionsError from run_until_complete."""

import asyncio
import gc

from _support import compare


async def main() -> None:
    async def crash() -> None:
        raise RuntimeError("boom")

    task = asyncio.get_running_loop().create_task(crash())
    await asyncio.sleep(0)
    del task
    gc.collect()  # asyncio logs "Task exception was never retrieved" here
    await asyncio.sleep(0)


def check() -> bool:
    return compare("F1a unretrieved task exception", main)


if __name__ == "__main__":
    check()
