"""CPython's ``test.test_asyncio.test_waitfor`` on SimLoop: ``wait_for``.

See conftest.py for how the loops are made, docs/conformance.md for the exclusions."""

from __future__ import annotations

import sys

from cpython_support import check_wiring
from test.test_asyncio import test_waitfor as cpython
from test.test_asyncio.test_waitfor import (
    AsyncioWaitForTest,
)

if sys.version_info >= (3, 12):
    from test.test_asyncio.test_waitfor import (
        WaitForShieldTests,
    )

__all__ = [
    "AsyncioWaitForTest",
]
if sys.version_info >= (3, 12):
    __all__ += ["WaitForShieldTests"]

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {}


def test_wiring() -> None:
    check_wiring(cpython, globals())
