"""Registered when ``simloop_asyncio_loop_factory = true``: pytest-asyncio makes SimLoops.

pytest-asyncio (1.2 and later) asks the ``pytest_asyncio_loop_factories`` hook for the loop
factories to run its tests with. Answering with a SimLoop factory runs every pytest-asyncio test
on a SimLoop: virtual time, asyncio's own order, no other change to the tests. The loops are
made with the session's loop options (``--simloop-<name>``, ``simloop_<name>``): bare SimLoops
that log what asyncio logs, unless ``simloop_fail_on_unhandled = true``.

The hook takes the first answer; a project's own factories (its conftest's answer: a uvloop
variant, a test loop of its own) are kept, and SimLoop's is added beside them, so each test runs
on every one of them rather than silently losing the project's.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any

import pytest

import simloop
from pytest_simloop import _settings


@pytest.hookimpl(wrapper=True)
def pytest_asyncio_loop_factories(
    config: pytest.Config,
    item: pytest.Item,
) -> Generator[None, Any, Mapping[str, Callable[[], Any]]]:
    theirs = yield
    factories = dict(theirs) if isinstance(theirs, Mapping) else {}
    factories["simloop"] = simloop.loop_factory(**_settings.session_loop_options(config))
    return factories
