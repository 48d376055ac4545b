"""Loop options: the one list of everything a :class:`~simloop.SimLoop` can be told.

Each option is declared once, here: its name, default, check, documentation, whether a trace
records it (``recorded``: a replay must run with the same value), and whether the pytest plugin
offers it (``plugin``: as a ``@pytest.mark.simloop`` keyword, a ``--simloop-<name>`` option and a
``simloop_<name>`` ini key, parsed from text by ``parse``). ``SimLoop``, ``simloop.run``,
``explore``, ``replay``, traces, replay tokens and the plugin all read this list, so adding an
option is one edit here (and its documentation).

Options are checked before anything else happens, so a bad one raises
:class:`~simloop.InvalidArgumentError` naming it, and nothing is left half made.
"""

from __future__ import annotations

import decimal
import fractions
import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from simloop._clock import NEVER_NS, seconds_to_ns
from simloop._errors import InvalidArgumentError
from simloop._instrument import check_instrument
from simloop._scheduling import Scheduler, check_scheduler
from simloop._text import describe, shown

#: A run that takes this many steps is taken for a livelock (it costs about a second).
DEFAULT_MAX_STEPS = 500_000

#: ``time.time()`` inside a simulation reads this wall-clock time at virtual time 0:
#: 2000-01-01T00:00:00Z.
DEFAULT_EPOCH = 946_684_800.0

_NUMBERS = (int, float, decimal.Decimal, fractions.Fraction)


# --- checks ----------------------------------------------------------------------------------


_describe = describe


def _seconds_ns(name: str, value: object) -> int:
    """A number of seconds as ns: a real number (not a bool), not NaN. Beyond about 31
    million years it is :data:`NEVER_NS` (or its negative): ints and fractions too large for a
    float included."""
    if isinstance(value, bool) or not isinstance(value, _NUMBERS) or _is_nan(value):
        msg = f"`{name}` must be a number of seconds, not {describe(value)}"
        raise InvalidArgumentError(msg)
    return seconds_to_ns(value, name=name)  # type: ignore[arg-type]


def _is_nan(value: object) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, decimal.Decimal):
        return value.is_nan()  # a quiet or signalling NaN
    return False


def _check_seed(options: Any, attribute: Any, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        msg = f"`seed` must be an int or None, not {describe(value)}"
        raise InvalidArgumentError(msg)


def _check_scheduler(options: Any, attribute: Any, value: object) -> None:
    if value is not None:
        check_scheduler(value)


def _check_finite(options: Any, attribute: Any, value: object) -> None:
    ns = _seconds_ns(attribute.name, value)
    if not -NEVER_NS < ns < NEVER_NS:
        msg = f"`{attribute.name}` must be a finite number of seconds, not {shown(value)}"
        raise InvalidArgumentError(msg)


def _check_max_steps(options: Any, attribute: Any, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        msg = f"`max_steps` must be a positive int or None, not {shown(value)}"
        raise InvalidArgumentError(msg)


def _check_max_time(options: Any, attribute: Any, value: Any) -> None:
    # The sign of the value itself: -1e-10 rounds to 0 ns, but is not a time limit.
    if value is not None and (_seconds_ns("max_time", value) < 0 or value < 0):
        msg = f"`max_time` must be a non-negative number of seconds or None, not {shown(value)}"
        raise InvalidArgumentError(msg)


def _check_jitter(options: Any, attribute: Any, value: Any) -> None:
    name = attribute.name
    if not 0 <= _seconds_ns(name, value) < NEVER_NS or value < 0:
        msg = f"`{name}` must be a non-negative number of seconds, not {shown(value)}"
        raise InvalidArgumentError(msg)


def _check_bool(options: Any, attribute: Any, value: object) -> None:
    if not isinstance(value, bool):
        msg = f"`{attribute.name}` must be True or False, not {describe(value)}"
        raise InvalidArgumentError(msg)


def _check_optional_bool(options: Any, attribute: Any, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        msg = f"`{attribute.name}` must be True, False or None, not {_describe(value)}"
        raise InvalidArgumentError(msg)


def _check_record_events(options: Any, attribute: Any, value: object) -> None:
    if isinstance(value, bool):
        return
    if not isinstance(value, int) or value < 1:
        msg = (
            "`record_events` must be True, False, or a positive int (how many of the latest "
            f"steps to keep), not {describe(value)}"
        )
        raise InvalidArgumentError(msg)


def _to_instruments(value: object) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        msg = f"`instruments` must be a sequence of simloop.Instrument objects, not {shown(value)}"
        raise InvalidArgumentError(msg)
    # At most one past the limit: an endless iterable ends here.
    instruments = tuple(itertools.islice(value, _MAX_INSTRUMENTS + 1))
    if len(instruments) > _MAX_INSTRUMENTS:
        msg = f"`instruments` must be at most {_MAX_INSTRUMENTS:,} instruments (is it endless?)"
        raise InvalidArgumentError(msg)
    return instruments


_MAX_INSTRUMENTS = 10_000


def _check_instruments(options: Any, attribute: Any, value: tuple[Any, ...]) -> None:
    for instrument in value:
        check_instrument(instrument, "`instruments`")


# --- parsing text (command line, ini files) ----------------------------------------------------


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    msg = f"expected true or false, not {shown(text)}"
    raise ValueError(msg)


def parse_optional_bool(text: str) -> bool | None:
    return None if text.strip().lower() in ("none", "") else parse_bool(text)


def parse_seconds(text: str) -> float:
    return float(text)


def parse_optional_seconds(text: str) -> float | None:
    return None if text.strip().lower() in ("none", "") else float(text)


def parse_optional_int(text: str) -> int | None:
    return None if text.strip().lower() in ("none", "") else int(text)


# What each parser expects, in the words of a usage error ("--simloop-shuffle must be ...").
parse_bool.expects = "true or false"  # type: ignore[attr-defined]
parse_optional_bool.expects = "true, false or none"  # type: ignore[attr-defined]
parse_seconds.expects = "a number of seconds"  # type: ignore[attr-defined]
parse_optional_seconds.expects = "a number of seconds or none"  # type: ignore[attr-defined]
parse_optional_int.expects = "an int or none"  # type: ignore[attr-defined]


# --- the list --------------------------------------------------------------------------------


def _option(
    default: Any,
    doc: str,
    *,
    check: Callable[[Any, Any, Any], None] | None = None,
    recorded: bool = False,
    parse: Callable[[str], Any] | None = None,
    converter: Callable[[Any], Any] | None = None,
) -> Any:
    return attrs.field(
        default=default,
        validator=check,
        converter=converter,
        metadata={"doc": doc, "recorded": recorded, "plugin": parse is not None, "parse": parse},
    )


# Not slotted: copying a dict is the cheap way to make one per run of an exploration.
@attrs.frozen(kw_only=True, slots=False)
class LoopOptions:
    """Every option of a :class:`~simloop.SimLoop`, checked. See each field's documentation
    (also in :mod:`simloop`'s API reference)."""

    seed: int | None = _option(
        None,
        "Seeds the run. Without `scheduler`, an int seed means RandomWalk(seed) and None means "
        "Fifo (stock asyncio's order). It also seeds random, os.urandom and uuid inside the run "
        "(None seeds them with the scheduler's seed, else 0).",
        check=_check_seed,
        recorded=True,
    )
    # A field like the others (ruff takes _option for a call that might share a mutable default).
    scheduler: Scheduler | None = _option(  # noqa: RUF009
        None,
        "Decides every choice point; overrides the default chosen from `seed`.",
        check=_check_scheduler,
    )
    start_time: float = _option(
        0.0,
        "The virtual time (seconds) loop.time() reads when the loop starts.",
        check=_check_finite,
        recorded=True,
        parse=parse_seconds,
    )
    max_steps: int | None = _option(
        DEFAULT_MAX_STEPS,
        "Each run_until_complete/run_forever call may run at most this many callbacks, then "
        "raises StepLimitError (livelock protection). None for no limit.",
        check=_check_max_steps,
        recorded=True,
        parse=parse_optional_int,
    )
    max_time: float | None = _option(
        None,
        "Each call may advance virtual time by at most this many seconds, then raises "
        "TimeLimitError. None (the default) for no limit.",
        check=_check_max_time,
        recorded=True,
        parse=parse_optional_seconds,
    )
    timer_jitter: float = _option(
        0.0,
        "If positive, the loop may wake up late for its timers, by up to this many seconds: "
        "a busy real loop. Each time the clock moves to the next timer, how late is a choice "
        "(option 0: on time); every timer then due fires, in deadline order.",
        check=_check_jitter,
        recorded=True,
        parse=parse_seconds,
    )
    sleep_jitter: float = _option(
        0.0,
        "If positive, every asyncio.sleep may last up to this many seconds longer than asked, "
        "a choice per sleep (option 0: as asked): an operation that a fake models with a sleep "
        "taking longer. Unlike timer_jitter, this can make a sleep end after a timer due later.",
        check=_check_jitter,
        recorded=True,
        parse=parse_seconds,
    )
    shuffle: bool = _option(
        False,
        "If true, every ready callback can run before any other, even callbacks scheduled by "
        "the same step in an order asyncio guarantees.",
        check=_check_bool,
        recorded=True,
        parse=parse_bool,
    )
    record_events: bool | int = _option(
        False,
        "Record a full event per step (what ran, where it resumed and suspended), not just the "
        "choices. An int keeps only that many of the latest steps.",
        check=_check_record_events,
    )
    patch_time: bool = _option(
        True,
        "Make time.time/monotonic/perf_counter read virtual time and time.sleep advance it, "
        "while the loop runs.",
        check=_check_bool,
        recorded=True,
        parse=parse_bool,
    )
    patch_random: bool = _option(
        True,
        "Seed random, os.urandom, uuid from the run's seed, while the loop runs.",
        check=_check_bool,
        recorded=True,
        parse=parse_bool,
    )
    forbid_escapes: bool = _option(
        True,
        "Raise EscapedSimulationError when code running in the loop starts a thread or a "
        "subprocess, connects or binds a real socket, or installs a signal handler.",
        check=_check_bool,
        recorded=True,
        parse=parse_bool,
    )
    fail_on_unhandled: bool | None = _option(
        None,
        "Raise UnhandledExceptionsError at the end of run_until_complete for exceptions nobody "
        "retrieved (crashed background tasks, failing callbacks, errors reported to the loop's "
        "exception handler), instead of logging them as asyncio does. None (the default): "
        "True when simloop's harness runs the loop (simloop.run, explore, replay, the pytest "
        "marker and fixture), False for a bare SimLoop given to another runner.",
        check=_check_optional_bool,
        recorded=True,
        parse=parse_optional_bool,
    )
    warn: bool | None = _option(
        None,
        "Warn about calls that behave differently in virtual time: time.sleep() in a "
        "coroutine (BlockingCallWarning), a clock or a wait that is still real "
        "(RealClockWarning). None (the default): True when simloop's harness runs the loop, "
        "False for a bare SimLoop, which stays as quiet as asyncio's own loop.",
        check=_check_optional_bool,
        parse=parse_optional_bool,
    )
    track_locks: bool = _option(
        True,
        "Record which task holds each asyncio.Lock, for deadlock reports.",
        check=_check_bool,
        parse=parse_bool,
    )
    epoch: float = _option(
        DEFAULT_EPOCH,
        "The wall-clock time time.time() reads at virtual time 0.",
        check=_check_finite,
        recorded=True,
        parse=parse_seconds,
    )
    instruments: tuple[Any, ...] = _option(
        (),
        "Observers to attach from the start (see simloop.Instrument).",
        check=_check_instruments,
        converter=_to_instruments,
    )

    # --- derived values ----------------------------------------------------------------------

    def times_ns(self) -> tuple[int, int | None, int, int, int]:
        """``start_time``, ``max_time``, ``timer_jitter``, ``epoch`` and ``sleep_jitter`` in
        nanoseconds, computed once per options object (they are immutable)."""
        found: tuple[int, int | None, int, int, int] | None = self.__dict__.get("_ns")
        if found is None:
            found = (
                _seconds_ns("start_time", self.start_time),
                None if self.max_time is None else _seconds_ns("max_time", self.max_time),
                _seconds_ns("timer_jitter", self.timer_jitter),
                _seconds_ns("epoch", self.epoch),
                _seconds_ns("sleep_jitter", self.sleep_jitter),
            )
            object.__setattr__(self, "_ns", found)
        return found

    # --- making and combining them ---------------------------------------------------------

    @classmethod
    def build(cls, options: LoopOptions | None = None, **changes: Any) -> LoopOptions:
        """``options`` (or the defaults) with ``changes``, every name and value checked."""
        if options is None:
            options = _DEFAULT
        elif not isinstance(options, LoopOptions):
            msg = f"`options` must be a simloop.lowlevel.LoopOptions, not {describe(options)}"
            raise InvalidArgumentError(msg)
        if not changes:
            return options
        current = options.__dict__
        changed = {}
        for name, value in changes.items():
            if name not in _FIELDS:
                unknown = sorted(n for n in changes if n not in _FIELDS)
                names = ", ".join(f"`{n}`" for n in unknown)
                msg = f"unknown loop option {names}; the options are {', '.join(NAMES)}"
                raise InvalidArgumentError(msg)
            if value is not current[name]:
                changed[name] = value
        if not changed:
            return options
        # Only what changes is checked (a whole new object would check every field again):
        # a loop is made per run of an exploration.
        new = object.__new__(cls)
        state = dict(current)
        if not _TIMES.isdisjoint(changed):
            state.pop("_ns", None)
        if not _RECORDED_SET.isdisjoint(changed):
            state.pop("_recorded", None)
        for name, value in changed.items():
            field = _FIELDS[name]
            converter: Any = field.converter  # a plain function here (attrs types it wider)
            if converter is not None:
                value = converter(value)
            if field.validator is not None:
                field.validator(new, field, value)
            state[name] = value
        new.__dict__.update(state)
        return new

    def for_run(
        self, seed: int | None, scheduler: Scheduler | None, *, record_events: bool | int = False
    ) -> LoopOptions:
        """These options with another seed, scheduler and ``record_events`` (exploration makes
        one of these per run)."""
        # Computed once on these options, the derived values are copied into every run's.
        self.times_ns()
        self.recorded()
        return LoopOptions.build(self, seed=seed, scheduler=scheduler, record_events=record_events)

    def recorded(self) -> dict[str, Any]:
        """The options a trace records (those a replay must share), where they differ from
        the defaults; ``seed`` always."""
        settings: dict[str, Any] | None = self.__dict__.get("_recorded")
        if settings is None:
            settings = {
                name: getattr(self, name)
                for name in RECORDED
                if name != "seed" and getattr(self, name) != DEFAULTS[name]
            }
            object.__setattr__(self, "_recorded", settings)
        return {"seed": self.seed, **settings}


_FIELDS = attrs.fields_dict(LoopOptions)
_DEFAULT = LoopOptions()
NAMES: tuple[str, ...] = tuple(f.name for f in attrs.fields(LoopOptions))
DEFAULTS: Mapping[str, Any] = {f.name: f.default for f in attrs.fields(LoopOptions)}
#: The options a trace records: a replay runs with the recorded values.
RECORDED: tuple[str, ...] = tuple(
    f.name for f in attrs.fields(LoopOptions) if f.metadata["recorded"]
)
_RECORDED_SET = frozenset(RECORDED) - {"seed"}
#: The options the derived nanosecond values come from.
_TIMES = frozenset({"start_time", "max_time", "timer_jitter", "epoch", "sleep_jitter"})
#: The options the pytest plugin offers, with the function that parses each from text.
PLUGIN_OPTIONS: Mapping[str, Callable[[str], Any]] = {
    f.name: f.metadata["parse"] for f in attrs.fields(LoopOptions) if f.metadata["plugin"]
}


def option_doc(name: str) -> str:
    """The documentation of one option."""
    field = _FIELDS.get(name) if isinstance(name, str) else None
    if field is None:
        msg = f"`name` must be the name of a loop option ({', '.join(NAMES)}), not {describe(name)}"
        raise InvalidArgumentError(msg)
    doc: str = field.metadata["doc"]
    return doc


def check_recorded(recorded: Mapping[str, Any], given: Mapping[str, Any], what: str) -> None:
    """Refuse options given beside a replay that contradict what the recording fixes."""
    clashes = [
        name
        for name in RECORDED
        if name in given and given[name] != recorded.get(name, DEFAULTS[name])
    ]
    if clashes:
        listed = ", ".join(
            f"`{name}`={shown(given[name])} (recorded: {recorded.get(name, DEFAULTS[name])!r})"
            for name in clashes
        )
        msg = (
            f"{what}: {listed} contradicts the recording; a replay runs with the options it "
            "was recorded with (leave them out)"
        )
        raise InvalidArgumentError(msg)


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Recorded options read back (from a trace file, a token): known names, valid values."""
    unknown = sorted(set(settings) - set(RECORDED) | ({"seed"} & set(settings)))
    if unknown:
        msg = f"unknown recorded option(s) {', '.join(map(repr, unknown))}"
        raise InvalidArgumentError(msg)
    LoopOptions.build(**settings)
    return dict(settings)
