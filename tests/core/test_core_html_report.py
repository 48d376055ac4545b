"""The HTML report in a real browser: headless Chromium loads it with no console message and
draws one lane per task (Debian's ``chromium`` package; ``.ci/run`` installs it)."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import simloop

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium here (`apt-get install chromium`; .ci/run installs it where apt works)",
)


def load(page: Path, profile: Path) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran, and every console message it logged."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


async def pool() -> None:
    slots = {"used": 0}
    simloop.watch("slots", lambda: slots["used"])

    async def client(name: str) -> None:
        if name == "a":
            used = slots["used"]
            await asyncio.sleep(0)  # a round trip between the read and the write
            slots["used"] = used + 1
        else:
            await asyncio.sleep(0)  # in asyncio's order, after a's write
            slots["used"] += 1

    async with asyncio.TaskGroup() as group:
        for name in ("a", "b", "c"):
            group.create_task(client(name), name=f"client-{name}")
    assert slots["used"] == 3, f"lost update: {slots['used']} slots in use"


def test_the_report_loads_cleanly_with_one_lane_per_task(tmp_path: Path) -> None:
    result = simloop.explore(pool, runs=200)
    assert result.found
    assert result.trace is not None
    assert result.failure is not None
    trace = result.trace
    trace.outcome = {"kind": result.failure.kind, "summary": result.failure.summary()}
    page = tmp_path / "report.html"
    page.write_text(trace.to_html(title="pool"), encoding="utf-8")
    dom, console = load(page, tmp_path / "profile")
    assert console == []
    assert 'data-ready="yes"' in dom
    lanes = re.findall(r'<div class="lane" data-lane="(\d+)"><div class="name"[^>]*>([^<]*)<', dom)
    names = [name for _, name in lanes]
    assert names[1:] == ["Task-1 (pool)", "client-a", "client-b", "client-c"]
    assert names[0] == "callbacks and timers"
    assert dom.count('class="step') == len(trace.events or ())
    deviating = sum(1 for step in trace.events or () if step.deviates)
    assert deviating >= 1
    assert len(re.findall(r'class="step \w+ dev', dom)) == deviating
    assert len(re.findall(r'class="step \w+( dev)? fail"', dom)) == 1
    assert "lost update: 1 slots in use" in dom or "lost update: 2 slots in use" in dom
    assert "slots = " in dom  # the watched values table


def test_a_page_with_a_script_error_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a broken script logs to the console and never finishes."""
    trace = simloop.replay(pool, simloop.Trace(
        choices=[], options=[], steps=0, start_time_ns=0, end_time_ns=0, seed=None,
        scheduler="Fifo()").token).trace  # fmt: skip
    page = tmp_path / "broken.html"
    page.write_text(trace.to_html().replace("data.lanes.forEach", "data.lanez.forEach"), "utf-8")
    dom, console = load(page, tmp_path / "profile")
    assert any("Uncaught TypeError" in line for line in console)
    assert 'data-ready="yes"' not in dom
