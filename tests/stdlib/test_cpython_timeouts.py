"""CPython's ``test.test_asyncio.test_timeouts`` on SimLoop: ``asyncio.timeout``/``timeout_at``.

See conftest.py for how the loops are made, docs/conformance.md for the exclusions."""

from __future__ import annotations

from cpython_support import check_wiring
from test.test_asyncio import test_timeouts as cpython
from test.test_asyncio.test_timeouts import (
    TimeoutTests,
)

__all__ = [
    "TimeoutTests",
]

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {}


def test_wiring() -> None:
    check_wiring(cpython, globals())
