"""CPython's ``test.test_asyncio.test_eager_task_factory`` on SimLoop:
eager tasks (``eager_task_factory``, 3.12+).

See conftest.py for how the loops are made, docs/conformance.md for the exclusions."""

from __future__ import annotations

import sys

import pytest

if sys.version_info < (3, 12):
    pytest.skip("eager tasks are new in Python 3.12", allow_module_level=True)

from cpython_support import check_wiring
from test.test_asyncio import test_eager_task_factory as cpython
from test.test_asyncio.test_eager_task_factory import (
    CEagerTaskFactoryLoopTests,
    EagerCTaskTests,
    EagerPyTaskTests,
    EagerTests,
    NonEagerCTaskTests,
    NonEagerPyTaskTests,
    NonEagerTests,
    PyEagerTaskFactoryLoopTests,
)

__all__ = [
    "CEagerTaskFactoryLoopTests",
    "EagerCTaskTests",
    "EagerPyTaskTests",
    "EagerTests",
    "NonEagerCTaskTests",
    "NonEagerPyTaskTests",
    "NonEagerTests",
    "PyEagerTaskFactoryLoopTests",
]

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {}


def test_wiring() -> None:
    check_wiring(cpython, globals())
