"""CPython's ``test.test_asyncio.test_locks`` on SimLoop:
``Lock``, ``Event``, ``Condition``, ``Semaphore``, ``Barrier``.

See conftest.py for how the loops are made, docs/conformance.md for the exclusions."""

from __future__ import annotations

from cpython_support import check_wiring
from test.test_asyncio import test_locks as cpython
from test.test_asyncio.test_locks import (
    BarrierTests,
    ConditionTests,
    EventTests,
    LockTests,
    SemaphoreTests,
)

__all__ = [
    "BarrierTests",
    "ConditionTests",
    "EventTests",
    "LockTests",
    "SemaphoreTests",
]

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {}


def test_wiring() -> None:
    check_wiring(cpython, globals())
