"""Failing schedules, saved so that the next run of a test tries them first.

Like Hypothesis's example database: when a test fails, its (shrunk) schedule is saved under
``<artifacts>/failures/``; the next time the test runs, saved schedules are replayed before any
new exploration, and a schedule that no longer fails is dropped. Traces of failing runs (with
every step) go to ``<artifacts>/traces/``. Add the artifacts directory to ``.gitignore``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from simloop import Trace, TraceFormatError

_FORMAT = "simloop-failures"
_KEEP = 10  # schedules kept per test


def _file_stem(nodeid: str) -> str:
    name = nodeid.rsplit("::", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60].strip("_") or "test"
    digest = hashlib.sha256(nodeid.encode("utf-8")).hexdigest()[:10]
    return f"{name}-{digest}"


class FailureDatabase:
    """Saved failing schedules, by test id."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, nodeid: str) -> Path:
        return self.root / "failures" / f"{_file_stem(nodeid)}.json"

    def load(self, nodeid: str) -> list[Trace]:
        """The saved failing schedules of a test, most recent first (unreadable ones skipped)."""
        path = self._path(nodeid)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            return []
        schedules = []
        for token in data.get("tokens", []):
            try:
                schedules.append(Trace.from_token(token))
            except TraceFormatError:
                continue
        return schedules

    def save(self, nodeid: str, schedule: Trace) -> None:
        """Remember a failing schedule (at the front)."""
        token = schedule.token
        tokens = [token] + [t.token for t in self.load(nodeid) if t.token != token]
        self._write(nodeid, tokens[:_KEEP])

    def forget(self, nodeid: str, schedule: Trace) -> None:
        """Drop a schedule that no longer fails."""
        tokens = [t.token for t in self.load(nodeid) if t.token != schedule.token]
        if tokens:
            self._write(nodeid, tokens)
        else:
            self._path(nodeid).unlink(missing_ok=True)

    def _write(self, nodeid: str, tokens: list[str]) -> None:
        path = self._path(nodeid)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": _FORMAT, "version": 1, "test": nodeid, "tokens": tokens}
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        partial.replace(path)

    def trace_path(self, nodeid: str, trace: Trace) -> Path:
        """Where the full trace of a failing run of this test goes."""
        return self.root / "traces" / f"{_file_stem(nodeid)}-{trace.fingerprint()}.json"
