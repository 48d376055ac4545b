"""The pytest plugin's marker arguments, command-line options and ini keys, fed hostile values.

The contract for pytest: a value the model refuses is a usage error (exit status 4) whose
message names the option; a value it accepts runs the test (exit status 0, or 1 where the value
makes the test fail, such as a step limit of 1); never an internal error, a traceback from the
plugin, or a usage error for a valid value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest
from fuzz_support import USAGE, Contract, fuzz
from hypothesis import given
from hypothesis import strategies as st

import simloop
from simloop import _guards, lowlevel

TEST = """
import asyncio
import pytest

@pytest.mark.simloop({marker})
async def test_it():
    await asyncio.gather(asyncio.sleep(0), asyncio.sleep(0.5))
"""

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings = error
{keys}
"""

_SEARCH = re.compile(
    r"(portfolio|random|fifo|pct(:0*([1-9][0-9]{0,2}|1000))?|exhaustive(:[0-9]+)?)"
)


def _text_int(text: str, minimum: int) -> bool:
    try:
        return int(text) >= minimum
    except ValueError:
        return False


def _text_float(text: str, check: Callable[[float], bool]) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return not math.isnan(value) and check(value)


def _text_bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off")


def _none_or(text: str, model: Callable[[str], bool]) -> bool:
    return text.strip().lower() in ("none", "") or model(text)


#: Models of the text of each option (command line and ini file alike).
TEXT_MODELS: dict[str, Callable[[str], bool]] = {
    "runs": lambda t: _text_int(t, 1),
    "shards": lambda t: _text_int(t, 1) and int(t) <= 1000,
    "seed": lambda t: t.strip() == "random" or _text_int(t, -(10**100)),
    "search": lambda t: _SEARCH.fullmatch(t.strip().lower()) is not None,
    "artifacts": lambda t: "\0" not in t,
    "start_time": lambda t: _text_float(t, lambda v: -1e15 < v < 1e15),
    "epoch": lambda t: _text_float(t, lambda v: -1e15 < v < 1e15),
    "timer_jitter": lambda t: _text_float(t, lambda v: 0 <= v < 1e15),
    "sleep_jitter": lambda t: _text_float(t, lambda v: 0 <= v < 1e15),
    "max_time": lambda t: _none_or(t, lambda x: _text_float(x, lambda v: v >= 0)),
    "max_steps": lambda t: _none_or(t, lambda x: _text_int(x, 1)),
    **dict.fromkeys(
        ("shuffle", "patch_time", "patch_random", "forbid_escapes"),
        _text_bool,
    ),
    **dict.fromkeys(("fail_on_unhandled", "warn"), lambda t: _none_or(t, _text_bool)),
    "track_locks": _text_bool,
}


def text_valid(key: str, text: str, *, command_line: bool) -> bool:
    """An empty value means "not given" (the default), except where the command line parses
    it as an int."""
    if text == "":
        return not (command_line and key in ("runs", "shards"))
    return TEXT_MODELS[key](text)


OPTIONS = tuple(lowlevel.PLUGIN_OPTIONS)


def test_every_option_has_a_model() -> None:
    assert set(lowlevel.PLUGIN_OPTIONS) <= set(TEXT_MODELS)


def option_texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                "5",
                " 5 ",
                "0",
                "-1",
                "1_0",
                "+3",
                "1e3",
                "inf",
                "-inf",
                "nan",
                "none",
                "None",
                "",
                "true",
                "FALSE",
                "yes",
                "maybe",
                "random",
                "pct:2",
                "PCT:2",
                "pct:0",
                "pct:1001",
                "exhaustive:1",
                "fifo",
                "sl2-",
                "sl2-AAAA",
                "99999999999999999999999",
                "1e400",
                "0.5",
                "\u0665",
                "\0",
            ]
        ),
        st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=8),
    )


def outcome(result: pytest.RunResult, valid: bool, what: str) -> str:
    """Check a run against the contract; the outcome's name."""
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output, f"{what}: an internal error:\n{output[-3000:]}"
    assert "pytest_simloop/" not in output, f"{what}: a plugin traceback:\n{output[-3000:]}"
    assert not _guards.is_installed(), f"{what}: the determinism guards were left on"
    if result.ret == pytest.ExitCode.USAGE_ERROR:
        assert not valid, f"{what}: a usage error for a valid value:\n{output[-2000:]}"
        assert "ERROR: " in output, output[-2000:]
        return USAGE
    assert valid, f"{what}: accepted what it should refuse ({result.ret}):\n{output[-2000:]}"
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), output[-2000:]
    if result.ret == pytest.ExitCode.TESTS_FAILED:
        # Only a limit the value set may fail this test.
        assert re.search(r"(StepLimitError|TimeLimitError)", output), output[-2000:]
    return "ran"


def _command_line_value(text: str) -> str:
    return text


def test_command_line_options(pytester: pytest.Pytester, contract: Contract) -> None:
    pytester.makeini(INI.format(keys=""))
    pytester.makepyfile(test_it=TEST.format(marker="runs=2"))

    @fuzz(40)
    @given(key=st.sampled_from(sorted(TEXT_MODELS)), text=option_texts())
    def check(key: str, text: str) -> None:
        flag = "--simloop-" + key.replace("_", "-")
        result = pytester.runpytest(f"{flag}={text}", "-p", "no:cacheprovider")
        valid = text_valid(key, text, command_line=True)
        contract.count(f"--simloop-{key}", outcome(result, valid, f"{flag}={text!r}"))

    check()


def test_ini_keys(pytester: pytest.Pytester, contract: Contract) -> None:
    pytester.makepyfile(test_it=TEST.format(marker="runs=2"))
    models = {
        **TEXT_MODELS,
        "mode": lambda t: t.strip().lower() in ("strict", "auto"),
    }

    @fuzz(40)
    @given(key=st.sampled_from(sorted(models)), text=option_texts())
    def check(key: str, text: str) -> None:
        # As an ini file can hold it: on one line, without the blanks the parser strips.
        text = "" if "\0" in text or "\n" in text else text.strip()
        pytester.makeini(INI.format(keys=f"simloop_{key} = {text}"))
        result = pytester.runpytest("-p", "no:cacheprovider")
        valid = text == "" or models[key](text)
        contract.count(f"simloop_{key} (ini)", outcome(result, valid, f"simloop_{key} = {text!r}"))

    check()


#: Marker values as Python source, with what each is.
MARKER_VALUES: dict[str, Any] = {
    "0": 0,
    "1": 1,
    "2": 2,
    "-1": -1,
    "10**30": 10**30,
    "True": True,
    "False": False,
    "None": None,
    "0.5": 0.5,
    "float('inf')": math.inf,
    "float('nan')": math.nan,
    "'3'": "3",
    "''": "",
    "'pct:2'": "pct:2",
    "'fifo'": "fifo",
    "'nope'": "nope",
    "[1]": [1],
    "object()": object(),
    "__import__('simloop').PCT": simloop.PCT,
    "__import__('simloop').PCT(2)": simloop.PCT(2),
    "__import__('simloop').Fifo()": simloop.Fifo(),
    "__import__('decimal').Decimal('NaN')": None,  # modelled below
}


def _marker_model(key: str, source: str) -> bool:
    value = MARKER_VALUES[source]
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if source.startswith("__import__('decimal')"):
        return False
    # None, as if the marker did not give the argument: the option, ini key or default.
    if key == "runs":
        return value is None or (is_int and value >= 1)
    if key == "shards":
        return value is None or (is_int and 1 <= value <= 1000)
    if key == "seed":
        return value is None or is_int
    if key in ("search", "scheduler"):
        if isinstance(value, str):
            return _SEARCH.fullmatch(value.strip().lower()) is not None
        return value is None or isinstance(value, simloop.Search)
    if key == "shrink":
        return isinstance(value, bool)
    try:
        lowlevel.LoopOptions.build(**{key: value})
    except simloop.InvalidArgumentError:
        return False
    return True


def test_marker_arguments(pytester: pytest.Pytester, contract: Contract) -> None:
    pytester.makeini(INI.format(keys=""))
    keys = sorted({"runs", "seed", "search", "shrink", "shards", "scheduler"} | set(OPTIONS))

    @fuzz(40)
    @given(key=st.sampled_from(keys), source=st.sampled_from(sorted(MARKER_VALUES)))
    def check(key: str, source: str) -> None:
        # With one schedule to run (fifo), a huge number of runs ends at once.
        marker = f"{key}={source}, search='fifo'" if key == "runs" else f"runs=2, {key}={source}"
        pytester.makepyfile(test_it=TEST.format(marker=marker))
        args = ["-p", "no:cacheprovider"]
        if key == "scheduler":
            args += ["-W", "ignore::DeprecationWarning"]  # the old name of search
        result = pytester.runpytest(*args)
        valid = _marker_model(key, source)
        contract.count(f"mark.simloop({key}=)", outcome(result, valid, marker))

    check()
