"""CPython's ``test.test_asyncio.test_staggered`` on SimLoop (3.13+): ``staggered_race``.

The staggered start behind "Happy Eyeballs" connections: a race of coroutines started at
intervals, which is all timers and cancellation.
See conftest.py for how the loops are made, docs/conformance.md for the exclusions.
"""

from __future__ import annotations

import sys

import pytest

if sys.version_info < (3, 13):
    pytest.skip("CPython's test_staggered is new in Python 3.13", allow_module_level=True)

from cpython_support import check_wiring
from test.test_asyncio import test_staggered as cpython
from test.test_asyncio.test_staggered import StaggeredTests

__all__ = ["StaggeredTests"]

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {}


def test_wiring() -> None:
    check_wiring(cpython, globals())
