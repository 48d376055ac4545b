"""Helpers for running CPython's asyncio tests (``test.test_asyncio``) on SimLoop.

The tests are imported from the interpreter's own ``test`` package, never copied: each
``test_cpython_*.py`` module here imports the ``TestCase`` classes of one CPython test module
so that pytest collects them, lists the tests it excludes, each with its reason, in
``EXCLUDED`` (``Class::test`` patterns), and the classes it leaves out altogether in
``NOT_WIRED``. ``conftest.py`` makes every loop those tests create a SimLoop.
"""

from __future__ import annotations

import fnmatch
import types
import unittest
from collections.abc import Callable, Generator
from typing import Any

import simloop
from simloop._clock import seconds_to_ns

#: Options of every loop made for CPython's tests: none. A bare SimLoop behaves as asyncio's own
#: loop does (it logs the exceptions nobody retrieved, which CPython's tests check, and warns
#: about nothing), with its determinism guards on.
LOOP_OPTIONS: dict[str, Any] = {}

#: Exclusion reasons used in several modules.
REAL_THREADS = "needs real threads (simloop refuses to start one inside a simulation)"


class GenLoop(simloop.SimLoop):
    """A SimLoop that stands in for CPython's ``test_utils.TestLoop``.

    ``TestLoop`` has a fake clock moved by a generator ``gen`` given to ``new_test_loop(gen)``:
    the loop sends it the deadline (``when``) of every timer scheduled, in scheduling order;
    the generator asserts it and answers how far to move the clock. Here virtual time jumps to
    the next timer by itself, so the answers are ignored, but the generator still checks every
    deadline, and must be finished when the loop closes, as ``TestLoop`` requires.
    """

    def __init__(self, gen: Callable[[], Generator[Any, Any, Any]] | None = None) -> None:
        super().__init__(**LOOP_OPTIONS)
        self._gen = None if gen is None else gen()
        if self._gen is not None:
            next(self._gen)
        self._gen_error: BaseException | None = None

    def _feed(self, handle: Any) -> Any:
        if self._gen is not None and self._gen_error is None:
            try:
                self._gen.send(handle.when())
            except BaseException as exc:
                # TestLoop sends deadlines between iterations, so a failed assertion stops the
                # loop rather than failing the task that scheduled the timer.
                self._gen_error = exc
                self.stop()
        return handle

    def call_at(self, when: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        return self._feed(super().call_at(when, callback, *args, **kwargs))

    def call_later(self, delay: float, callback: Any, *args: Any, **kwargs: Any) -> Any:
        return self._feed(super().call_later(delay, callback, *args, **kwargs))

    def advance_time(self, advance: float) -> None:
        """``TestLoop.advance_time``: a few tests move the clock themselves."""
        if advance:
            self._now_ns += seconds_to_ns(advance, name="advance")

    def run_forever(self) -> None:
        super().run_forever()
        self._raise_gen_error()

    def _raise_gen_error(self) -> None:
        error, self._gen_error = self._gen_error, None
        if error is not None:
            raise AssertionError(f"the test's time generator failed: {error!r}") from error

    def close(self) -> None:
        super().close()
        self._raise_gen_error()
        gen, self._gen = self._gen, None
        if gen is not None:
            try:
                gen.send(0)
            except StopIteration:
                pass
            else:
                raise AssertionError("Time generator is not finished")


def testcase_classes(namespace: dict[str, Any]) -> dict[str, type[unittest.TestCase]]:
    """The ``TestCase`` classes in a module namespace that have tests, by name."""
    loader = unittest.TestLoader()
    return {
        name: value
        for name, value in namespace.items()
        if isinstance(value, type)
        and issubclass(value, unittest.TestCase)
        and loader.getTestCaseNames(value)
    }


def check_wiring(cpython: types.ModuleType, namespace: dict[str, Any]) -> None:
    """Every test class of the CPython module is collected here or listed in ``NOT_WIRED``,
    and every exclusion matches some test.

    A new CPython release may add test classes (they must be wired, or listed with a reason)
    or rename tests (an exclusion that matches nothing is stale).
    """
    theirs = {
        name: cls
        for name, cls in testcase_classes(vars(cpython)).items()
        if cls.__module__ == cpython.__name__
    }
    ours = testcase_classes(namespace)
    not_wired: dict[str, str] = namespace.get("NOT_WIRED", {})
    missing = [
        name
        for name, cls in theirs.items()
        if name not in not_wired and (name not in ours or not issubclass(ours[name], cls))
    ]
    assert not missing, f"test classes of {cpython.__name__} not collected: {missing}"
    unknown = [name for name in not_wired if name not in theirs]
    assert not unknown, f"NOT_WIRED names classes {cpython.__name__} does not have: {unknown}"
    loader = unittest.TestLoader()
    ids = [f"{name}::{test}" for name, cls in ours.items() for test in loader.getTestCaseNames(cls)]
    stale = [pattern for pattern in namespace["EXCLUDED"] if not fnmatch.filter(ids, pattern)]
    assert not stale, f"exclusions that match no test: {stale}"


def exclusion_reason(excluded: dict[str, str], class_name: str, test_name: str) -> str | None:
    """The reason ``Class::test`` is excluded, if a pattern of ``excluded`` matches it."""
    test_id = f"{class_name}::{test_name}"
    for pattern, reason in excluded.items():
        if fnmatch.fnmatchcase(test_id, pattern):
            return reason
    return None
