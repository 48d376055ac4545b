"""Direct tests of the exploration layer: explore, replay, shrinking, searches, checks, coverage
and the Hypothesis integration (see explore_support.py for the shared programs and helpers).

The generated asyncio programs and their strategies come from ``tests/property`` (simprog.py,
simprog_strategies.py): that directory is put on ``sys.path`` here, so that these tests run
alone as well as in the whole suite.
"""

import sys
from pathlib import Path

import pytest

PROPERTY_TESTS = str(Path(__file__).resolve().parents[1] / "property")
if PROPERTY_TESTS not in sys.path:
    sys.path.insert(0, PROPERTY_TESTS)

# Helpers in these modules assert; show the compared values when they fail.
pytest.register_assert_rewrite("simprog", "explore_support")
