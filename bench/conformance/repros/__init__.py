"""Minimal reproductions of the differences conformance-findings.md reports, one per file.

Each file runs as a script (``python bench/conformance/repros/f02_patched_loop_time.py``) and
prints whether the difference is still there; ``python bench/conformance/repros/check.py``
runs them all. Loop-level ones run the same coroutine on stock asyncio and on a bare SimLoop
(a plain loop factory, as pytest-asyncio, anyio or ``asyncio.Runner`` would use it);
plugin-level ones run a small test file with pytest in a temporary directory.
"""
