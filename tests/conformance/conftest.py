"""Conformance: popular asyncio libraries' own tests on SimLoop (the runner is in
bench/conformance/)."""

import sys
from pathlib import Path

# bench/ is not an installed package: import it from the repository root.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
