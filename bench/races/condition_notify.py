"""Condition misuse: notify before wait, so the notification is lost.

A supervisor starts a worker and waits for it to report that its model is loaded, with a bare
``await ready.wait()`` on an ``asyncio.Condition``; the worker loads the model (two awaits)
and calls ``notify_all()``. A notification wakes only the tasks already waiting: if the worker
finishes loading before the supervisor starts waiting, the supervisor waits forever
(``simloop.DeadlockError``). In asyncio's order the supervisor, which only logs one line
first, is waiting long before the worker is done; the worker must overtake it twice (two
deviations) to notify first.

Fix: wait for the state, not for the event: ``await ready.wait_for(lambda: worker.loaded)``
returns at once if the worker is already loaded.
"""

from __future__ import annotations

import asyncio

import simloop
from bench.races._corpus import Race


class Worker:
    def __init__(self) -> None:
        self.loaded = False
        self.ready = asyncio.Condition()

    async def load(self) -> None:
        await asyncio.sleep(0)  # read the weights
        await asyncio.sleep(0)  # warm up
        async with self.ready:
            self.loaded = True
            self.ready.notify_all()


class Supervisor:
    def __init__(self) -> None:
        self.log: list[str] = []

    async def _log(self, line: str) -> None:
        await asyncio.sleep(0)
        self.log.append(line)

    async def _wait_ready(self, worker: Worker) -> None:
        async with worker.ready:
            await worker.ready.wait()

    async def start(self, worker: Worker) -> None:
        loading = asyncio.create_task(worker.load())
        await self._log("waiting for the worker")
        await self._wait_ready(worker)
        await loading
        self.log.append("worker ready")


class StateSupervisor(Supervisor):
    async def _wait_ready(self, worker: Worker) -> None:
        async with worker.ready:
            await worker.ready.wait_for(lambda: worker.loaded)


async def _scenario(supervisor: Supervisor) -> None:
    worker = Worker()
    await supervisor.start(worker)
    assert worker.loaded
    assert supervisor.log == ["waiting for the worker", "worker ready"]


async def buggy() -> None:
    await _scenario(Supervisor())


async def fixed() -> None:
    await _scenario(StateSupervisor())


RACE = Race(
    name="condition_notify",
    pattern="Condition notify before wait",
    depth=2,
    kind="deadlock",
    error=simloop.DeadlockError,
    buggy=buggy,
    fixed=fixed,
    summary="the worker notifies before the supervisor waits: the supervisor waits forever",
)
