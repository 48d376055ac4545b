"""``simloop.run``, ``explore``, ``replay``, the schedulers and searches, replay tokens and the
checks, fed hostile values (options are in test_fuzz_options.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import warnings
import zlib
from typing import Any

import pytest
from fuzz_support import (
    Contract,
    close_if_coroutine,
    fuzz,
    is_bool,
    is_int,
    is_real,
    pick,
    two_steps,
    values,
)
from hypothesis import given
from hypothesis import strategies as st

import simloop

# --- models ---------------------------------------------------------------------------------

_NAME = re.compile(r"\s*(portfolio|random|fifo|pct|exhaustive)(:([0-9]+))?\s*", re.IGNORECASE)


def is_search_name(value: Any) -> bool:
    """A registered search's name, with a number after a colon where it takes one: ASCII
    digits, at least 1 for pct; pct's depth at most 1000."""
    if not isinstance(value, str):
        return False
    match = _NAME.fullmatch(value)
    if match is None:
        return False
    name, number = match[1].lower(), match[3]
    if number is None:
        return match[2] is None
    if name == "pct":
        return 1 <= int(number) <= 1000
    return name == "exhaustive"


def is_optional_int(value: Any) -> bool:
    return value is None or is_int(value)


def is_positive_int(value: Any) -> bool:
    return is_int(value) and value >= 1


class Answers:
    """A scheduler: answers option 1 wherever there are two or more."""

    def choose(self, point: simloop.lowlevel.ChoicePoint) -> int:
        return 1

    def __repr__(self) -> str:
        return "Answers()"


SCHEDULERS = [simloop.Fifo(), simloop.RandomWalk(3), Answers()]


def is_scheduler(value: Any) -> bool:
    return isinstance(value, (simloop.Fifo, simloop.RandomWalk, Answers))


# --- simloop.run ----------------------------------------------------------------------------


def test_run(contract: Contract) -> None:
    @fuzz(60)
    @given(
        argument=st.sampled_from(["main", "seed", "scheduler", "debug"]),
        value=values(st.integers(), pick(SCHEDULERS), st.booleans()),
    )
    def check(argument: str, value: Any) -> None:
        if argument == "main":
            valid = False  # a coroutine is valid: not among the values drawn
            call = lambda: simloop.run(value)  # noqa: E731
        else:
            valid = {
                "seed": is_optional_int,
                "scheduler": lambda v: v is None or is_scheduler(v),
                "debug": lambda v: v is None or is_bool(v),
            }[argument](value)
            main = two_steps()

            def call() -> Any:
                try:
                    return simloop.run(main, **{argument: value})
                finally:
                    main.close()

        contract.check(
            f"run({argument}=)",
            call,
            valid=valid,
            argument=argument,
            value=value,
            effect=lambda result: _equal(result, "done"),
        )

    check()


# --- simloop.explore ------------------------------------------------------------------------


EXPLORE_MODELS = {
    "main": lambda v: False,
    "runs": is_positive_int,
    "seed": is_optional_int,
    "search": lambda v: v is None or is_search_name(v),
    "shrink": is_bool,
    "shrink_budget": lambda v: is_int(v) and v >= 0,
    "coverage": is_bool,
    "scheduler": lambda v: v is None or is_search_name(v),
}


def test_explore(contract: Contract) -> None:
    @fuzz(80)
    @given(
        argument=st.sampled_from(sorted(EXPLORE_MODELS)),
        value=values(
            st.integers(0, 5),
            st.booleans(),
            st.sampled_from(["pct", "pct:3", "exhaustive:1", "fifo", "Random", " portfolio "]),
        ),
    )
    def check(argument: str, value: Any) -> None:
        valid = EXPLORE_MODELS[argument](value)

        def call() -> Any:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # scheduler=, the old name
                if argument == "main":
                    try:
                        return simloop.explore(value, runs=2)
                    finally:
                        close_if_coroutine(value)
                # A search of one schedule, where the number of runs is what is fuzzed.
                others: dict[str, Any] = {"search": "fifo"} if argument == "runs" else {}
                return simloop.explore(two_steps, **{"runs": 3, **others, argument: value})

        def effect(result: simloop.ExplorationResult) -> None:
            assert not result.found, result.failure and result.failure.summary()
            assert 1 <= result.runs <= (value if argument == "runs" else 3)

        contract.check(
            f"explore({argument}=)",
            call,
            valid=valid,
            argument=argument,
            value=value,
            effect=effect,
        )

    check()


# --- schedulers and searches ---------------------------------------------------------------


def _runs_with(make: Any) -> Any:
    """``make()``; a search is explored, a scheduler runs a program."""
    made = make()
    if isinstance(made, simloop.Search):
        result = simloop.explore(two_steps, runs=3, search=made)
        assert not result.found
    else:
        assert simloop.run(two_steps(), scheduler=made) == "done"
    return made


CONSTRUCTORS: dict[str, tuple[Any, dict[str, Any]]] = {
    # name: (class, {argument: model})
    "RandomWalk": (simloop.RandomWalk, {"seed": is_int}),
    "PCT": (
        simloop.PCT,
        {
            "depth": lambda v: is_int(v) and 1 <= v <= 1000,
            "seed": is_optional_int,
            "expected_steps": is_positive_int,
        },
    ),
    "Exhaustive": (
        simloop.Exhaustive,
        {
            "max_deviations": lambda v: is_int(v) and v >= 0,
            "shard": lambda v: (
                isinstance(v, tuple)
                and len(v) == 2
                and all(is_int(x) for x in v)
                and 0 <= v[0] < v[1]
            ),
            "seed": is_optional_int,
        },
    ),
    "Portfolio": (simloop.Portfolio, {"seed": is_optional_int}),
    "RandomSearch": (simloop.RandomSearch, {"seed": is_optional_int}),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_scheduler_and_search_constructors(contract: Contract, name: str) -> None:
    cls, models = CONSTRUCTORS[name]

    @fuzz(40)
    @given(
        argument=st.sampled_from(sorted(models)),
        value=values(
            st.integers(-2, 2000),
            st.tuples(st.integers(-1, 3), st.integers(-1, 3)),
            st.just((0, 1)),
        ),
    )
    def check(argument: str, value: Any) -> None:
        positional = argument in ("seed", "depth", "max_deviations") and name != "Portfolio"
        positional = positional and not (name in ("PCT", "Exhaustive") and argument == "seed")
        positional = positional and name != "RandomSearch"

        def make() -> Any:
            return cls(value) if positional else cls(**{argument: value})

        contract.check(
            f"{name}({argument}=)",
            lambda: _runs_with(make),
            valid=models[argument](value),
            argument=argument,
            value=value,
        )

    check()


REPLAY_MODELS = {
    "choices": lambda v: _int_list(v),
    "options": lambda v: v is None or _int_list(v),
    "kinds": lambda v: v is None or (isinstance(v, list) and all(isinstance(k, str) for k in v)),
    "strict": is_bool,
}


def _int_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, range)) and all(is_int(c) and c >= 0 for c in value)


def test_replay_scheduler(contract: Contract) -> None:
    @fuzz(60)
    @given(
        argument=st.sampled_from(sorted(REPLAY_MODELS)),
        value=values(st.lists(st.integers(0, 3), max_size=3), st.booleans()),
    )
    def check(argument: str, value: Any) -> None:
        given_: dict[str, Any] = {"choices": [0, 1]}
        if argument in ("options", "kinds") and isinstance(value, list):
            given_["choices"] = [0] * len(value)  # one entry per choice, so the lengths agree
        given_[argument] = value
        valid = REPLAY_MODELS[argument](value)

        def call() -> simloop.Replay:
            replay = simloop.Replay(**given_)
            try:
                simloop.run(two_steps(), scheduler=replay)
            except simloop.ReplayDivergenceError:
                pass  # a choice that does not fit this program: what strict replay does
            return replay

        contract.check(f"Replay({argument}=)", call, valid=valid, argument=argument, value=value)

    check()


# --- replay tokens and recordings -------------------------------------------------------------


def _token_of(payload: bytes, prefix: str = "sl2-") -> str:
    return prefix + base64.urlsafe_b64encode(zlib.compress(payload)).decode().rstrip("=")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@st.composite
def crafted_tokens(draw: st.DrawFn) -> str:
    """Tokens with a valid checksum and a hostile inside: a header of any JSON, lengths and
    varints that lie."""
    header: Any = draw(
        st.one_of(
            st.fixed_dictionaries(
                {
                    "seed": st.one_of(st.none(), st.integers(), st.text(max_size=3)),
                    "options": st.one_of(
                        st.dictionaries(
                            st.sampled_from(
                                ["shuffle", "timer_jitter", "max_steps", "epoch", "bogus", "seed"]
                            ),
                            st.one_of(st.integers(), st.floats(), st.booleans(), st.none()),
                            max_size=3,
                        ),
                        st.integers(),
                    ),
                    "kinds": st.one_of(
                        st.lists(st.sampled_from(["ready", "timer.tie", "", "x"]), max_size=3),
                        st.text(max_size=3),
                    ),
                },
                optional={"version": st.integers()},
            ),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=3), inner, max_size=3)
                ),
                max_leaves=6,
            ),
        )
    )
    text = json.dumps(header).encode()
    length = draw(st.one_of(st.just(len(text)), st.integers(0, 2**70)))
    numbers = draw(st.lists(st.integers(0, 2**70), max_size=12))
    tail = draw(st.binary(max_size=8))
    payload = _varint(length) + text + b"".join(_varint(n) for n in numbers) + tail
    return _token_of(payload, draw(st.sampled_from(["sl2-", "sl1-"])))


def _real_token() -> str:
    loop = simloop.SimLoop(seed=5, timer_jitter=0.01)
    try:
        loop.run_until_complete(two_steps())
        return loop.trace.token
    finally:
        loop.close()


@st.composite
def damaged_tokens(draw: st.DrawFn) -> str:
    """A real token, cut short or with characters changed."""
    token = _real_token()
    how = draw(st.sampled_from(["cut", "change", "insert"]))
    i = draw(st.integers(0, len(token) - 1))
    if how == "cut":
        return token[:i]
    char = draw(st.sampled_from(list("AZaz09-_=+/ \n\0\u00e9")))
    if how == "change":
        return token[:i] + char + token[i + 1 :]
    return token[:i] + char + token[i:]


def tokens() -> st.SearchStrategy[Any]:
    return st.one_of(
        crafted_tokens(),
        damaged_tokens(),
        st.text(max_size=30).map(lambda t: "sl2-" + t),
        values(),
    )


def test_tokens(contract: Contract) -> None:
    real = simloop.Trace.from_token(_real_token())

    @fuzz(200)
    @given(token=tokens())
    def check(token: Any) -> None:
        def effect(trace: simloop.Trace) -> None:
            # A token that decodes is a schedule that replays (or diverges): it can be run.
            assert isinstance(trace, simloop.Trace)
            result = simloop.replay(two_steps, trace)
            if result.failure is not None:
                assert isinstance(result.failure.exception, simloop.SimulationError), result
            assert simloop.Trace.from_token(trace.token).fingerprint() == trace.fingerprint()

        valid = None  # only a real token is known to be valid; a decodable one must run
        if isinstance(token, str) and token == real.token:
            valid = True
        contract.check(
            "Trace.from_token()",
            lambda: simloop.Trace.from_token(token),
            valid=valid,
            argument="token",
            value=token,
            effect=effect,
        )
        contract.check(
            "replay(recording=)",
            lambda: simloop.replay(two_steps, token),
            valid=valid,
            argument="recording",
            value=token,
        )
        main = two_steps()
        try:
            contract.check(
                "run(replay=)",
                lambda: _run_replay(main, token),
                valid=valid,
                argument="replay",
                value=token,
            )
        finally:
            main.close()

    check()


def _run_replay(main: Any, token: Any) -> Any:
    try:
        return simloop.run(main, replay=token)
    except simloop.ReplayDivergenceError:
        return "diverged"  # the program does not fit the schedule: a correct answer


def test_replay_arguments(contract: Contract) -> None:
    token = _real_token()
    models = {"record_events": lambda v: is_bool(v) or (is_int(v) and v >= 1), "strict": is_bool}

    @fuzz(40)
    @given(argument=st.sampled_from(sorted(models)), value=values(st.booleans(), st.integers(1, 9)))
    def check(argument: str, value: Any) -> None:
        contract.check(
            f"replay({argument}=)",
            lambda: simloop.replay(two_steps, token, **{argument: value}),
            valid=models[argument](value),
            argument=argument,
            value=value,
            effect=lambda result: _equal(result.failure, None),
        )

    check()


# --- checks --------------------------------------------------------------------------------


CHECK_MODELS = {
    "invariant(check=)": ("check", lambda v: callable(v)),
    "invariant(name=)": ("name", lambda v: v is None or isinstance(v, str)),
    "eventually(within=)": ("within", lambda v: is_real(v) and v >= 0),
    "eventually(name=)": ("name", lambda v: v is None or isinstance(v, str)),
    "sometimes(label=)": ("label", lambda v: isinstance(v, str)),
    "cancel_somewhere(task=)": ("task", lambda v: False),
}


def test_checks(contract: Contract) -> None:
    @fuzz(80)
    @given(entry=st.sampled_from(sorted(CHECK_MODELS)), value=values(st.floats(0, 5), st.text()))
    def check(entry: str, value: Any) -> None:
        argument, model = CHECK_MODELS[entry]

        async def main() -> str:
            if entry == "invariant(check=)":
                simloop.invariant(value)
            elif entry == "invariant(name=)":
                simloop.invariant(lambda: True, name=value)
            elif entry == "eventually(within=)":
                simloop.eventually(lambda: True, within=value)
            elif entry == "eventually(name=)":
                simloop.eventually(lambda: True, within=1, name=value)
            elif entry == "sometimes(label=)":
                simloop.sometimes(value, True)
            else:
                simloop.cancel_somewhere(value)
            return await two_steps()

        def call() -> Any:
            return simloop.run(main(), seed=1)

        valid = model(value)
        if entry == "invariant(check=)" and callable(value):
            valid = None  # a callable may return anything, or raise
        contract.check(entry, call, valid=valid, argument=argument, value=value)

    check()


def _equal(got: Any, expected: Any) -> None:
    assert got == expected, got


# Keep asyncio imported for the programs above.
assert asyncio
