"""A CI-sized slice of ``bench/conformance/run.py``: some libraries' own test files on SimLoop.

For each library of ``bench/conformance/libraries.toml`` that names a ``ci`` slice, its test
files run on SimLoop in this interpreter, the way the runner runs them, and every test must
pass except the known failures listed there (each names its finding), which must still fail.

A library runs only where it is installed here at its pinned version (the ``test`` extra
installs them), with its test tools, and its sdist (where the tests are) is unpacked in the
runner's cache (``python bench/conformance/run.py --fetch-only``, which ``.ci/run`` does);
otherwise it is skipped, with the command that would make it run, or, where
``SIMLOOP_CONFORMANCE_REQUIRED=1`` (CI), it fails. The full comparison with stock asyncio, on
every library, is ``python bench/conformance/run.py``.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from pathlib import Path

import pytest

from bench.conformance import run as conformance

LIBRARIES = conformance.load_libraries()
SLICE = [library for library in LIBRARIES.values() if library.ci]


def _missing_requirements(library: conformance.Library) -> list[str]:
    """The pinned requirements (the library and its test tools) not installed here."""
    missing = []
    for requirement in (f"{library.name}=={library.version}", *library.ci_deps):
        name, _, version = requirement.partition("==")
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
            continue
        # The test tools (pytest, pytest-asyncio...) only need to be there; the library
        # itself must be the pinned version, or its tests may not match its code.
        if name == library.name and installed != version:
            missing.append(requirement)
    return missing


def _sources(library: conformance.Library) -> Path | None:
    unpacked = conformance.DEFAULT_CACHE / "src" / library.key
    return unpacked if (unpacked / ".complete").exists() else None


def test_the_slice_names_existing_libraries_and_files():
    assert {library.name for library in SLICE} >= {"async-timeout", "aiolimiter"}
    for library in LIBRARIES.values():
        assert re.fullmatch(r"[0-9a-f]{64}", library.sha256), (library.name, library.sha256)
    for library in SLICE:
        for path in library.ci:
            assert any(conformance._is_under(path, tests) for tests in library.tests), (
                library.name,
                path,
            )


def _cannot_run(why: str) -> None:
    """Skip, or where the slice is required (CI), fail: a skip there would hide it."""
    if os.environ.get("SIMLOOP_CONFORMANCE_REQUIRED") == "1":
        pytest.fail(f"the conformance slice is required here, but {why}")
    pytest.skip(why)


@pytest.mark.parametrize("library", SLICE, ids=[library.name for library in SLICE])
def test_library_suite_on_simloop(library: conformance.Library, tmp_path: Path) -> None:
    missing = _missing_requirements(library)
    if missing:
        _cannot_run(f"not installed here: pip install {' '.join(missing)}")
    source = _sources(library)
    if source is None:
        _cannot_run(
            f"{library.key}'s tests are not unpacked: "
            f"python bench/conformance/run.py --fetch-only --only {library.name}"
        )
    assert source is not None
    result = conformance.run_suite(
        library, Path(sys.executable), source, "simloop", tmp_path, tests=library.ci
    )
    assert result["status"] in (0, 1), f"pytest ended with {result['status']}; see {result['log']}"
    ran = [record for record in result["tests"].values() if record["outcome"] != "excluded"]
    assert ran, f"no test ran; see {result['log']}"
    problems = conformance.simloop_problems(library, result)
    assert not problems, "\n".join([*problems, f"log: {result['log']}"])


def test_known_failures_name_a_finding():
    for library in LIBRARIES.values():
        for nodeid, finding in library.known_failures.items():
            assert re.match(r"F\d+: ", finding), (library.name, nodeid, finding)
        for nodeid, reason in library.exclude.items():
            assert len(reason) > 20, (library.name, nodeid, reason)
