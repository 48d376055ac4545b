"""The tasks a SimLoop creates: stock ``asyncio.Task``, hashed by creation order.

A stock task hashes by its memory address, so a set of tasks (``TaskGroup`` keeps one,
``asyncio.wait`` returns two, ``all_tasks`` builds one) iterates in an order that depends on
where the allocator put each task, which differs in another process. ``TaskGroup`` cancels its
tasks in that order when one fails, so a replay in a new process could diverge. Hashing by a
per-loop creation number makes the order the same in every process.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol


class _NumbersTasks(Protocol):
    def _next_task_key(self) -> int: ...


class Task(asyncio.Task):  # type: ignore[type-arg]
    """``asyncio.Task`` whose hash is its creation number in its loop."""

    __slots__ = ("_simloop_key",)

    def __init__(self, coro: Any, *, loop: _NumbersTasks, **kwargs: Any) -> None:
        # Set before Task.__init__, which puts the task in a WeakSet and so hashes it.
        self._simloop_key = loop._next_task_key()
        super().__init__(coro, loop=loop, **kwargs)  # type: ignore[arg-type]

    def __hash__(self) -> int:
        return self._simloop_key


#: ``asyncio.eager_task_factory`` (3.12+) makes stock tasks; a SimLoop given it uses this one.
STOCK_EAGER_FACTORY = getattr(asyncio, "eager_task_factory", None)
EAGER_FACTORY = (
    asyncio.create_eager_task_factory(Task)  # type: ignore[attr-defined]
    if STOCK_EAGER_FACTORY is not None
    else None
)
