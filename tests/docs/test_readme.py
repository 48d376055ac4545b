"""The README's promises: its example runs, and CI runs its quick-start test command."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def fenced_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)


def test_quick_start_is_two_commands() -> None:
    commands = [block.strip() for block in fenced_blocks("sh")]
    assert commands == [
        "python -m pip install -e . && python -m simloop demo",
        "python -m pip install -e '.[test]' && python -m pytest",
    ]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    match = re.search(r'^test_command="(.*)"$', ci, flags=re.MULTILINE)
    assert match is not None, "no test_command in .ci/run"
    assert match.group(1) == fenced_blocks("sh")[1].strip()


@pytest.mark.skipif(
    sys.version_info < (3, 12), reason="asyncio.run(loop_factory=...) is new in Python 3.12"
)
def test_example_runs() -> None:
    (example,) = fenced_blocks("python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, "README.md", "exec"), {"__name__": "readme"})
    assert out.getvalue() == "False 500\n"


def test_the_documented_limits_are_the_defaults() -> None:
    """docs/how-to/failures.md states max_steps' and max_time's defaults: they must be true."""
    import re
    from pathlib import Path

    import simloop

    page = (Path(__file__).resolve().parents[2] / "docs/how-to/failures.md").read_text("utf-8")
    steps = re.search(r"`max_steps` \(default ([\d,]+)\)", page)
    assert steps is not None
    defaults = simloop.lowlevel.LOOP_OPTION_DEFAULTS
    assert int(steps.group(1).replace(",", "")) == defaults["max_steps"]
    assert "`max_time` (default `None`, no limit)" in page
    assert defaults["max_time"] is None
