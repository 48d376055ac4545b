"""Failing schedules, saved so that the next run of a test tries them first.

Like Hypothesis's example database: when a test fails, its (shrunk) schedule is saved under
``<artifacts>/failures/``; the next time the test runs, saved schedules are replayed before any
new exploration, and a schedule that no longer fails is dropped. Traces of failing runs (with
every step) go to ``<artifacts>/traces/``. Add the artifacts directory to ``.gitignore``.

The artifacts are a convenience: a directory that cannot be written, or a file that is not
what it should be, never changes a test's outcome. Each operation notes what went wrong in
``problems`` (the plugin shows them as warnings) and goes on.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from simloop import Trace

_FORMAT = "simloop-failures"
_KEEP = 10  # schedules kept per test


def _file_stem(nodeid: str) -> str:
    name = nodeid.rsplit("::", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60].strip("_") or "test"
    digest = hashlib.sha256(nodeid.encode("utf-8")).hexdigest()[:10]
    return f"{name}-{digest}"


def _why(exc: BaseException) -> str:
    """``NotADirectoryError: Not a directory``: the path is in the message already."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    return f"{type(exc).__name__}: {reason}"


class FailureDatabase:
    """Saved failing schedules, by test id."""

    def __init__(self, root: Path) -> None:
        self.root = root
        #: What could not be read or written, one sentence each, for the plugin to show.
        self.problems: list[str] = []

    def _path(self, nodeid: str) -> Path:
        return self.root / "failures" / f"{_file_stem(nodeid)}.json"

    def load(self, nodeid: str) -> list[Trace]:
        """The saved failing schedules of a test, most recent first (what cannot be read is
        skipped, and noted in ``problems``)."""
        return [trace for _, trace in self._entries(nodeid)]

    def _entries(self, nodeid: str) -> list[tuple[str, Trace]]:
        path = self._path(nodeid)
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return []  # nothing saved (a path that cannot be written is noted when saving)
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(f"cannot read the failure database file {path} ({_why(exc)})")
            return []
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            self.problems.append(f"{path} is not JSON ({_why(exc)}); ignored it")
            return []
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            self.problems.append(f"{path} is not a simloop failure database file; ignored it")
            return []
        if not isinstance(tokens, list):
            self.problems.append(
                f"{path}: `tokens` must be a list of replay tokens, not "
                f"{type(tokens).__name__}; ignored it"
            )
            return []
        entries = []
        for index, token in enumerate(tokens):
            if not isinstance(token, str):
                self.problems.append(
                    f"{path}: entry {index} is not a replay token ({type(token).__name__} "
                    f"{token!r:.60}); skipped it"
                )
                continue
            try:
                entries.append((token, Trace.from_token(token)))
            except Exception as exc:  # noqa: BLE001 - a bad entry must never fail the test
                self.problems.append(f"{path}: entry {index}: {exc}; skipped it")
        return entries

    def save(self, nodeid: str, schedule: Trace) -> None:
        """Remember a failing schedule (at the front)."""
        token = schedule.token
        tokens = [token] + [t for t, _ in self._entries(nodeid) if t != token]
        self._write(nodeid, tokens[:_KEEP])

    def forget(self, nodeid: str, schedule: Trace) -> None:
        """Drop a schedule that no longer fails."""
        tokens = [t for t, _ in self._entries(nodeid) if t != schedule.token]
        if tokens:
            self._write(nodeid, tokens)
            return
        path = self._path(nodeid)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            self.problems.append(f"cannot remove {path} ({_why(exc)})")

    def _write(self, nodeid: str, tokens: list[str]) -> None:
        path = self._path(nodeid)
        data = {"format": _FORMAT, "version": 1, "test": nodeid, "tokens": tokens}
        partial = path.with_name(path.name + ".partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
            partial.replace(path)
        except OSError as exc:
            self.problems.append(f"cannot save the failing schedule to {path} ({_why(exc)})")

    def trace_path(self, nodeid: str, trace: Trace) -> Path:
        """Where the full trace of a failing run of this test goes."""
        return self.root / "traces" / f"{_file_stem(nodeid)}-{trace.fingerprint()}.json"

    def save_trace(self, nodeid: str, trace: Trace) -> Path | None:
        """Write the full trace of a failing run; its path, or None if it could not be."""
        path = self.trace_path(nodeid, trace)
        try:
            return trace.save(path)
        except OSError as exc:
            self.problems.append(f"cannot save the failure's trace to {path} ({_why(exc)})")
            return None
