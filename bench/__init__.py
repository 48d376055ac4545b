"""simloop's benchmarks: ``run.py`` (loop speed) and ``races/`` (bug-finding power)."""
