"""A corpus of realistic asyncio concurrency bugs, each with a fixed twin.

Every module holds one bug pattern as small, plausible application code: the classes, a test
coroutine that asserts the property the bug breaks (``buggy``), and the same test against a
genuinely fixed version (``fixed``). ``RACES`` lists them all, as :class:`Race` records giving
the pattern, the bug's depth (the fewest deviations from asyncio's order that expose it) and
the failure it produces. ``python bench/races/run.py`` measures how well each of simloop's
search strategies finds them; ``tests/quality/test_races.py`` pins the results.
"""

from __future__ import annotations

from bench.races import (
    at_most_once,
    batch_flush,
    busy_service,
    cache_fill,
    cancel_lock,
    cancel_shield,
    condition_if,
    condition_notify,
    double_release,
    event_clear,
    lease_expiry,
    lock_order,
    lost_update,
    occ_fallback,
    queue_task_done,
    saga_refund,
    semaphore_release,
    sentinel_shutdown,
    shutdown_drain,
    timeout_retry,
    timer_chain,
    timer_tie,
    token_bucket,
    ttl_refresh,
)
from bench.races._corpus import Race

RACES: tuple[Race, ...] = (
    lost_update.RACE,
    cache_fill.RACE,
    lock_order.RACE,
    event_clear.RACE,
    condition_if.RACE,
    condition_notify.RACE,
    queue_task_done.RACE,
    timeout_retry.RACE,
    cancel_lock.RACE,
    sentinel_shutdown.RACE,
    semaphore_release.RACE,
    at_most_once.RACE,
    ttl_refresh.RACE,
    occ_fallback.RACE,
    timer_tie.RACE,
    lease_expiry.RACE,
    batch_flush.RACE,
    token_bucket.RACE,
    shutdown_drain.RACE,
    double_release.RACE,
    cancel_shield.RACE,
    saga_refund.RACE,
    timer_chain.RACE,
    busy_service.RACE,
)

__all__ = ["RACES", "Race"]
