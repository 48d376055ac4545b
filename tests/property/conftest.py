"""Property tests of simloop itself (see simprog.py for the generated programs)."""

import pytest

# Helpers in simprog.py assert; show the compared values when they fail.
pytest.register_assert_rewrite("simprog")
