"""CPython's ``test.test_asyncio.test_threads`` on SimLoop: ``asyncio.to_thread``.

simloop runs executor jobs in the loop's own thread, as steps of their own (no worker thread);
these tests check that ``to_thread`` still behaves as asyncio documents it.
See conftest.py for how the loops are made, docs/conformance.md for the exclusions.
"""

from __future__ import annotations

from cpython_support import check_wiring
from test.test_asyncio import test_threads as cpython
from test.test_asyncio.test_threads import ToThreadTests

__all__ = ["ToThreadTests"]

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {}


def test_wiring() -> None:
    check_wiring(cpython, globals())
