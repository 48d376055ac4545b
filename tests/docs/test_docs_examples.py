"""Run every Python example in ``docs/`` and check what it prints.

Every fenced ```` ```python ```` block of a page runs, in page order, in one namespace per page
(so a later block can use what an earlier one defined), with ``__name__ == "__main__"`` (so
``if __name__ == "__main__":`` blocks run as they would in a script). Each page is one test.

What a block prints is compared with the fenced ```` ```text ```` block that immediately follows
it (only blank lines between), exactly. A block with no such text block must print nothing:
every output a page produces is shown on the page.

A block may be preceded by HTML comments, which the rendered page does not show, carrying
markers (several per comment, separated by ``;``; only blank lines may separate the comment
from the block, and an unknown marker fails the test):

``<!-- file: deadlock.py -->``
    Run the block as a file of that name, so that tracebacks and simloop's reports name it as
    they would name the reader's script. Without it, the block's name is
    ``<page.md, line N>``, N being the line of its opening fence.
``<!-- raises: DeadlockError -->``
    The block must raise an exception of that class (or of a subclass: the name is looked up
    in the exception's MRO). Its text block then shows what was printed, followed by what
    Python prints for an uncaught exception, the stack elided as doctest does::

        Traceback (most recent call last):
          ...
        simloop._errors.DeadlockError: <message>
        <each note on its own line>

``<!-- warns: BlockingCallWarning -->``, ``<!-- warns: DeprecationWarning since 3.12 -->``
    The block must emit that warning (on that Python version and later, if ``since`` is
    given). Any other warning fails the test, as the project's ``filterwarnings = error``
    would.
``<!-- ellipsis -->``
    Compare the output as doctest's ``ELLIPSIS`` option does: ``...`` in the text block
    matches any text, across lines. For output that depends on the environment (a note about
    ``PYTHONHASHSEED``) or is too long to show in full.
``<!-- python: 3.12+ -->``
    Run the block (and compare its output) only on that Python version and later.
``<!-- write: test_bank.py -->``
    Do not run the block: write it to that file in the page's own temporary directory (any
    language: a test module, a ``pytest.ini``...).
``<!-- run -->``, before a ``console`` block
    Run the block's commands in the page's temporary directory: each ``$ pytest ...`` line
    runs ``python -m pytest ...`` there (``$ simloop ...``, ``python -m simloop ...``), and
    the lines after it, up to the next ``$``, are its expected output, compared with ``...``
    matching anything (timings, paths).

Examples run with ``TZ=UTC``, so that simulated wall-clock times (which start at
2000-01-01T00:00:00Z) print the same everywhere. Fences may be indented (in a list item, say);
the indentation is removed. Other languages (``text``, ``console``, ``{eval-rst}``) are not run.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import doctest
import io
import linecache
import os
import random
import re
import shlex
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import simloop

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_COMMENT = re.compile(r"^<!--(?P<body>.*)-->\s*$")
_MARKER = re.compile(r"^(?P<key>[a-z]+)(?::\s*(?P<value>.*))?$")
_VERSION = re.compile(r"^(?P<major>\d+)\.(?P<minor>\d+)\+?$")
MARKERS = frozenset({"file", "raises", "warns", "ellipsis", "python", "write", "run"})
#: Markers allowed before blocks that are not Python.
_ANY_LANGUAGE_MARKERS = frozenset({"write", "run", "python"})


@dataclass
class Block:
    """One fenced code block of a page."""

    language: str
    text: str
    line: int  # 1-based line of the opening fence
    markers: dict[str, str] = field(default_factory=dict)
    #: The page's text block that shows this block's output, if any.
    output: Block | None = None


def parse_page(source: str, where: str) -> list[Block]:
    """The page's fenced blocks, with the markers of the comments right before each."""
    lines = source.splitlines()
    blocks: list[Block] = []
    markers: dict[str, str] = {}
    only_blank_since_block = False
    i = 0
    while i < len(lines):
        line = lines[i]
        comment = _COMMENT.match(line.strip())
        fence = _FENCE.match(line)
        if comment:
            markers.update(_parse_markers(comment.group("body"), f"{where}:{i + 1}"))
            only_blank_since_block = False
        elif fence:
            indent, opening = fence.group("indent"), fence.group("fence")
            j = i + 1
            while j < len(lines):
                closing = lines[j].strip()
                if closing.startswith(opening) and not closing.strip(opening[0]):
                    break
                j += 1
            else:
                pytest.fail(f"{where}:{i + 1}: code block never closed")
            body = [line.removeprefix(indent) for line in lines[i + 1 : j]]
            block = Block(
                language=fence.group("info").lower(),
                text="".join(f"{line}\n" for line in body),
                line=i + 1,
                markers=markers,
            )
            if block.language != "python" and not set(markers) <= _ANY_LANGUAGE_MARKERS:
                pytest.fail(f"{where}:{i + 1}: markers {markers} before a non-Python block")
            if "run" in markers and block.language != "console":
                pytest.fail(f"{where}:{i + 1}: the run marker goes before a console block")
            previous = blocks[-1] if blocks else None
            if (
                block.language == "text"
                and only_blank_since_block
                and previous is not None
                and previous.language == "python"
            ):
                previous.output = block
            blocks.append(block)
            markers = {}
            only_blank_since_block = True
            i = j + 1
            continue
        elif line.strip():
            if markers:
                pytest.fail(f"{where}:{i + 1}: markers {markers} are not followed by a code block")
            only_blank_since_block = False
        i += 1
    return blocks


def _parse_markers(body: str, where: str) -> dict[str, str]:
    markers = {}
    for item in body.split(";"):
        match = _MARKER.match(item.strip())
        if match is None or match.group("key") not in MARKERS:
            pytest.fail(f"{where}: unknown docs-test marker {item.strip()!r}")
        markers[match.group("key")] = (match.group("value") or "").strip()
    return markers


def _version(text: str, where: str) -> tuple[int, int]:
    match = _VERSION.match(text.strip())
    if match is None:
        pytest.fail(f"{where}: bad Python version {text!r} (write e.g. 3.12+)")
    return int(match.group("major")), int(match.group("minor"))


def _expected_warning(block: Block, where: str) -> str | None:
    """The warning class name the block must emit on this Python, if any."""
    spec = block.markers.get("warns")
    if spec is None:
        return None
    name, _, since = spec.partition(" since ")
    if since and sys.version_info < _version(since, where):
        return None
    return name.strip()


def _class_names(obj: BaseException | Warning | type) -> set[str]:
    cls = obj if isinstance(obj, type) else type(obj)
    return {c.__name__ for c in cls.__mro__}


def _format_uncaught(exc: BaseException) -> str:
    """What Python prints for an uncaught exception, with the stack elided."""
    last = "".join(traceback.format_exception_only(type(exc), exc))
    return f"Traceback (most recent call last):\n  ...\n{last}"


def _matches(want: str, got: str, ellipsis: bool) -> bool:
    if not ellipsis:
        return want == got
    return doctest.OutputChecker().check_output(want, got, doctest.ELLIPSIS)


def run_block(block: Block, namespace: dict[str, object], filename: str, where: str) -> str:
    """Run one block in ``namespace``; return what it printed (and raised, if expected)."""
    code = compile(block.text, filename, "exec")
    linecache.cache[filename] = (len(block.text), None, block.text.splitlines(True), filename)
    expected_raise = block.markers.get("raises")
    expected_warning = _expected_warning(block, where)
    out = io.StringIO()
    raised: BaseException | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(out):
                exec(code, namespace)
        except Exception as exc:
            if expected_raise is None:
                raise
            raised = exc
    unexpected = [
        w
        for w in caught
        if expected_warning is None or expected_warning not in _class_names(w.category)
    ]
    if unexpected:
        shown = "\n".join(f"  {w.category.__name__}: {w.message}" for w in unexpected)
        pytest.fail(f"{where}: the block emitted warnings it does not expect:\n{shown}")
    if expected_warning is not None and len(caught) == 0:
        pytest.fail(f"{where}: the block should emit {expected_warning} but did not")
    printed = out.getvalue()
    if expected_raise is not None:
        if raised is None:
            pytest.fail(f"{where}: the block should raise {expected_raise} but did not")
        if expected_raise not in _class_names(raised):
            pytest.fail(f"{where}: the block should raise {expected_raise}, not {raised!r}")
        printed += _format_uncaught(raised)
    return printed


@pytest.fixture
def page_environment() -> Iterator[None]:
    """``TZ=UTC`` while a page runs; afterwards, what the page may have changed is put back.

    Pages seed the global ``random`` generator and enter ``simloop.simulated()``, which
    installs an event loop policy: if a page fails halfway, that must not leak into other
    tests. A page that passes must leave no policy or current loop behind by itself.
    """
    previous_tz = os.environ.get("TZ")
    random_state = random.getstate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # policies are deprecated in 3.14
        policy = asyncio.get_event_loop_policy()
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if previous_tz is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous_tz
        time.tzset()
        random.setstate(random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            left_policy = asyncio.get_event_loop_policy()
            left_loops = [_close_current_loop(p) for p in {left_policy, policy}]
            asyncio.set_event_loop_policy(policy)
    assert left_policy is policy, "the page left an event loop policy installed"
    assert not any(left_loops), "the page left a current event loop"


def _close_current_loop(policy: asyncio.AbstractEventLoopPolicy) -> bool:
    """Close and unset the policy's current loop; return whether there was one."""
    # Read without get_event_loop(), which would make a loop.
    local = getattr(policy, "_local", None)
    loop = getattr(local, "_loop", None)
    if loop is None:
        return False
    local._loop = None
    if not loop.is_running():
        loop.close()
    return True


def _page_id(path: Path) -> str:
    return path.relative_to(DOCS).as_posix()


def run_console(block: Block, directory: Path, where: str) -> None:
    """Run a console block's ``$ pytest ...`` and ``$ simloop ...`` commands; compare each
    one's output."""
    commands: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands:
            commands[-1][1].append(line)
        elif line.strip():
            pytest.fail(f"{where}: a console block starts with a $ command")
    for command, expected_lines in commands:
        words = shlex.split(command)
        if words[:1] == ["pytest"]:
            argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *words[1:]]
        elif words[:1] == ["simloop"]:
            argv = [sys.executable, "-m", "simloop", *words[1:]]
        else:
            pytest.fail(f"{where}: only pytest and simloop commands run in docs, not {command!r}")
        env = {**os.environ, "PYTHONHASHSEED": "0", "COLUMNS": "100", "PY_COLORS": "0"}
        env.pop("PYTEST_ADDOPTS", None)
        env.pop("PYTEST_XDIST_WORKER", None)
        completed = subprocess.run(
            argv,
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        got = completed.stdout + completed.stderr
        want = "".join(f"{line}\n" for line in expected_lines).strip("\n") + "\n"
        if not _matches("..." + want, got, ellipsis=True):
            pytest.fail(
                f"{where}: the output of `{command}` differs from the page.\n"
                f"--- the page shows:\n{want}--- the command printed:\n{got}"
            )


def run_page(page: Path, directory: Path) -> None:
    """Run the page's Python blocks in order, in one namespace; check what each prints."""
    name = _page_id(page)
    blocks = parse_page(page.read_text(encoding="utf-8"), name)
    namespace: dict[str, object] = {"__name__": "__main__", "__builtins__": builtins}
    filenames: list[str] = []
    try:
        for block in blocks:
            where = f"{name}:{block.line}"
            if "python" in block.markers and sys.version_info < _version(
                block.markers["python"], where
            ):
                continue
            if "write" in block.markers:
                target = directory / block.markers["write"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.text, encoding="utf-8")
                continue
            if "run" in block.markers:
                run_console(block, directory, where)
                continue
            if block.language != "python":
                continue
            filename = block.markers.get("file") or f"<{page.name}, line {block.line}>"
            filenames.append(filename)
            printed = run_block(block, namespace, filename, where)
            if block.output is None:
                if printed:
                    pytest.fail(
                        f"{where}: the block prints output that the page does not show "
                        f"(add a text block after it):\n{printed}"
                    )
            elif not _matches(block.output.text, printed, "ellipsis" in block.markers):
                pytest.fail(
                    f"{where}: the output differs from the page.\n"
                    f"--- the page shows:\n{block.output.text}--- the block printed:\n{printed}"
                )
    finally:
        for filename in filenames:
            linecache.cache.pop(filename, None)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
@pytest.mark.usefixtures("page_environment")
def test_page_examples(page: Path, tmp_path: Path) -> None:
    run_page(page, tmp_path)


def test_every_public_name_is_in_the_api_reference() -> None:
    reference = (DOCS / "reference" / "api.md").read_text(encoding="utf-8")
    missing = [
        name
        for name in simloop.__all__
        if not re.search(rf"\bsimloop\.{re.escape(name)}\b", reference)
    ]
    assert not missing, f"docs/reference/api.md does not document {missing}"


def test_every_lowlevel_name_is_in_its_reference() -> None:
    reference = (DOCS / "reference" / "lowlevel.md").read_text(encoding="utf-8")
    missing = [
        name
        for name in simloop.lowlevel.__all__
        if not re.search(rf"\bsimloop\.lowlevel\.{re.escape(name)}\b", reference)
    ]
    assert not missing, f"docs/reference/lowlevel.md does not document {missing}"
