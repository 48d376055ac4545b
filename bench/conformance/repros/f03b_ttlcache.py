"""F3: cachetools' TTLCache takes ``timer=time.monotonic`` as a default argument, so inside a
simulation its entries never expire in virtual time (needs ``pip install cachetools``)."""

import asyncio

from _support import compare, skip


async def main() -> None:
    import cachetools

    cache = cachetools.TTLCache(maxsize=10, ttl=0.2)
    cache["token"] = "abc"
    await asyncio.sleep(0.3)  # past the TTL
    assert "token" not in cache, "the TTLCache entry outlived its TTL"


def check() -> bool:
    try:
        import cachetools  # noqa: F401
    except ImportError:
        return skip("F3b cachetools.TTLCache", "cachetools is not installed")
    return compare("F3b cachetools.TTLCache", main)


if __name__ == "__main__":
    check()
