"""Registered when ``simloop_asyncio_loop_factory = true``: pytest-asyncio makes SimLoops.

pytest-asyncio (1.2 and later) asks the ``pytest_asyncio_loop_factories`` hook for the loop
factories to run its tests with. Answering with a SimLoop factory runs every pytest-asyncio test
on a SimLoop: virtual time, asyncio's own order, no other change to the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

import simloop


def pytest_asyncio_loop_factories(
    config: pytest.Config,
    item: pytest.Item,
) -> Mapping[str, Callable[[], simloop.SimLoop]]:
    return {"simloop": simloop.SimLoop}
