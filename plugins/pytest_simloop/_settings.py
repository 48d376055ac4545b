"""What a test's simulation looks like: the marker, command-line options and ini keys.

Each setting can come from three places; the first that gives a value wins:

1. the ``@pytest.mark.simloop(...)`` marker closest to the test;
2. the command line (``--simloop-runs`` ...);
3. the ini file (``simloop_runs = ...``).

Exploration settings (runs, seed, search, shrink, shards) are declared here; loop options
(``max_steps``, ``timer_jitter``, ``shuffle``...) come from simloop's one list of them
(:data:`simloop.lowlevel.PLUGIN_OPTIONS`), each as a marker keyword, a
``--simloop-<name>`` option and a ``simloop_<name>`` ini key. The replay token and the
artifacts directory are per invocation, so only (2) and (3) give them.
"""

from __future__ import annotations

import copy
import random
import re
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

import simloop
from simloop import lowlevel

#: Marker keywords that are about the exploration rather than the loop.
EXPLORATION_OPTIONS = ("runs", "seed", "search", "shrink", "shards")
#: Every marker keyword (``scheduler`` is also accepted: the old name of ``search``).
MARKER_OPTIONS = (*EXPLORATION_OPTIONS, *lowlevel.PLUGIN_OPTIONS)

DEFAULT_RUNS = 100

#: The most items one test may be split into (each shard is a test item pytest collects).
MAX_SHARDS = 1000

#: The shard part of a sharded test's id: ``[simloop-shard-3/8]`` or ``-simloop-shard-3/8``.
_SHARD_ID = re.compile(r"-?simloop-shard-\d+/\d+|\[simloop-shard-\d+/\d+\]")

_RANDOM_SEED = pytest.StashKey[int]()


def _flag(name: str) -> str:
    return "--simloop-" + name.replace("_", "-")


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
        help="seed of the search; 'random' for a new one each session "
        "(default: derived from each test's id, so runs are reproducible)",
    )
    group.addoption(
        "--simloop-search",
        default=None,
        metavar="NAME",
        help=f"how schedules are chosen: {lowlevel.search_names()} (default: portfolio)",
    )
    group.addoption(
        "--simloop-scheduler", default=None, metavar="NAME", help="old name of --simloop-search"
    )
    group.addoption(
        "--simloop-replay",
        default=None,
        metavar="TOKEN",
        help="run exactly the schedule of this replay token (from a failure report)",
    )
    group.addoption(
        "--simloop-debug",
        nargs="?",
        const="failure",
        default=None,
        metavar="STOP",
        help="with --simloop-replay: stop the replayed run at STOP (a step number, t=SECONDS, "
        "task=NAME; default: the failure) and take debugger commands, with the loop alive",
    )
    group.addoption(
        "--simloop-check-determinism",
        action="store_true",
        default=False,
        help="run every schedule twice; a test whose two runs differ fails with "
        "NondeterminismError naming the first step that differs",
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
    for name in lowlevel.PLUGIN_OPTIONS:
        group.addoption(
            _flag(name),
            default=None,
            dest=f"simloop_{name}",
            metavar="VALUE",
            help=f"loop option {name} (default {lowlevel.LOOP_OPTION_DEFAULTS[name]!r}): "
            + lowlevel.option_doc(name),
        )
        parser.addini(f"simloop_{name}", f"loop option {name}", default=None)
    parser.addini("simloop_runs", "schedules to explore per simloop-marked test", default=None)
    parser.addini("simloop_seed", "seed of the search, or 'random'", default=None)
    parser.addini("simloop_search", f"{lowlevel.search_names()}", default=None)
    parser.addini("simloop_scheduler", "old name of simloop_search", default=None)
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
    parser.addini(
        "simloop_simulate",
        "true: the event loops tests make themselves (asyncio.run(), new_event_loop()...) are "
        "SimLoops (the session runs inside simloop.simulated())",
        type="bool",
        default=False,
    )


@attrs.frozen
class Settings:
    """The resolved settings of one test."""

    runs: int
    seed: int
    #: Whether the seed was given (marker, option, ini) rather than derived from the test id.
    seed_given: bool
    search: Any  # a registered search's name (maybe with ":N"), or a search object
    shrink: bool
    shards: int
    replay: str | None
    artifacts: Path
    loop_options: lowlevel.LoopOptions
    #: The loop options the marker, the command line or the ini file gave (by name).
    given_loop_options: Mapping[str, Any] = attrs.field(factory=dict)


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
        cached = config.stash.get(_RANDOM_SEED, None)
        if cached is None:
            cached = config.stash[_RANDOM_SEED] = random.SystemRandom().randrange(2**32)
        return cached
    try:
        return int(text)
    except ValueError:
        msg = f"--simloop-seed / simloop_seed must be an int or 'random', not {raw!r}"
        raise pytest.UsageError(msg) from None


def artifacts_dir(config: pytest.Config) -> Path:
    raw = config.getoption("simloop_artifacts") or config.getini("simloop_artifacts")
    if raw and "\0" in str(raw):
        msg = f"--simloop-artifacts / simloop_artifacts must be a path, not {raw!r}"
        raise pytest.UsageError(msg)
    path = Path(str(raw)) if raw else Path(".simloop")
    return path if path.is_absolute() else Path(config.rootpath) / path


def _session_search(config: pytest.Config) -> tuple[str | None, str]:
    """The search named on the command line or in the ini file, and where it came from."""
    for value, where in (
        (config.getoption("simloop_search"), "--simloop-search"),
        (config.getoption("simloop_scheduler"), "--simloop-scheduler"),
        (config.getini("simloop_search"), "simloop_search"),
        (config.getini("simloop_scheduler"), "simloop_scheduler"),
    ):
        if value:
            return str(value), where
    return None, ""


def _session_loop_option(config: pytest.Config, name: str) -> tuple[Any, str] | None:
    """A loop option from the command line or the ini file, parsed: (value, where)."""
    parse = lowlevel.PLUGIN_OPTIONS[name]
    for raw, where in (
        (config.getoption(f"simloop_{name}"), _flag(name)),
        (config.getini(f"simloop_{name}"), f"simloop_{name}"),
    ):
        if raw in (None, ""):
            continue
        try:
            return parse(str(raw)), where
        except ValueError:
            msg = f"{where} must be {_wanted(name)}, not {raw!r}"
            raise pytest.UsageError(msg) from None
    return None


def session_loop_options(config: pytest.Config) -> dict[str, Any]:
    """The loop options the command line and the ini file give the whole session (what the
    loops simloop gives other plugins, or the tests' own loops, are made with)."""
    options = {}
    for name in lowlevel.PLUGIN_OPTIONS:
        found = _session_loop_option(config, name)
        if found is not None:
            options[name] = found[0]
    return options


def _wanted(name: str) -> str:
    expects = getattr(lowlevel.PLUGIN_OPTIONS[name], "expects", None)
    if isinstance(expects, str):
        return expects
    default = lowlevel.LOOP_OPTION_DEFAULTS[name]
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an int or none"
    return "a number of seconds" + (" or none" if default is None else "")


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
        unknown = sorted(set(marker.kwargs) - {*MARKER_OPTIONS, "scheduler"})
        if unknown:
            msg = (
                f"{item.nodeid}: unknown @pytest.mark.simloop argument(s) {', '.join(unknown)}; "
                f"it takes {', '.join(MARKER_OPTIONS)}"
            )
            raise pytest.UsageError(msg)
        given = dict(marker.kwargs)
        if "scheduler" in given:
            if "search" in given:
                msg = f"{item.nodeid}: give `search` (the new name of `scheduler`), not both"
                raise pytest.UsageError(msg)
            given["search"] = given.pop("scheduler")
            item.warn(
                pytest.PytestDeprecationWarning(
                    "@pytest.mark.simloop(scheduler=...) is now @pytest.mark.simloop(search=...)"
                )
            )

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
    seed_given = seed is not None
    if seed is None:
        # Stable per test, different between tests: reproducible CI, varied coverage. Shards
        # of one test share it (each takes its own slice of the seeds after it).
        seed = zlib.crc32(_SHARD_ID.sub("", item.nodeid).encode("utf-8"))
    _check_int(item, "seed", seed, minimum=None)

    search = given["search"] if "search" in given else _session_search(config)[0]
    if search is None:
        search = "portfolio" if runs > 1 else "fifo"
    if isinstance(search, str):
        _parse_search(search, where=item.nodeid)  # fail early on a bad name
    elif isinstance(search, type):
        msg = (
            f"{item.nodeid}: simloop search must be a search object, not the class "
            f"{search.__name__}: pass simloop.{search.__name__}(...)"
        )
        raise pytest.UsageError(msg)
    elif not isinstance(search, simloop.Search):
        msg = (
            f"{item.nodeid}: simloop search must be a name ({', '.join(lowlevel.SEARCHES)}) or "
            f"a search such as simloop.Exhaustive(2), not {search!r}"
        )
        raise pytest.UsageError(msg)

    shards = given.get("shards")
    if shards is None:
        shards = config.getoption("simloop_shards")
    if shards is None:
        shards = _int_ini(config, "simloop_shards") or 1
    _check_int(item, "shards", shards, minimum=1, maximum=MAX_SHARDS)

    shrink = given.get("shrink", True)
    if not isinstance(shrink, bool):
        msg = f"{item.nodeid}: simloop shrink must be True or False, not {shrink!r}"
        raise pytest.UsageError(msg)

    loop_given: dict[str, Any] = {}
    for name in lowlevel.PLUGIN_OPTIONS:
        if name in given:
            loop_given[name] = given[name]
        else:
            found = _session_loop_option(config, name)
            if found is not None:
                loop_given[name] = found[0]
    try:
        loop_options = lowlevel.LoopOptions.build(**loop_given)
    except simloop.InvalidArgumentError as error:
        msg = f"{item.nodeid}: @pytest.mark.simloop: {error}"
        raise pytest.UsageError(msg) from None

    replay = config.getoption("simloop_replay") or config.getini("simloop_replay") or None
    return Settings(
        runs=runs,
        seed=seed,
        seed_given=seed_given,
        search=search,
        shrink=shrink,
        shards=shards,
        replay=replay,
        artifacts=artifacts_dir(config),
        loop_options=loop_options,
        given_loop_options=loop_given,
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


def _check_int(
    item: pytest.Item, name: str, value: Any, *, minimum: int | None, maximum: int | None = None
) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{item.nodeid}: simloop {name} must be an int, not {lowlevel.describe(value)}"
        raise pytest.UsageError(msg)
    if minimum is not None and value < minimum:
        msg = f"{item.nodeid}: simloop {name} must be at least {minimum}, not {value!r}"
        raise pytest.UsageError(msg)
    if maximum is not None and value > maximum:
        msg = f"{item.nodeid}: simloop {name} must be at most {maximum}, not {value!r}"
        raise pytest.UsageError(msg)


def _parse_search(spec: str, *, where: str) -> None:
    try:
        lowlevel.make_search(spec)  # made and dropped: its parameter is checked too
    except simloop.InvalidArgumentError as error:
        msg = f"{where}: {error}"
        raise pytest.UsageError(msg) from None


def make_search(settings: Settings, shard: tuple[int, int] = (0, 1)) -> tuple[simloop.Search, int]:
    """The search for a test's settings and this item's share of it (``shard``), and how
    many runs the item makes. A search that shards itself (an exhaustive one) covers its share
    of the tree; any other runs the item's share of the runs, from its own slice of seeds."""
    spec = settings.search
    seed = settings.seed
    if isinstance(spec, simloop.Search) and spec.seed is not None and not settings.seed_given:
        seed = spec.seed  # the search's own seed beats the one derived from the test's id
    search = lowlevel.make_search(spec, seed=seed)
    index, count = shard
    if count == 1:
        return search, settings.runs
    own = search.for_shard(index, count)
    if own is not None:
        return own, settings.runs
    per_shard = -(-settings.runs // count)  # ceiling division
    runs = max(1, min(per_shard, settings.runs - index * per_shard))
    share = copy.copy(search)
    share.seed = seed + index * per_shard
    return share, runs


def check_session_options(config: pytest.Config) -> None:
    """Validate the command line and ini settings once, at startup, naming the option: a bad
    value is a usage error (exit code 4), not a failure of the first test that reads it."""
    session_seed(config)
    artifacts_dir(config)
    for value, where in (
        (config.getoption("simloop_search"), "--simloop-search"),
        (config.getoption("simloop_scheduler"), "--simloop-scheduler"),
        (config.getini("simloop_search"), "simloop_search"),
        (config.getini("simloop_scheduler"), "simloop_scheduler"),
    ):
        if value:
            _parse_search(str(value), where=where)
            if "scheduler" in where:
                config.issue_config_time_warning(
                    pytest.PytestDeprecationWarning(
                        f"{where} is now {where.replace('scheduler', 'search')}"
                    ),
                    stacklevel=2,
                )
    for option, maximum in (("simloop_runs", None), ("simloop_shards", MAX_SHARDS)):
        flag = "--" + option.replace("_", "-")
        for value, where in ((config.getoption(option), flag), (_int_ini(config, option), option)):
            if value is not None and value < 1:
                msg = f"{where} must be at least 1, not {value!r}"
                raise pytest.UsageError(msg)
            if value is not None and maximum is not None and value > maximum:
                msg = f"{where} must be at most {maximum}, not {value!r}"
                raise pytest.UsageError(msg)
    for name in lowlevel.PLUGIN_OPTIONS:
        found = _session_loop_option(config, name)
        if found is not None:
            value, where = found
            try:
                lowlevel.LoopOptions.build(**{name: value})
            except simloop.InvalidArgumentError as error:
                msg = f"{where}: {error}"
                raise pytest.UsageError(msg) from None
    for token, where in (
        (config.getoption("simloop_replay"), "--simloop-replay"),
        (config.getini("simloop_replay"), "simloop_replay"),
    ):
        if token:
            try:
                recorded = simloop.Trace.from_token(str(token)).recorded_options()
            except simloop.TraceFormatError as error:
                msg = f"{where}: {error}"
                raise pytest.UsageError(msg) from None
            # Loop options of the command line or the ini file that contradict the recording
            # are refused now (a marker's, per test, when the test runs).
            given = {}
            for name in lowlevel.PLUGIN_OPTIONS:
                found = _session_loop_option(config, name)
                if found is not None:
                    given[name] = found[0]
            try:
                lowlevel.check_recorded(recorded, given, where)
            except simloop.InvalidArgumentError as error:
                raise pytest.UsageError(str(error)) from None
            break


def shards_of(definition: pytest.Item) -> int:
    """How many items a test is split into: 1 unless it explores several seed-driven
    schedules (splitting one schedule, or asyncio's order, would only repeat it)."""
    marker = definition.get_closest_marker("simloop")
    shards = marker.kwargs.get("shards") if marker is not None else None
    if shards is None:
        shards = definition.config.getoption("simloop_shards")
    if shards is None:
        shards = _int_ini(definition.config, "simloop_shards") or 1
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        # Not split: resolve() refuses the value once the test is collected, a usage error
        # (raised here, during collection, pytest would report a collection error instead).
        return 1
    if shards == 1:
        return 1
    settings = resolve(definition)
    if settings.runs < 2 or settings.search == "fifo":
        return 1
    return shards
