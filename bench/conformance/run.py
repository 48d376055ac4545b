"""Drop-in fidelity: popular asyncio libraries' own test suites, on stock asyncio and on SimLoop.

    python bench/conformance/run.py                       # every library, this Python
    python bench/conformance/run.py --python 3.12 --only aiolimiter,aiojobs
    python bench/conformance/run.py --python 3.11,3.12,3.13 --json results.json

For each library pinned in ``libraries.toml``: download its sdist from PyPI (the tests come
from there), make a virtualenv for it under ``bench/conformance/.cache/`` (the library, its
test tools at pinned versions, and this checkout of simloop, editable), then run its own test
suite twice, unchanged: as its authors run it, on stock asyncio; and with SimLoop as the event
loop, the way a user adopting simloop would point it there:

- pytest-asyncio suites: simloop's ini option ``simloop_asyncio_loop_factory = true``;
- anyio suites: the ``anyio_backend`` fixture's asyncio value becomes
  ``pytest_simloop.anyio_backend()`` (the one-line change a user makes in their conftest);
- code that calls ``asyncio.run()``/``new_event_loop()`` itself: the session runs inside
  ``simloop_simulate = true`` (the session runs inside ``simloop.simulated()``);
- a suite written against a test loop of its own (aiostream's): a SimLoop subclass stands in
  for it (``stand_in``).

The stock run is the suite without simloop's pytest plugin (``-p no:simloop``).

Tests excluded on SimLoop (they need real I/O, real threads or real time by design) are listed
in ``libraries.toml`` with the reason for each. The report gives, per library, the stock and
SimLoop outcomes, and for every test that passes on stock asyncio but fails on SimLoop, why
(``known_failures`` in ``libraries.toml`` names the finding each known one comes from). The
exit status is 1 when a test fails on SimLoop that is not a known failure, a known failure
passes (update ``libraries.toml``), an exclusion no longer matches a test, or a suite could not
run (pytest ended with a status other than 0 or 1, or timed out).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LIBRARIES_FILE = HERE / "libraries.toml"
PLUGIN_DIR = HERE / "pytest_plugin"
DEFAULT_CACHE = HERE / ".cache"

#: How simloop is put under a suite (see the module docstring).
DRIVERS = ("pytest-asyncio", "anyio", "asyncio-run")
#: The outcomes of a test that count as failing.
FAILING = ("failed", "error")


@dataclass(frozen=True)
class Library:
    """One library's entry in ``libraries.toml``."""

    name: str
    version: str
    kind: str
    driver: str
    deps: tuple[str, ...]
    tests: tuple[str, ...]
    args: tuple[str, ...]
    simulated: bool
    stand_in: str
    timeout: float
    exclude: dict[str, str] = field(default_factory=dict)
    known_failures: dict[str, str] = field(default_factory=dict)
    ci: tuple[str, ...] = ()
    #: The test tools the ci files need (default: all of ``deps``).
    ci_deps: tuple[str, ...] = ()
    #: The sdist's SHA-256, checked after download (the tests run are exactly these).
    sha256: str = ""

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


def load_libraries(path: Path = LIBRARIES_FILE) -> dict[str, Library]:
    """The libraries of ``libraries.toml``, by name."""
    with path.open("rb") as file:
        data = tomllib.load(file)
    libraries = {}
    for name, entry in data["library"].items():
        # A library whose test tools need another pytest replaces the toolchain.
        toolchain = tuple(entry.get("toolchain", data["toolchain"]["deps"]))
        driver = entry["driver"]
        if driver not in DRIVERS:
            msg = f"{path.name}: {name}: `driver` must be one of {DRIVERS}, not {driver!r}"
            raise ValueError(msg)
        libraries[name] = Library(
            name=name,
            version=entry["version"],
            kind=entry["kind"],
            driver=driver,
            deps=toolchain + tuple(entry.get("deps", ())),
            tests=tuple(entry.get("tests", ("tests",))),
            args=tuple(entry.get("args", ())),
            simulated=bool(entry.get("simulated", True)),
            stand_in=entry.get("stand_in", ""),
            timeout=float(entry.get("timeout", 900)),
            exclude=dict(entry.get("exclude", {})),
            known_failures=dict(entry.get("known_failures", {})),
            ci=tuple(entry.get("ci", ())),
            ci_deps=toolchain + tuple(entry["ci_deps"])
            if "ci_deps" in entry
            else toolchain + tuple(entry.get("deps", ())),
            sha256=entry.get("sha256", ""),
        )
    return libraries


# --- interpreters, sources, virtualenvs ---------------------------------------------------------


def find_python(spec: str) -> Path:
    """An interpreter from a path, or a version such as ``3.12`` (under pyenv, or on PATH)."""
    candidate = Path(spec)
    if candidate.exists():
        return candidate
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    installed = (pyenv_root / "versions").glob(f"{spec}.*")
    for version_dir in sorted(installed, key=_version_key, reverse=True):
        python = version_dir / "bin" / f"python{spec}"
        if python.exists():
            return python
    # Not pyenv's shims: they run whichever version pyenv has selected here.
    path = os.pathsep.join(
        entry for entry in os.environ.get("PATH", "").split(os.pathsep) if "shims" not in entry
    )
    found = shutil.which(f"python{spec}", path=path)
    if found:
        return Path(found)
    msg = f"no Python {spec!r} found (give a version such as 3.12, or a path)"
    raise SystemExit(msg)


def _version_key(path: Path) -> tuple[int, ...]:
    """3.12.10 after 3.12.9; names that are not plain versions sort first."""
    parts = path.name.split(".")
    return tuple(int(part) for part in parts) if all(p.isdigit() for p in parts) else (-1,)


def python_version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def fetch_sources(library: Library, cache: Path) -> Path:
    """The library's sdist, downloaded once and unpacked: its own tests come from there."""
    unpacked = cache / "src" / library.key
    if (unpacked / ".complete").exists():
        return unpacked
    sdists = cache / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    sdist = _find_sdist(sdists, library)
    if sdist is None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--dest",
                str(sdists),
                f"{library.name}=={library.version}",
            ],
            check=True,
        )
        sdist = _find_sdist(sdists, library)
        if sdist is None:
            msg = f"pip downloaded no sdist of {library.key} into {sdists}"
            raise SystemExit(msg)
    if library.sha256:
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != library.sha256:
            sdist.unlink()
            msg = (
                f"{sdist.name} has SHA-256 {digest}, not the {library.sha256} that "
                f"libraries.toml pins for {library.key}; removed it"
            )
            raise SystemExit(msg)
    shutil.rmtree(unpacked, ignore_errors=True)
    staging = cache / "src" / f".{library.key}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(staging, filter="data")
    (top,) = staging.iterdir()  # an sdist holds one directory, NAME-VERSION
    top.rename(unpacked)
    staging.rmdir()
    (unpacked / ".complete").write_text(sdist.name)
    return unpacked


def _find_sdist(directory: Path, library: Library) -> Path | None:
    wanted = {library.name.lower().replace("-", "_"), library.name.lower()}
    for path in directory.glob("*.tar.gz"):
        stem = path.name.removesuffix(".tar.gz")
        name, _, version = stem.rpartition("-")
        if name.lower().replace("-", "_") in wanted and version == library.version:
            return path
    return None


def make_venv(library: Library, python: Path, version: str, cache: Path) -> Path:
    """A virtualenv with the library (from its sdist), its test tools and simloop (editable).

    Made once per library, version and Python; remade when the requirements change.
    """
    venv = cache / "venvs" / f"py{version}" / library.key
    sdist = _find_sdist(cache / "sdists", library)
    assert sdist is not None
    requirements = [str(sdist), *library.deps]
    stamp = hashlib.sha256(json.dumps([requirements, str(ROOT)]).encode()).hexdigest()
    stamp_file = venv / ".requirements"
    venv_python = venv / "bin" / "python"
    if stamp_file.exists() and stamp_file.read_text() == stamp and venv_python.exists():
        return venv_python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
    log = venv / "install.log"
    with log.open("w") as log_file:
        process = subprocess.run(
            [str(venv_python), "-m", "pip", "install", *requirements, "-e", str(ROOT)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if process.returncode:
        msg = f"installing {library.key} into {venv} failed; see {log}"
        raise SystemExit(msg)
    stamp_file.write_text(stamp)
    return venv_python


# --- running a suite ----------------------------------------------------------------------------


def has_pytest_config(source: Path) -> bool:
    """Whether the sdist carries a pytest configuration (else pytest would look above it, and
    find the configuration of whatever project the cache directory is in)."""
    if (source / "pytest.ini").exists() or (source / ".pytest.ini").exists():
        return True
    for name, section in (
        ("pyproject.toml", "[tool.pytest"),
        ("tox.ini", "[pytest]"),
        ("setup.cfg", "[tool:pytest]"),
    ):
        path = source / name
        if path.exists() and section in path.read_text(encoding="utf-8", errors="replace"):
            return True
    return False


def pytest_command(
    library: Library,
    python: Path,
    source: Path,
    mode: str,
    work: Path,
    tests: Sequence[str],
) -> list[str]:
    command = [str(python), "-m", "pytest", *tests, "--rootdir", str(source)]
    if not has_pytest_config(source):
        empty = work / "empty-pytest.ini"
        empty.write_text("[pytest]\n")
        command += ["-c", str(empty)]
    command += [
        "-p",
        "simloop_conformance",
        "-p",
        "no:cacheprovider",
        # The suites' own addopts ask for coverage and the like; what a suite needs to run is
        # in its `args` instead.
        "-o",
        "addopts=",
        "-q",
        "-rN",
        *library.args,
    ]
    if mode == "stock":
        command += ["-p", "no:simloop"]
        return command
    if library.driver == "pytest-asyncio" and not library.stand_in:
        command += ["-o", "simloop_asyncio_loop_factory=true"]
    if library.simulated:
        command += ["-o", "simloop_simulate=true"]
    return command


def run_suite(
    library: Library,
    python: Path,
    source: Path,
    mode: str,
    work: Path,
    *,
    exclusions: bool = True,
    tests: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run the suite (or only ``tests`` of it) in one mode, with ``python`` (which has the
    library and simloop installed); the per-test outcomes the plugin recorded, and the log."""
    tests = library.tests if tests is None else tuple(tests)
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"{library.name}-{mode}.json"
    log = work / f"{library.name}-{mode}.log"
    exclude = work / f"{library.name}-exclude.json"
    # Only the exclusions of the tests that run, so that none of them looks stale.
    excluded = {
        key: reason
        for key, reason in library.exclude.items()
        if exclusions and any(_is_under(key, path) for path in tests)
    }
    exclude.write_text(json.dumps(excluded))
    out.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")])
        ),
        "SIMLOOP_CONFORMANCE_MODE": mode,
        "SIMLOOP_CONFORMANCE_OUT": str(out),
        "SIMLOOP_CONFORMANCE_EXCLUDE": str(exclude),
        "SIMLOOP_CONFORMANCE_ANYIO": "1" if library.driver == "anyio" else "0",
        "SIMLOOP_CONFORMANCE_STAND_IN": library.stand_in,
        "PYTHONDONTWRITEBYTECODE": "1",
        # The sources sit inside this repository's cache: git (and so a test that reads the
        # version from git) must not find simloop's repository above them.
        "GIT_CEILING_DIRECTORIES": str(source.parent),
    }
    env.pop("PYTEST_ADDOPTS", None)
    command = pytest_command(library, python, source, mode, work, tests)
    started = time.perf_counter()
    with log.open("w") as log_file:
        log_file.write(" ".join(command) + "\n\n")
        log_file.flush()
        try:
            process = subprocess.run(
                command,
                cwd=source,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                timeout=library.timeout,
                check=False,
            )
            status: int | str = process.returncode
        except subprocess.TimeoutExpired:
            status = f"timed out after {library.timeout:g}s"
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {"tests": {}, "stale_exclusions": []}
    if out.exists():
        result = json.loads(out.read_text())
    result.update(status=status, seconds=round(seconds, 1), log=str(log))
    return result


def _is_under(nodeid: str, path: str) -> bool:
    """Whether ``nodeid`` is a test in ``path`` (a file or a directory), or ``path`` itself."""
    path = path.rstrip("/")
    return nodeid == path or nodeid.startswith((path + "/", path + "::"))


# --- comparing ----------------------------------------------------------------------------------


def count(tests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    counts = Counter(record["outcome"] for record in tests.values())
    return {
        "passed": counts["passed"] + counts["xfailed"],
        "failed": counts["failed"] + counts["error"] + counts["xpassed"],
        "skipped": counts["skipped"],
        "excluded": counts["excluded"],
        # Setup, call and teardown of the tests, without pytest's start-up.
        "test_seconds": round(sum(record.get("duration", 0.0) for record in tests.values()), 2),
    }


def compare(library: Library, stock: dict[str, Any], sim: dict[str, Any]) -> dict[str, Any]:
    """One library's result: counts, and every difference that matters, explained."""
    stock_tests: dict[str, dict[str, Any]] = stock["tests"]
    sim_tests: dict[str, dict[str, Any]] = sim["tests"]
    regressions = []
    for nodeid, record in sim_tests.items():
        before = stock_tests.get(nodeid, {}).get("outcome")
        if record["outcome"] in FAILING and before in ("passed", "xfailed"):
            regressions.append(
                {
                    "test": nodeid,
                    "outcome": record["outcome"],
                    "phase": record.get("phase"),
                    "message": record.get("message"),
                    "where": record.get("where"),
                    "known": library.known_failures.get(nodeid),
                    "details": record.get("longrepr"),
                }
            )
    failing_now = {r["test"] for r in regressions}
    fixed_known = sorted(set(library.known_failures) - failing_now)
    on_stock_loop = sorted(
        nodeid
        for nodeid, record in sim_tests.items()
        if record["outcome"] == "passed"
        and record.get("loops")
        and not any(name.startswith("simloop:") for name in record["loops"])
    )
    excluded = [
        {"test": nodeid, "reason": record.get("message")}
        for nodeid, record in sim_tests.items()
        if record["outcome"] == "excluded"
    ]
    gained = sorted(
        nodeid
        for nodeid, record in sim_tests.items()
        if record["outcome"] == "passed" and stock_tests.get(nodeid, {}).get("outcome") in FAILING
    )
    unexpected = [r for r in regressions if r["known"] is None]
    return {
        "version": library.version,
        "kind": library.kind,
        "driver": library.driver,
        "stock": {**count(stock_tests), "status": stock["status"], "seconds": stock["seconds"]},
        "simloop": {**count(sim_tests), "status": sim["status"], "seconds": sim["seconds"]},
        "regressions": regressions,
        "unexpected_regressions": len(unexpected),
        "known_failures_now_passing": fixed_known,
        "stale_exclusions": sim.get("stale_exclusions", []),
        "passed_on_a_stock_loop": on_stock_loop,
        "failing_on_stock_passing_on_simloop": gained,
        "excluded": excluded,
        "logs": {"stock": stock["log"], "simloop": sim["log"]},
    }


def problems_of(result: dict[str, Any]) -> list[str]:
    """What makes the run fail (exit status 1) for one library."""
    problems = []
    if result["unexpected_regressions"]:
        problems.append(f"{result['unexpected_regressions']} unexpected SimLoop failure(s)")
    if result["known_failures_now_passing"]:
        problems.append(
            "known failures now pass (remove them from libraries.toml): "
            + ", ".join(result["known_failures_now_passing"])
        )
    if result["stale_exclusions"]:
        problems.append("exclusions matching no test: " + ", ".join(result["stale_exclusions"]))
    for mode in ("stock", "simloop"):
        status = result[mode]["status"]
        if not isinstance(status, int) or status not in (0, 1):
            problems.append(f"{mode} run ended with status {status} (see its log)")
    return problems


def simloop_problems(library: Library, sim: dict[str, Any]) -> list[str]:
    """Without a stock run to compare with (the CI slice): every SimLoop failure must be a
    known one, and every known failure among the tests that ran must still fail."""
    tests: dict[str, dict[str, Any]] = sim["tests"]
    problems = []
    for nodeid, record in tests.items():
        if record["outcome"] in FAILING and nodeid not in library.known_failures:
            problems.append(f"{nodeid} fails on SimLoop: {_one_line(record.get('message'))}")
    for nodeid, finding in library.known_failures.items():
        record = tests.get(nodeid)
        if record is not None and record["outcome"] not in FAILING:
            problems.append(
                f"{nodeid} is a known failure ({finding}) but {record['outcome']}: "
                "update libraries.toml"
            )
    problems.extend(f"exclusion matches no test: {key}" for key in sim["stale_exclusions"])
    return problems


# --- reporting ----------------------------------------------------------------------------------


def format_table(python: str, results: dict[str, dict[str, Any]]) -> str:
    header = (
        f"{'library':<18} {'version':<9} {'kind':<22} "
        f"{'stock pass/fail/skip':>21}   {'SimLoop pass/fail/skip/excl':>27}"
        f"   {'test time stock/SimLoop':>23}   regressions"
    )
    lines = [f"Python {python}", header, "-" * len(header)]
    for name, result in results.items():
        stock, sim = result["stock"], result["simloop"]
        known = len(result["regressions"]) - result["unexpected_regressions"]
        lines.append(
            f"{name:<18} {result['version']:<9} {result['kind']:<22} "
            f"{stock['passed']:>9}/{stock['failed']}/{stock['skipped']:<6}"
            f"   {sim['passed']:>15}/{sim['failed']}/{sim['skipped']}/{sim['excluded']:<5}"
            f"   {stock['test_seconds']:>13.2f}s/{sim['test_seconds']:.2f}s"
            f"   {len(result['regressions'])}" + (f" ({known} known)" if known else "")
        )
    return "\n".join(lines)


def format_details(results: dict[str, dict[str, Any]]) -> str:
    out = []
    for name, result in results.items():
        lines = []
        for regression in result["regressions"]:
            tag = f"known: {regression['known']}" if regression["known"] else "NEW"
            lines.append(f"  FAIL {regression['test']}  [{tag}]")
            lines.append(f"       {_one_line(regression['message'])}")
        for nodeid in result["passed_on_a_stock_loop"]:
            lines.append(f"  STOCK LOOP {nodeid}: passed, but no SimLoop ran")
        for nodeid in result["failing_on_stock_passing_on_simloop"]:
            lines.append(f"  GAINED {nodeid}: fails on stock asyncio, passes on SimLoop")
        for excluded in result["excluded"]:
            lines.append(f"  EXCLUDED {excluded['test']}: {excluded['reason']}")
        for problem in problems_of(result):
            lines.append(f"  PROBLEM {problem}")
        if lines:
            out.append(f"{name}:")
            out.extend(lines)
    return "\n".join(out)


def _one_line(text: str | None, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_library(
    library: Library, python: Path, version: str, cache: Path, *, exclusions: bool = True
) -> dict[str, Any]:
    source = fetch_sources(library, cache)
    venv_python = make_venv(library, python, version, cache)
    work = cache / "runs" / f"py{version}"
    stock = run_suite(library, venv_python, source, "stock", work)
    sim = run_suite(library, venv_python, source, "simloop", work, exclusions=exclusions)
    return compare(library, stock, sim)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--python",
        default=None,
        help="interpreter(s), comma-separated versions or paths (default: this one)",
    )
    parser.add_argument("--only", default=None, help="comma-separated library names")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="sdists, venvs, logs")
    parser.add_argument(
        "--fetch-only", action="store_true", help="download and unpack the sdists, run nothing"
    )
    parser.add_argument(
        "--list-ci",
        action="store_true",
        help="print the libraries of the CI slice (tests/conformance), comma-separated",
    )
    parser.add_argument(
        "--no-simulated",
        action="store_true",
        help="no simloop.simulated() around the sessions: shows which tests make loops themselves",
    )
    parser.add_argument(
        "--no-exclusions",
        action="store_true",
        help="run the excluded tests on SimLoop too (to see how they fail)",
    )
    args = parser.parse_args(argv)

    libraries = load_libraries()
    if args.list_ci:
        print(",".join(name for name, library in libraries.items() if library.ci))
        return 0
    if args.no_simulated:
        libraries = {name: replace(lib, simulated=False) for name, lib in libraries.items()}
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(wanted) - set(libraries))
        if unknown:
            parser.error(f"unknown libraries: {', '.join(unknown)} (known: {', '.join(libraries)})")
        libraries = {name: libraries[name] for name in wanted}
    cache = args.cache.resolve()
    if args.fetch_only:
        for library in libraries.values():
            print(f"{library.key}: {fetch_sources(library, cache)}")
        return 0

    pythons = [find_python(spec.strip()) for spec in (args.python or "").split(",") if spec.strip()]
    if not pythons:
        pythons = [Path(sys.executable)]
    report: dict[str, Any] = {
        "simloop_commit": _git_commit(),
        "machine": platform.platform(),
        "pythons": {},
    }
    failed = False
    for python in pythons:
        version = python_version(python)
        results = {}
        for library in libraries.values():
            print(f"[py{version}] {library.key} ...", file=sys.stderr, flush=True)
            results[library.name] = run_library(
                library, python, version, cache, exclusions=not args.no_exclusions
            )
        report["pythons"][version] = results
        print(format_table(version, results))
        details = format_details(results)
        if details:
            print()
            print(details)
        print()
        failed = failed or any(problems_of(result) for result in results.values())
    json_path = args.json or cache / "results.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1))
    print(f"results: {json_path}")
    return 1 if failed else 0


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
