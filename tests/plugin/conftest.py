"""Fixtures of the plugin's end-to-end tests (helpers are in plugin_support.py)."""

from __future__ import annotations

# Imported here, before any inner run, so that they stay imported: pytester drops the modules
# an in-process run imported, and the inner runs import Hypothesis (its pytest plugin and
# simloop's Hypothesis integration do), which would otherwise be imported (and, being a pytest
# plugin's distribution, assertion-rewritten) again by every inner run, at about a second each.
import hypothesis.stateful  # noqa: F401
import hypothesis_simloop  # noqa: F401
import pytest
from plugin_support import BASE_INI

import simloop.net._loopio  # noqa: F401  (the simulated network, imported on first use)


@pytest.fixture
def tester(pytester: pytest.Pytester) -> pytest.Pytester:
    """``pytester`` with the ini file every inner run starts from (see BASE_INI)."""
    pytester.makeini(BASE_INI)
    return pytester
