"""CPython's ``test.test_asyncio.test_futures2`` on SimLoop:
futures and tasks under ``IsolatedAsyncioTestCase``.

See conftest.py for how the loops are made, docs/conformance.md for the exclusions."""

from __future__ import annotations

from cpython_support import check_wiring
from test.test_asyncio import test_futures2 as cpython
from test.test_asyncio.test_futures2 import (
    CFutureTests,
    FutureReprTests,
    PyFutureTests,
)

__all__ = [
    "CFutureTests",
    "FutureReprTests",
    "PyFutureTests",
]

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {}


def test_wiring() -> None:
    check_wiring(cpython, globals())
