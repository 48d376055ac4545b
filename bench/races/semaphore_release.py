"""Semaphore released twice: ``stop()`` gives back a slot that the download also gives back.

Downloads run under ``asyncio.Semaphore(1)`` (one at a time, the server's limit), with
``async with``. ``stop()`` cancels a download that has not finished and, to let queued
downloads start at once, releases its slot itself. But the cancelled download's
``async with`` releases the slot too: the semaphore now admits two downloads at a time. In
asyncio's order the user's stop arrives after the download finished (nothing to do); one
deviation lets it arrive during the download's last await.

Fix: ``stop()`` only cancels; the download's ``async with`` is the one owner of the release.
"""

from __future__ import annotations

import asyncio

from bench.races._corpus import Race


class Downloader:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.slots = asyncio.Semaphore(limit)
        self.active = 0
        self.peak = 0

    async def download(self, url: str) -> str:
        async with self.slots:
            self.active += 1
            self.peak = max(self.peak, self.active)
            try:
                await asyncio.sleep(0)  # connect
                await asyncio.sleep(0)  # transfer
                return f"contents of {url}"
            finally:
                self.active -= 1

    def stop(self, download: asyncio.Task[str]) -> None:
        if not download.done():
            download.cancel()
            self.slots.release()  # free the slot now rather than when the task unwinds


class CancelOnlyDownloader(Downloader):
    def stop(self, download: asyncio.Task[str]) -> None:
        download.cancel()


async def _user_presses_stop(downloader: Downloader, download: asyncio.Task[str]) -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    downloader.stop(download)


async def _scenario(downloader: Downloader) -> None:
    first = asyncio.create_task(downloader.download("big.iso"))
    await asyncio.gather(first, _user_presses_stop(downloader, first), return_exceptions=True)
    await asyncio.gather(downloader.download("a.txt"), downloader.download("b.txt"))
    assert downloader.peak <= downloader.limit, (
        f"{downloader.peak} downloads at once, the limit is {downloader.limit}"
    )


async def buggy() -> None:
    await _scenario(Downloader(limit=1))


async def fixed() -> None:
    await _scenario(CancelOnlyDownloader(limit=1))


RACE = Race(
    name="semaphore_release",
    pattern="semaphore released twice",
    depth=1,
    kind="exception",
    error=AssertionError,
    buggy=buggy,
    fixed=fixed,
    summary="a stopped download's slot is released by stop() and again by its async with",
)
