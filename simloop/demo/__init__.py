"""Programs for ``python -m simloop demo``: small, realistic asyncio bugs to find and replay."""
