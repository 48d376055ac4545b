"""CPython's ``test.test_asyncio.test_pep492`` on SimLoop: ``async def``/``await`` support.

CPython's ``BaseTest`` builds a bare ``asyncio.BaseEventLoop`` with a mocked selector; the
classes here are CPython's, with a ``setUp`` that makes a SimLoop instead.
See conftest.py for how the loops are made, docs/conformance.md for the exclusions.
"""

from __future__ import annotations

from cpython_support import check_wiring
from test.test_asyncio import test_pep492 as cpython
from test.test_asyncio import utils as test_utils


class _OnSimLoop(test_utils.TestCase):
    def setUp(self) -> None:
        test_utils.TestCase.setUp(self)  # not BaseTest.setUp, which builds a stock loop
        self.loop = self.new_test_loop()


class LockTests(_OnSimLoop, cpython.LockTests):
    pass


class StreamReaderTests(_OnSimLoop, cpython.StreamReaderTests):
    pass


class CoroutineTests(_OnSimLoop, cpython.CoroutineTests):
    pass


#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {}


def test_wiring() -> None:
    check_wiring(cpython, globals())
