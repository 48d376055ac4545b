"""Running unmodified programs on SimLoop: loop factories and ``simulated()``.

The primary way to use a SimLoop is as a loop factory (``asyncio.run(main(),
loop_factory=...)``, ``asyncio.Runner(loop_factory=...)``), which is what asyncio recommends
from 3.14 on. Programs that create their loop themselves (``asyncio.run(main())``,
``asyncio.new_event_loop()``, ``asyncio.get_event_loop()``) can still be run unchanged inside
:func:`simulated`, which installs an event loop policy for the duration.

The policy is process-wide, but what it does is per thread: only the threads inside
``simulated()`` get SimLoops; every other thread (one running a stock event loop of its own,
another simulation) gets what the previous policy gives it, unless a ``simulated(every_thread=
True)`` block (the pytest plugin's ``simloop_simulate``) covers them all. Threads may enter and
leave ``simulated()`` in any order: the policy stays installed while any of them is inside.
"""

from __future__ import annotations

import asyncio
import functools
import threading
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
    """Makes SimLoops in the threads inside ``simulated()``, defers to ``previous`` in the
    others."""

    def __init__(self, previous: asyncio.AbstractEventLoopPolicy) -> None:
        super().__init__()
        self.previous = previous
        #: Per thread, the factories of the simulated() blocks it is inside (innermost last);
        #: under None, those of the blocks that cover every thread.
        self.factories: dict[int | None, list[Callable[[], SimLoop]]] = {}

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        stack = self.factories.get(threading.get_ident()) or self.factories.get(None)
        if not stack:
            return self.previous.new_event_loop()
        return stack[-1]()


_policy_lock = threading.Lock()
_policy: _SimLoopPolicy | None = None


def _get_policy() -> asyncio.AbstractEventLoopPolicy:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return asyncio.get_event_loop_policy()


def _set_policy(policy: asyncio.AbstractEventLoopPolicy) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_event_loop_policy(policy)


@contextmanager
def simulated(*, every_thread: bool = False, **loop_options: Any) -> Iterator[None]:
    """Inside this block, asyncio makes SimLoops: for running unmodified programs.

    ``asyncio.run(main())``, ``asyncio.new_event_loop()`` and ``asyncio.get_event_loop()`` all
    create :class:`SimLoop` objects with ``loop_options``, in the thread that entered the block
    (other threads keep making the loops they made before), or with ``every_thread``, in every
    thread that is not inside a ``simulated()`` block of its own. The previous event loop
    policy and current loop are restored on exit. (This uses an event loop policy; asyncio
    deprecates policies from Python 3.14, where ``loop_factory=`` is the way.)
    """
    global _policy
    factory = loop_factory(**loop_options)
    ident = None if every_thread else threading.get_ident()
    with _policy_lock:
        if _policy is None or _get_policy() is not _policy:
            _policy = _SimLoopPolicy(_get_policy())
            _set_policy(_policy)
        policy = _policy
        policy.factories.setdefault(ident, []).append(factory)
    try:
        yield
    finally:
        # A loop the program left as this thread's current loop (get_event_loop() made one)
        # is ours to close.
        loop = _stdlib.policy_current_loop(policy)
        if isinstance(loop, SimLoop) and not loop.is_running():
            loop.close()
            policy.set_event_loop(None)
        with _policy_lock:
            stack = policy.factories[ident]
            stack.pop()
            if not stack:
                del policy.factories[ident]
            if not policy.factories and _policy is policy:
                _policy = None
                if _get_policy() is policy:
                    _set_policy(policy.previous)
