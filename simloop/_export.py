"""Pictures of a run: a self-contained HTML report, and Chrome trace-event JSON for Perfetto.

Both draw one lane per task (and one for callbacks and timers that belong to no task), with
each step a box in its lane, laid out over steps (virtual time moves in jumps, and many steps
happen at one instant, so steps are the axis; each box says its virtual time). Deviations
from asyncio's order and the failing step are highlighted. The HTML report needs no network:
its CSS and script are inline, and the data is one JSON object in the page.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from simloop._clock import format_seconds

if TYPE_CHECKING:
    from simloop._trace import Step, Trace

#: Perfetto draws each step this many microseconds wide (steps, not virtual time, are the axis).
_STEP_US = 1000


def lanes(trace: Trace) -> list[tuple[int, str]]:
    """(lane id, name) for each lane: 0 for the loop's own callbacks, then one per task."""
    names: dict[int, str] = {}
    for step in trace.events or ():
        if step.task_id is not None and step.task_id not in names:
            names[step.task_id] = step.label
    result = [(task_id, names[task_id]) for task_id in sorted(names)]
    if any(step.task_id is None for step in trace.events or ()):
        result.insert(0, (0, "callbacks and timers"))
    return result


def _failure_step(trace: Trace) -> int | None:
    outcome = trace.outcome or {}
    step = outcome.get("step")
    if isinstance(step, int):
        return step
    for event in reversed(trace.events or ()):
        if event.ended and event.ended.startswith("raised"):
            return event.index
    return None


def _step_text(step: Step) -> str:
    if step.kind != "task":
        return f"{step.label} ({step.kind})"
    ended = step.ended or ("finished" if step.suspended_at == "finished" else "suspended")
    if ended == "suspended":
        ended = f"waits at {step.suspended_at}"
    return f"{step.label}: resumed at {step.resumed_at} -> {ended}"


def to_perfetto(trace: Trace) -> dict[str, Any]:
    """The run as Chrome trace-event JSON (open it at ui.perfetto.dev, or chrome://tracing)."""
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "simloop run"}},
    ]
    for lane, name in lanes(trace):
        events.append(
            {"ph": "M", "pid": 1, "tid": lane, "name": "thread_name", "args": {"name": name}}
        )
        events.append(
            {
                "ph": "M",
                "pid": 1,
                "tid": lane,
                "name": "thread_sort_index",
                "args": {"sort_index": lane},
            }
        )
    failing = _failure_step(trace)
    for step in trace.events or ():
        args: dict[str, Any] = {
            "step": step.index,
            "virtual time": format_seconds(step.time_ns),
            "resumed at": step.resumed_at,
            "code": step.resumed_source,
            "then": step.suspended_at,
        }
        if step.deviation:
            args["deviation"] = step.deviation
        if step.cancellations:
            args["cancellations"] = list(step.cancellations)
        if step.watched:
            args["watched"] = step.watched
        event: dict[str, Any] = {
            "ph": "X",
            "pid": 1,
            "tid": step.task_id or 0,
            "ts": step.index * _STEP_US,
            "dur": _STEP_US * 9 // 10,
            "name": step.label if step.kind == "task" else f"{step.kind}: {step.label}",
            "cat": "deviation" if step.deviates else step.kind,
            "args": {k: v for k, v in args.items() if v is not None},
        }
        if step.deviates:
            event["cname"] = "terrible"
        events.append(event)
        if step.index == failing:
            events.append(
                {
                    "ph": "i",
                    "pid": 1,
                    "tid": step.task_id or 0,
                    "ts": step.index * _STEP_US + _STEP_US // 2,
                    "s": "g",
                    "name": "failure",
                    "args": {"summary": (trace.outcome or {}).get("summary")},
                }
            )
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def to_html(trace: Trace, *, title: str = "simloop run") -> str:
    """The run as one self-contained HTML page: a lane per task, the failure, the values."""
    data = {
        "title": title,
        "lanes": [{"id": lane, "name": name} for lane, name in lanes(trace)],
        "steps": [
            {
                "i": step.index,
                "lane": step.task_id or 0,
                "t": format_seconds(step.time_ns),
                "kind": step.kind,
                "label": step.label,
                "text": _step_text(step),
                "resumed": step.resumed_source,
                "suspended": step.suspended_source,
                "deviation": step.deviation,
                "cancellations": list(step.cancellations),
                "watched": step.watched,
            }
            for step in trace.events or ()
        ],
        "failure": _failure_step(trace),
        "outcome": trace.outcome,
        "summary": {
            "scheduler": trace.scheduler,
            "steps": trace.steps,
            "deviations": trace.deviations,
            "fingerprint": trace.fingerprint(),
            "end": format_seconds(trace.end_time_ns - trace.start_time_ns),
        },
    }
    # Inside <script>, "</" must not appear: escape it in the JSON.
    payload = json.dumps(data).replace("</", "<\\/")
    return _PAGE.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 1em; color: #222; }
h1 { font-size: 1.2em; margin: 0 0 .3em; }
#outcome { padding: .4em .6em; background: #fdecea; border-left: 4px solid #c62828;
           white-space: pre-wrap; font-family: monospace; }
#outcome.passed { background: #e8f5e9; border-color: #2e7d32; }
#meta { color: #555; margin: .4em 0 1em; }
#chart { overflow-x: auto; border: 1px solid #ddd; }
.lane { display: flex; align-items: center; height: 22px; border-bottom: 1px solid #eee; }
.lane .name { position: sticky; left: 0; width: 220px; min-width: 220px; background: #fafafa;
              padding: 0 .5em; overflow: hidden; white-space: nowrap; text-overflow: ellipsis;
              border-right: 1px solid #ddd; height: 100%; line-height: 22px; z-index: 1; }
.lane .track { position: relative; height: 100%; }
.step { position: absolute; top: 4px; height: 14px; width: 10px; background: #90caf9;
        border-radius: 2px; cursor: default; }
.step.timer, .step.callback { background: #cfd8dc; }
.step.dev { background: #ff9800; outline: 1px solid #e65100; }
.step.fail { background: #e53935; outline: 2px solid #b71c1c; }
.axis { position: relative; height: 18px; margin-left: 220px; color: #777; font-size: 11px; }
.axis span { position: absolute; }
#tip { position: fixed; display: none; max-width: 560px; background: #263238; color: #fff;
       padding: .5em .7em; border-radius: 4px; font-family: monospace; font-size: 12px;
       white-space: pre-wrap; pointer-events: none; z-index: 10; }
table { border-collapse: collapse; margin-top: 1em; }
td, th { border: 1px solid #ddd; padding: 2px 6px; font-family: monospace; text-align: left; }
</style>
</head>
<body>
<h1 id="title"></h1>
<div id="outcome"></div>
<div id="meta"></div>
<div id="chart"></div>
<h2 id="watched-title" style="display:none">Watched values</h2>
<table id="watched"></table>
<div id="tip"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("data").textContent);
  var WIDTH = 14;
  document.getElementById("title").textContent = data.title;
  var outcome = document.getElementById("outcome");
  if (data.outcome && data.outcome.summary) {
    outcome.textContent = data.outcome.summary;
  } else {
    outcome.textContent = "the run passed";
    outcome.className = "passed";
  }
  var s = data.summary;
  document.getElementById("meta").textContent = s.scheduler + " \\u00b7 " + s.steps +
    " steps \\u00b7 " + s.deviations + (s.deviations === 1 ? " deviation" : " deviations") +
    " from asyncio's order \\u00b7 virtual time " +
    s.end + " \\u00b7 fingerprint " + s.fingerprint;
  var chart = document.getElementById("chart");
  var tracks = {};
  var width = Math.max(1, data.steps.length) * WIDTH + 10;
  var axis = document.createElement("div");
  axis.className = "axis";
  axis.style.width = width + "px";
  chart.appendChild(axis);
  data.lanes.forEach(function (lane) {
    var row = document.createElement("div");
    row.className = "lane";
    row.dataset.lane = lane.id;
    var name = document.createElement("div");
    name.className = "name";
    name.textContent = lane.name;
    name.title = lane.name;
    var track = document.createElement("div");
    track.className = "track";
    track.style.width = width + "px";
    row.appendChild(name);
    row.appendChild(track);
    chart.appendChild(row);
    tracks[lane.id] = track;
  });
  var tip = document.getElementById("tip");
  var lastTime = null;
  data.steps.forEach(function (step, position) {
    var box = document.createElement("div");
    box.className = "step " + step.kind + (step.deviation ? " dev" : "") +
      (step.i === data.failure ? " fail" : "");
    box.style.left = (position * WIDTH + 2) + "px";
    var lines = ["step " + step.i + " \\u00b7 t=" + step.t, step.text];
    if (step.resumed) { lines.push("  " + step.resumed); }
    if (step.suspended) { lines.push("then: " + step.suspended); }
    if (step.deviation) { lines.push("deviation: " + step.deviation); }
    step.cancellations.forEach(function (c) { lines.push("cancellation " + c); });
    if (step.watched) {
      Object.keys(step.watched).forEach(function (k) { lines.push(k + " = " + step.watched[k]); });
    }
    box.dataset.tip = lines.join("\\n");
    box.addEventListener("mouseenter", function (event) {
      tip.textContent = box.dataset.tip;
      tip.style.display = "block";
      tip.style.left = (event.clientX + 12) + "px";
      tip.style.top = (event.clientY + 12) + "px";
    });
    box.addEventListener("mouseleave", function () { tip.style.display = "none"; });
    (tracks[step.lane] || tracks[0]).appendChild(box);
    if (step.t !== lastTime) {
      var mark = document.createElement("span");
      mark.style.left = (position * WIDTH) + "px";
      mark.textContent = step.t;
      axis.appendChild(mark);
      lastTime = step.t;
    }
  });
  var watched = data.steps.filter(function (step) { return step.watched; });
  if (watched.length) {
    document.getElementById("watched-title").style.display = "";
    var table = document.getElementById("watched");
    var header = document.createElement("tr");
    ["step", "t", "value"].forEach(function (h) {
      var th = document.createElement("th"); th.textContent = h; header.appendChild(th);
    });
    table.appendChild(header);
    watched.forEach(function (step) {
      Object.keys(step.watched).forEach(function (k) {
        var row = document.createElement("tr");
        [String(step.i), step.t, k + " = " + step.watched[k]].forEach(function (v) {
          var td = document.createElement("td"); td.textContent = v; row.appendChild(td);
        });
        table.appendChild(row);
      });
    });
  }
  document.body.dataset.ready = "yes";
})();
</script>
</body>
</html>
"""
