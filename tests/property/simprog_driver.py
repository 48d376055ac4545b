"""Runs program descriptions in a fresh process, for the cross-process determinism test.

Reads ``{"cases": [{"program": ..., "options": {...}}, ...]}`` as JSON from stdin, runs each
program with ``simloop.run(main, **options)`` and writes one JSON object per case to stdout:
``{"fingerprint": ..., "observable": ..., "hash_seed": ...}``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from simprog import Description, jsonable, run_simloop_run


def run_case(program: Description, options: dict[str, Any]) -> dict[str, Any]:
    """What the test compares between processes, for one program and one set of options."""
    outcome = run_simloop_run(program, **options)
    assert outcome.trace is not None
    result: dict[str, Any] = jsonable(
        {
            "fingerprint": outcome.fingerprint(),
            "choices": outcome.trace.choices,
            "observable": outcome.observable(),
            "hash_seed": outcome.trace.hash_seed,
        }
    )
    return result


def main() -> None:
    request = json.load(sys.stdin)
    results = [run_case(case["program"], case["options"]) for case in request["cases"]]
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
