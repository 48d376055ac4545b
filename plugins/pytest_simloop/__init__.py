"""simloop's pytest integration: the ``simloop`` fixture and marker (see ``plugin``).

Also usable directly: :func:`anyio_backend` returns the ``anyio_backend`` fixture value that
runs anyio tests on a SimLoop.
"""

from __future__ import annotations

from typing import Any

from pytest_simloop._harness import SimloopHarness

__all__ = ["SimloopHarness", "anyio_backend"]


def anyio_backend(**loop_options: Any) -> tuple[str, dict[str, Any]]:
    """The ``anyio_backend`` value for anyio's pytest plugin that runs tests on a SimLoop::

    @pytest.fixture
    def anyio_backend():
        return pytest_simloop.anyio_backend(seed=3)
    """
    import simloop

    return ("asyncio", {"loop_factory": simloop.loop_factory(**loop_options)})
