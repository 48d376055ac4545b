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
    """``asyncio.Task`` whose hash is its creation number in its loop.

    An unnamed task is called ``Task-<number>`` after it, so names, too, are the same in every
    run (stock asyncio numbers tasks across the whole process). The name is made when asked
    for, as stock asyncio does, rather than stored with every task.
    """

    # The creation number; negative once the task has a name of its own.
    __slots__ = ("_simloop_key",)

    def __init__(
        self, coro: Any, *, loop: _NumbersTasks, name: str | None = None, **kwargs: Any
    ) -> None:
        # Set before Task.__init__, which puts the task in a WeakSet and so hashes it.
        number = loop._next_task_key()
        self._simloop_key = number if name is None else -number
        super().__init__(coro, loop=loop, name=name, **kwargs)  # type: ignore[arg-type]

    def __hash__(self) -> int:
        # The number without its sign: naming the task must not change its hash, or a set that
        # holds it (a TaskGroup's, asyncio's registry of tasks) could no longer find it.
        return abs(self._simloop_key)

    def get_name(self) -> str:
        if self._simloop_key > 0:
            return f"Task-{self._simloop_key}"
        return super().get_name()

    def set_name(self, value: object) -> None:
        super().set_name(value)
        if self._simloop_key > 0:
            self._simloop_key = -self._simloop_key

    @property
    def creation_number(self) -> int:
        """1 for the first task of its loop, 2 for the next..."""
        return abs(self._simloop_key)


#: ``asyncio.eager_task_factory`` (3.12+) makes stock tasks; a SimLoop given it uses this one.
STOCK_EAGER_FACTORY = getattr(asyncio, "eager_task_factory", None)
EAGER_FACTORY = (
    asyncio.create_eager_task_factory(Task)  # type: ignore[attr-defined]
    if STOCK_EAGER_FACTORY is not None
    else None
)
