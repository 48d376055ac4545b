"""``python -m simloop``: the ``simloop`` command (see :mod:`simloop._cli`)."""

from __future__ import annotations

import sys

from simloop._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
