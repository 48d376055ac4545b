"""CPython's ``test.test_asyncio.test_futures`` on SimLoop:
futures (C and Python), their callbacks and subclasses.

See conftest.py for how the loops are made, docs/conformance.md for the exclusions."""

from __future__ import annotations

from cpython_support import check_wiring
from test.test_asyncio import test_futures as cpython
from test.test_asyncio.test_futures import (
    CFutureDoneCallbackTests,
    CFutureInheritanceTests,
    CFutureTests,
    CSubFutureDoneCallbackTests,
    CSubFutureTests,
    DuckTests,
    PyFutureDoneCallbackTests,
    PyFutureInheritanceTests,
    PyFutureTests,
)

__all__ = [
    "CFutureDoneCallbackTests",
    "CFutureInheritanceTests",
    "CFutureTests",
    "CSubFutureDoneCallbackTests",
    "CSubFutureTests",
    "DuckTests",
    "PyFutureDoneCallbackTests",
    "PyFutureInheritanceTests",
    "PyFutureTests",
]

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {}


def test_wiring() -> None:
    check_wiring(cpython, globals())
