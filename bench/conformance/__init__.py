"""Drop-in fidelity: popular asyncio libraries' own test suites on SimLoop (see run.py)."""
