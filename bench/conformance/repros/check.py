"""Run every reproduction and say which differences are still there.

    python bench/conformance/repros/check.py

Exit status 0 either way: this is a report, not a test.
"""

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> int:
    still = []
    for path in sorted(HERE.glob("f[0-9]*.py")):
        module = importlib.import_module(path.stem)
        if module.check():
            still.append(path.stem)
    print(f"\n{len(still)} still there: {', '.join(still) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
