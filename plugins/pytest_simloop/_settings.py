"""What a test's simulation looks like: the marker, command-line options and ini keys.

Each setting can come from three places; the first that gives a value wins:

1. the ``@pytest.mark.simloop(...)`` marker closest to the test;
2. the command line (``--simloop-runs`` ...);
3. the ini file (``simloop_runs = ...``).

The replay token and the artifacts directory are per invocation, so only (2) and (3) give
them.
"""

from __future__ import annotations

import random
import re
import zlib
from pathlib import Path
from typing import Any

import attrs
import pytest

#: Schedulers the marker, ``--simloop-scheduler`` and ``simloop_scheduler`` accept by name;
#: ``pct`` and ``exhaustive`` take a number too (``pct:2``, ``exhaustive:3``). The marker also
#: takes a search object (``simloop.Exhaustive(2)``).
SCHEDULERS = ("portfolio", "random", "pct", "exhaustive", "fifo")

#: Marker keywords that go to :class:`simloop.SimLoop` unchanged.
LOOP_OPTIONS = (
    "max_steps",
    "max_time",
    "timer_jitter",
    "shuffle",
    "patch_time",
    "patch_random",
    "forbid_escapes",
    "fail_on_unhandled",
    "track_locks",
    "start_time",
)
MARKER_OPTIONS = ("runs", "seed", "scheduler", "shrink", "shards", *LOOP_OPTIONS)

DEFAULT_RUNS = 100

#: The shard part of a sharded test's id: ``[simloop-shard-3/8]`` or ``-simloop-shard-3/8``.
_SHARD_ID = re.compile(r"-?simloop-shard-\d+/\d+|\[simloop-shard-\d+/\d+\]")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("simloop", "simloop: deterministic simulation of asyncio")
    group.addoption(
        "--simloop-runs",
        type=int,
        default=None,
        metavar="N",
        help="schedules to explore per simloop test (default: the marker's, else "
        f"simloop_runs, else {DEFAULT_RUNS} for marked tests and 1 for the others)",
    )
    group.addoption(
        "--simloop-seed",
        default=None,
        metavar="SEED",
        help="first seed of the random walks; 'random' for a new one each session "
        "(default: derived from each test's id, so runs are reproducible)",
    )
    group.addoption(
        "--simloop-scheduler",
        default=None,
        metavar="NAME",
        help="how schedules are chosen: portfolio (the default: random walks and PCT), random, "
        "pct[:DEPTH], exhaustive[:DEVIATIONS], or fifo (asyncio's order only)",
    )
    group.addoption(
        "--simloop-replay",
        default=None,
        metavar="TOKEN",
        help="run exactly the schedule of this replay token (from a failure report)",
    )
    group.addoption(
        "--simloop-artifacts",
        default=None,
        metavar="DIR",
        help="where failing schedules and traces are saved (default: .simloop in the rootdir)",
    )
    group.addoption(
        "--simloop-shards",
        type=int,
        default=None,
        metavar="N",
        help="split each explored test into N test items with disjoint schedules (for xdist)",
    )
    parser.addini("simloop_runs", "schedules to explore per simloop-marked test", default=None)
    parser.addini("simloop_seed", "first random-walk seed, or 'random'", default=None)
    parser.addini(
        "simloop_scheduler", "portfolio, random, pct[:DEPTH], exhaustive[:K] or fifo", default=None
    )
    parser.addini("simloop_replay", "replay token to run (rarely useful in a file)", default=None)
    parser.addini("simloop_artifacts", "directory for failing schedules and traces", default=None)
    parser.addini("simloop_shards", "split explored tests into this many items", default=None)
    parser.addini(
        "simloop_mode",
        "strict: only tests marked simloop run on SimLoop; auto: every plain async def test "
        "does too",
        default="strict",
    )
    parser.addini(
        "simloop_asyncio_loop_factory",
        "true: pytest-asyncio runs its tests on SimLoop (virtual time, asyncio's order)",
        type="bool",
        default=False,
    )


@attrs.frozen
class Settings:
    """The resolved settings of one test."""

    runs: int
    seed: int
    scheduler: Any  # a name from SCHEDULERS (maybe with ":N"), or a search object
    shrink: bool
    shards: int
    replay: str | None
    artifacts: Path
    loop_options: dict[str, Any]


def mode(config: pytest.Config) -> str:
    value = str(config.getini("simloop_mode") or "strict").strip().lower()
    if value not in ("strict", "auto"):
        msg = f"simloop_mode must be 'strict' or 'auto', not {value!r}"
        raise pytest.UsageError(msg)
    return value


def session_seed(config: pytest.Config) -> int | None:
    """The seed given for the whole session, if any ('random' draws one, once)."""
    raw = config.getoption("simloop_seed") or config.getini("simloop_seed")
    if raw in (None, ""):
        return None
    text = str(raw).strip()
    if text == "random":
        cached: int | None = getattr(config, "_simloop_random_seed", None)
        if cached is None:
            cached = random.SystemRandom().randrange(2**32)
            config._simloop_random_seed = cached  # type: ignore[attr-defined]
        return cached
    try:
        return int(text)
    except ValueError:
        msg = f"--simloop-seed / simloop_seed must be an int or 'random', not {raw!r}"
        raise pytest.UsageError(msg) from None


def artifacts_dir(config: pytest.Config) -> Path:
    raw = config.getoption("simloop_artifacts") or config.getini("simloop_artifacts")
    path = Path(str(raw)) if raw else Path(".simloop")
    return path if path.is_absolute() else Path(config.rootpath) / path


def resolve(item: pytest.Item) -> Settings:
    """The settings of ``item``: marker, then command line, then ini, then defaults."""
    config = item.config
    marker = item.get_closest_marker("simloop")
    given: dict[str, Any] = {}
    if marker is not None:
        if marker.args:
            msg = (
                f"{item.nodeid}: @pytest.mark.simloop takes keyword arguments only, "
                f"not {marker.args!r}"
            )
            raise pytest.UsageError(msg)
        unknown = sorted(set(marker.kwargs) - set(MARKER_OPTIONS))
        if unknown:
            msg = (
                f"{item.nodeid}: unknown @pytest.mark.simloop argument(s) {', '.join(unknown)}; "
                f"it takes {', '.join(MARKER_OPTIONS)}"
            )
            raise pytest.UsageError(msg)
        given = dict(marker.kwargs)

    runs = given.get("runs")
    if runs is None:
        runs = config.getoption("simloop_runs")
    if runs is None and marker is not None:
        runs = _int_ini(config, "simloop_runs")
        if runs is None:
            runs = DEFAULT_RUNS
    if runs is None:
        runs = 1  # an unmarked test (fixture, auto mode): asyncio's order, once
    _check_int(item, "runs", runs, minimum=1)

    seed = given.get("seed")
    if seed is None:
        seed = session_seed(config)
    if seed is None:
        # Stable per test, different between tests: reproducible CI, varied coverage. Shards
        # of one test share it (each takes its own slice of the seeds after it).
        seed = zlib.crc32(_SHARD_ID.sub("", item.nodeid).encode("utf-8"))
    _check_int(item, "seed", seed, minimum=None)

    scheduler = given.get("scheduler") or config.getoption("simloop_scheduler")
    scheduler = scheduler or config.getini("simloop_scheduler") or None
    if scheduler is None:
        scheduler = "portfolio" if runs > 1 else "fifo"
    if isinstance(scheduler, str):
        parse_scheduler(scheduler, where=item.nodeid)  # fail early on a bad name
    elif not callable(getattr(scheduler, "schedulers", None)):
        msg = (
            f"{item.nodeid}: simloop scheduler must be a name ({', '.join(SCHEDULERS)}) or a "
            f"search such as simloop.Exhaustive(2), not {scheduler!r}"
        )
        raise pytest.UsageError(msg)

    shards = given.get("shards")
    if shards is None:
        shards = config.getoption("simloop_shards")
    if shards is None:
        shards = _int_ini(config, "simloop_shards") or 1
    _check_int(item, "shards", shards, minimum=1)

    replay = config.getoption("simloop_replay") or config.getini("simloop_replay") or None
    loop_options = {name: given[name] for name in LOOP_OPTIONS if name in given}
    if loop_options:
        _check_loop_options(item, loop_options)
    return Settings(
        runs=runs,
        seed=seed,
        scheduler=scheduler,
        shrink=bool(given.get("shrink", True)),
        shards=shards,
        replay=replay,
        artifacts=artifacts_dir(config),
        loop_options=loop_options,
    )


def _int_ini(config: pytest.Config, name: str) -> int | None:
    raw = config.getini(name)
    if raw in (None, ""):
        return None
    try:
        return int(str(raw))
    except ValueError:
        msg = f"{name} must be an int, not {raw!r}"
        raise pytest.UsageError(msg) from None


def _check_int(item: pytest.Item, name: str, value: Any, *, minimum: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{item.nodeid}: simloop {name} must be an int, not {type(value).__name__} {value!r}"
        raise pytest.UsageError(msg)
    if minimum is not None and value < minimum:
        msg = f"{item.nodeid}: simloop {name} must be at least {minimum}, not {value!r}"
        raise pytest.UsageError(msg)


def parse_scheduler(spec: str, *, where: str) -> tuple[str, int | None]:
    """``"pct:2"`` -> ``("pct", 2)``; errors name the option or test (``where``) and the choices."""
    name, _, number = spec.strip().lower().partition(":")
    if name not in SCHEDULERS or (number and name not in ("pct", "exhaustive")):
        msg = (
            f"{where}: unknown simloop scheduler {spec!r}; use one of portfolio, random, "
            "pct[:DEPTH], exhaustive[:DEVIATIONS], fifo"
        )
        raise pytest.UsageError(msg)
    if not number:
        return name, None  # the default number is the search's own
    try:
        value = int(number)
    except ValueError:
        value = -1
    if value < (1 if name == "pct" else 0):
        wanted = "positive" if name == "pct" else "non-negative"
        msg = f"{where}: {name} needs a {wanted} int after ':', not {number!r}"
        raise pytest.UsageError(msg)
    return name, value


class _FifoOnce:
    """asyncio's own order, once: running it again would only repeat it."""

    def schedulers(self) -> Any:
        import simloop

        yield simloop.Fifo()

    def run_finished(self, trace: Any) -> None:
        pass

    def __repr__(self) -> str:
        return "Fifo()"


def make_search(scheduler: Any, seed: int, shard: tuple[int, int] = (0, 1)) -> Any:
    """The search object for a resolved scheduler setting (``shard``: this item's share)."""
    import simloop

    if not isinstance(scheduler, str):
        return scheduler
    name, number = parse_scheduler(scheduler, where="simloop")
    if name == "portfolio":
        return simloop.Portfolio(seed=seed)
    if name == "random":
        return simloop.RandomWalk
    if name == "pct":
        return simloop.PCT(number or 3, seed=seed)
    if name == "exhaustive":
        return simloop.Exhaustive(2 if number is None else number, shard=shard)
    return _fifo


def _fifo(seed: int) -> Any:
    import simloop

    return simloop.Fifo()


def check_session_options(config: pytest.Config) -> None:
    """Validate the command line and ini settings once, at startup, naming the option: a bad
    value is a usage error (exit code 4), not a failure of the first test that reads it."""
    session_seed(config)
    artifacts_dir(config)
    scheduler = config.getoption("simloop_scheduler")
    if scheduler:
        parse_scheduler(str(scheduler), where="--simloop-scheduler")
    scheduler = config.getini("simloop_scheduler")
    if scheduler:
        parse_scheduler(str(scheduler), where="simloop_scheduler")
    for option, minimum in (("simloop_runs", 1), ("simloop_shards", 1)):
        value = config.getoption(option)
        if value is not None and value < minimum:
            flag = "--" + option.replace("_", "-")
            msg = f"{flag} must be at least {minimum}, not {value!r}"
            raise pytest.UsageError(msg)
        ini_value = _int_ini(config, option)
        if ini_value is not None and ini_value < minimum:
            msg = f"{option} must be at least {minimum}, not {ini_value!r}"
            raise pytest.UsageError(msg)
    for token, where in (
        (config.getoption("simloop_replay"), "--simloop-replay"),
        (config.getini("simloop_replay"), "simloop_replay"),
    ):
        if token:
            from simloop import Trace, TraceFormatError

            try:
                Trace.from_token(str(token))
            except TraceFormatError as error:
                msg = f"{where}: {error}"
                raise pytest.UsageError(msg) from None


def shards_of(definition: pytest.Item) -> int:
    """How many items a test is split into: 1 unless it explores several seed-driven
    schedules (splitting one schedule, or asyncio's order, would only repeat it)."""
    marker = definition.get_closest_marker("simloop")
    shards = marker.kwargs.get("shards") if marker is not None else None
    if shards is None:
        shards = definition.config.getoption("simloop_shards")
    if shards is None:
        shards = _int_ini(definition.config, "simloop_shards") or 1
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        msg = f"{definition.nodeid}: simloop shards must be a positive int, not {shards!r}"
        raise pytest.UsageError(msg)
    if shards == 1:
        return 1
    settings = resolve(definition)
    if settings.runs < 2 or settings.scheduler == "fifo":
        return 1
    return shards


def _check_loop_options(item: pytest.Item, loop_options: dict[str, Any]) -> None:
    """Build (and close) a loop with the marker's options, so a bad one is a usage error now."""
    import simloop

    try:
        simloop.SimLoop(**loop_options).close()
    except simloop.InvalidArgumentError as error:
        msg = f"{item.nodeid}: @pytest.mark.simloop: {error}"
        raise pytest.UsageError(msg) from None
