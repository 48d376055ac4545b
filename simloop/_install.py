"""Running unmodified programs on SimLoop: loop factories and ``simulated()``.

The primary way to use a SimLoop is as a loop factory (``asyncio.run(main(),
loop_factory=...)``, ``asyncio.Runner(loop_factory=...)``), which is what asyncio recommends
from 3.14 on. Programs that create their loop themselves (``asyncio.run(main())``,
``asyncio.new_event_loop()``, ``asyncio.get_event_loop()``) can still be run unchanged inside
:func:`simulated`, which installs an event loop policy for the duration.
"""

from __future__ import annotations

import asyncio
import functools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from simloop import _stdlib
from simloop._loop import SimLoop


def loop_factory(**loop_options: Any) -> Callable[[], SimLoop]:
    """A zero-argument factory of :class:`SimLoop` with these options, for ``loop_factory=``.

    Arguments are checked now, so a typo fails here rather than inside asyncio.
    """
    SimLoop(**loop_options).close()
    return functools.partial(SimLoop, **loop_options)


class _SimLoopPolicy(asyncio.DefaultEventLoopPolicy):
    def __init__(self, factory: Callable[[], SimLoop]) -> None:
        super().__init__()
        self._factory = factory

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return self._factory()


@contextmanager
def simulated(**loop_options: Any) -> Iterator[None]:
    """Inside this block, asyncio makes SimLoops: for running unmodified programs.

    ``asyncio.run(main())``, ``asyncio.new_event_loop()`` and ``asyncio.get_event_loop()`` all
    create :class:`SimLoop` objects with ``loop_options``. The previous event loop policy and
    current loop are restored on exit. (This uses an event loop policy; asyncio deprecates
    policies from Python 3.14, where ``loop_factory=`` is the way.)
    """
    factory = loop_factory(**loop_options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        previous = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(_SimLoopPolicy(factory))
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            policy = asyncio.get_event_loop_policy()
            # A loop the program left as the current loop (get_event_loop() made one) is ours
            # to close.
            loop = _stdlib.policy_current_loop(policy)
            if isinstance(loop, SimLoop) and not loop.is_running():
                loop.close()
            asyncio.set_event_loop_policy(previous)
