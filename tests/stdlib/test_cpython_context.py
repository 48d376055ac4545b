"""CPython's ``test.test_asyncio.test_context`` on SimLoop: context variables across tasks.

See conftest.py for how the loops are made, docs/conformance.md for the exclusions."""

from __future__ import annotations

from cpython_support import check_wiring
from test.test_asyncio import test_context as cpython
from test.test_asyncio.test_context import (
    DecimalContextTest,
)

__all__ = [
    "DecimalContextTest",
]

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {}


def test_wiring() -> None:
    check_wiring(cpython, globals())
