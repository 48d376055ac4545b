"""Shared by the reproductions: run a scenario on stock asyncio and on SimLoop, or a test file
with pytest, and print one verdict line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

import simloop  # noqa: E402 - after the path is set


def outcome(main: Callable[[], Coroutine[Any, Any, Any]], loop_factory: Any) -> str:
    """``PASS`` or ``FAIL <exception>`` for one run of ``main`` (the Runner's cleanup included,
    where a bare SimLoop raises some of its errors)."""
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main())
    except BaseException as exc:  # noqa: BLE001 - the outcome is what we report
        return f"FAIL {type(exc).__name__}: {' '.join(str(exc).split())[:150]}"
    return "PASS"


def compare(
    finding: str, main: Callable[[], Coroutine[Any, Any, Any]], **loop_options: Any
) -> bool:
    """Run ``main`` on stock asyncio and on ``SimLoop(**loop_options)``; print the verdict.

    Returns whether the difference is still there (passes on stock, fails on SimLoop).
    """
    stock = outcome(main, None)
    sim = outcome(main, simloop.loop_factory(**loop_options))
    present = stock == "PASS" and sim != "PASS"
    verdict = "STILL THERE" if present else "gone"
    print(f"{finding}: {verdict}\n    stock asyncio: {stock}\n    SimLoop:       {sim}")
    return present


def run_pytest(files: dict[str, str], *args: str) -> tuple[int, str]:
    """Run pytest on ``files`` (name -> source) in a temporary directory; (status, output)."""
    with tempfile.TemporaryDirectory() as directory:
        for name, source in files.items():
            Path(directory, name).write_text(textwrap.dedent(source))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("PYTEST_ADDOPTS", None)
        process = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
            cwd=directory,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        return process.returncode, process.stdout + process.stderr


def missing(*modules: str) -> str | None:
    """Why a reproduction cannot run here: the first of ``modules`` that is not installed."""
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    return None


def skip(finding: str, why: str) -> bool:
    print(f"{finding}: skipped ({why})")
    return False


def report(finding: str, present: bool, detail: str) -> bool:
    print(f"{finding}: {'STILL THERE' if present else 'gone'}\n    {detail}")
    return present


STRICT_INI = """\
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
"""
