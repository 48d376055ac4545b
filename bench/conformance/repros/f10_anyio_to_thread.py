"""F10: ``asyncio.to_thread()`` is simulated (the function runs as a step of the loop), but
anyio's ``to_thread.run_sync()``, which anyio-based code uses (asyncer's asyncify, Starlette's
run_in_threadpool), starts anyio's own worker threads, and so raises EscapedSimulationError
(needs anyio)."""

import asyncio

from _support import compare, skip


def blocking() -> int:
    return 21


async def main() -> None:
    import anyio.to_thread

    assert await asyncio.to_thread(blocking) == 21
    assert await anyio.to_thread.run_sync(blocking) == 21


def check() -> bool:
    try:
        import anyio  # noqa: F401
    except ImportError:
        return skip("F10 anyio.to_thread.run_sync", "anyio is not installed")
    return compare("F10 anyio.to_thread.run_sync", main)


if __name__ == "__main__":
    check()
