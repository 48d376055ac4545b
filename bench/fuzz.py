"""The fuzz suite's long profile: many random examples per entry point, counts per entry point.

    python bench/fuzz.py                 # 1000 examples per test (about an hour on 2 cores)
    python bench/fuzz.py --examples 200  # a shorter hunt

It runs ``tests/fuzz`` with ``SIMLOOP_FUZZ_EXAMPLES`` set, so each test draws that many fresh
random examples instead of the fixed set CI draws (see tests/fuzz/conftest.py), and prints the
suite's table: per entry point, how many calls got a named error, were accepted, raised the
hostile value's own error, matched stock asyncio's error, or were usage errors in pytest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per test")
    parser.add_argument("--workers", default="2", help="pytest-xdist workers (-n)")
    parser.add_argument("pytest_args", nargs="*", help="more arguments for pytest")
    args = parser.parse_args()
    env = {**os.environ, "SIMLOOP_FUZZ_EXAMPLES": str(args.examples)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "tests" / "fuzz"),
        "-n",
        args.workers,
        "-q",
        "-p",
        "no:cacheprovider",
        *args.pytest_args,
    ]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
