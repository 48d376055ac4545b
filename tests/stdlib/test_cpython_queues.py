"""CPython's ``test.test_asyncio.test_queues`` on SimLoop:
``Queue``, ``LifoQueue``, ``PriorityQueue``.

See conftest.py for how the loops are made, docs/conformance.md for the exclusions."""

from __future__ import annotations

import sys

from cpython_support import check_wiring
from test.test_asyncio import test_queues as cpython
from test.test_asyncio.test_queues import (
    LifoQueueJoinTests,
    LifoQueueTests,
    PriorityQueueJoinTests,
    PriorityQueueTests,
    QueueBasicTests,
    QueueGetTests,
    QueueJoinTests,
    QueuePutTests,
)

if sys.version_info >= (3, 13):
    from test.test_asyncio.test_queues import (
        LifoQueueShutdownTests,
        PriorityQueueShutdownTests,
        QueueShutdownTests,
    )

__all__ = [
    "LifoQueueJoinTests",
    "LifoQueueTests",
    "PriorityQueueJoinTests",
    "PriorityQueueTests",
    "QueueBasicTests",
    "QueueGetTests",
    "QueueJoinTests",
    "QueuePutTests",
]
if sys.version_info >= (3, 13):
    __all__ += ["LifoQueueShutdownTests", "PriorityQueueShutdownTests", "QueueShutdownTests"]

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {}


def test_wiring() -> None:
    check_wiring(cpython, globals())
