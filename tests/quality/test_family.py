"""The synthetic bug family (``bench/family.py``): PCT meets its bound, the Portfolio finds all.

Each member is a starvation bug of known depth ``d`` (see the module); ``python
bench/family.py`` measures every search at length, and these tests pin its two targets: a
``PCT(d)`` run hits a depth-``d`` member with probability at least ``1 / (n * k ** (d - 1))``
(measured over 400 runs), and the default Portfolio finds every member within 1,000 runs.
"""

from __future__ import annotations

import pytest

import simloop
from bench import family
from bench.family import FAMILY, Member

each_member = pytest.mark.parametrize("member", FAMILY, ids=[m.name for m in FAMILY])


def test_the_family_spans_depths_tasks_and_starvation() -> None:
    assert {m.depth for m in FAMILY} == {1, 2, 3}
    assert {m.tasks for m in FAMILY} >= {3, 4, 5, 6}
    assert max(m.k for m in FAMILY) >= 20


@each_member
def test_a_member_passes_in_asyncios_order_and_below_its_depth(member: Member) -> None:
    simloop.run(member.program()())  # Fifo: the tasks take turns
    if member.depth > 1:
        # One priority order and no change point (PCT(1)) cannot starve the victim after
        # it has won picks: the bug needs its depth.
        m = family.measure(member, simloop.PCT(1), 200)
        assert m.hits == 0


@each_member
def test_pct_meets_its_bound(member: Member) -> None:
    m = family.measure(member, simloop.PCT(member.depth), 400)
    bound = family.pct_bound(member, m)
    assert m.rate >= bound, (m.rate, bound)


@each_member
def test_the_portfolio_finds_every_member(member: Member) -> None:
    result = simloop.explore(member.program(), runs=1000, shrink=False)
    assert result.found, member.name
    assert result.failure is not None
    assert isinstance(result.failure.exception, family.Starved)


def test_the_saga_is_beyond_random_walks() -> None:
    """The issue's saga: twenty lost picks after the first step. Random walks miss it in
    1,000 runs; PCT(1) finds it within a few, and so the Portfolio."""
    saga = next(m for m in FAMILY if m.k == 20)
    assert not simloop.explore(saga.program(), runs=1000, search="random", shrink=False).found
    assert simloop.explore(saga.program(), runs=10, search="pct:1", shrink=False).found


def test_the_measurement_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert family.main(["--runs", "100"]) in (0, 1)
    out = capsys.readouterr().out
    assert "9 members, 100 runs per search" in out
    assert "PCT(d) meets 1/(n*k^(d-1)) on every member" in out
