"""F1: an async generator that fails to close when the Runner shuts the loop down
(shutdown_asyncgens) is logged by asyncio ("an error occurred during closing of asynchronous
generator"); with a bare SimLoop, leaving the Runner raises UnhandledExceptionsError."""

from _support import compare

open_generators = []


async def stuck():
    try:
        yield 1
    except BaseException:  # noqa: BLE001 - GeneratorExit too: that is the point
        yield 2  # ignores the aclose() that finalizes it


async def main() -> None:
    generator = stuck()
    await generator.__anext__()
    open_generators.append(generator)  # still alive when the Runner closes the loop


def check() -> bool:
    return compare("F1c async generator failing to close at shutdown", main)


if __name__ == "__main__":
    check()
