"""The ``simloop`` fixture, async fixtures inside the simulation, the marker's loop options,
and tests that never end."""

from __future__ import annotations

import pytest
from plugin_support import failure_lines, replay_token, source


def test_harness_in_a_sync_test(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_harness=source(
            """
            import asyncio
            import time

            import pytest
            import simloop as simloop_package

            def test_drives_the_loop(simloop):
                assert isinstance(simloop.loop, simloop_package.SimLoop)
                assert simloop.loop is simloop.loop
                assert simloop.seed is None  # one schedule, asyncio's order
                assert simloop.time() == 0
                woke = []

                async def sleeper():
                    await asyncio.sleep(5)
                    woke.append(simloop.time())
                    return "rested"

                task = simloop.start(sleeper(), name="sleeper")
                assert task.get_name() == "sleeper" and not task.done()
                simloop.advance(4)
                assert simloop.time() == 4 and woke == []
                simloop.run_until(5)
                assert woke == [5.0] and task.result() == "rested"
                assert simloop.run(asyncio.sleep(2, result="x")) == "x"
                assert simloop.time() == 7
                assert simloop.trace.steps > 0
                with pytest.raises(ValueError, match="time can't go backwards"):
                    simloop.advance(-1)
                with pytest.raises(ValueError, match="virtual time is already 7"):
                    simloop.run_until(1)
                assert repr(simloop) == "<simloop harness seed=None scheduler=Fifo()>"

            def test_patches_time_while_the_loop_runs(simloop):
                async def now():
                    return time.time(), time.monotonic()

                wall, monotonic = simloop.run(now())
                assert wall == 946_684_800.0 and monotonic == 0

            CANCELLED = []

            def test_task_left_running_is_cancelled_at_the_end(simloop):
                async def forever():
                    try:
                        await asyncio.Event().wait()
                    except asyncio.CancelledError:
                        CANCELLED.append(simloop.time())
                        raise

                simloop.start(forever())
                simloop.advance(10)

            def test_it_was():
                assert CANCELLED == [10]
            """
        )
    )
    result = tester.runpytest("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "test_harness.py::test_drives_the_loop: *: 1 schedule, * steps, 7s virtual in *s*",
            "test_harness.py::test_patches_time_while_the_loop_runs: *: 1 schedule, *",
            "test_harness.py::test_task_left_running_is_cancelled_at_the_end: *: 1 schedule, "
            "* steps, "
            "10s virtual in *s*",
            "3 tests explored: 3 schedules, * steps*",
        ]
    )


def test_harness_in_an_async_test(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_harness=source(
            """
            import asyncio

            import pytest

            SEEN = []

            @pytest.mark.simloop(runs=4, search="random", seed=10)
            async def test_explored(simloop):
                assert simloop.loop is asyncio.get_running_loop()
                SEEN.append((simloop.seed, simloop.time(), simloop.loop))
                await asyncio.sleep(3)
                assert simloop.time() == 3
                coro = asyncio.sleep(1)
                with pytest.raises(RuntimeError, match="`await` the coroutine instead"):
                    simloop.run(coro)

            def test_each_schedule_had_a_fresh_loop():
                assert [(seed, time) for seed, time, _ in SEEN] == [
                    (10, 0), (11, 0), (12, 0), (13, 0)
                ]
                assert len({id(loop) for _, _, loop in SEEN}) == 4
                assert all(loop.is_closed() for _, _, loop in SEEN)
            """
        )
    )
    tester.runpytest().assert_outcomes(passed=2)


def test_marked_sync_test_is_explored(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_sync=source(
            """
            import asyncio

            import pytest

            LOOPS = []
            state = {"balance": 0}

            async def deposit(amount):
                balance = state["balance"]
                await asyncio.sleep(0)
                state["balance"] = balance + amount

            @pytest.mark.simloop(runs=6, search="random", seed=3)
            def test_each_schedule_calls_the_test_again(simloop):
                LOOPS.append(simloop.loop)
                assert simloop.seed == 3 + len(LOOPS) - 1
                simloop.run(asyncio.sleep(1))

            def test_fresh_loops():
                assert len(LOOPS) == 6
                assert len({id(loop) for loop in LOOPS}) == 6
                assert all(loop.is_closed() for loop in LOOPS)

            @pytest.mark.simloop(runs=50)
            def test_race(simloop):
                state["balance"] = 0

                async def main():
                    task = asyncio.create_task(deposit(1))
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
                    state["balance"] += 2
                    await task

                simloop.run(main())
                assert state["balance"] == 3, "lost update"
            """
        )
    )
    result = tester.runpytest()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "simloop: failed on schedule * of 50 (*); needs 1 deviation from asyncio's order "
            "(*asyncio's own order passes)",
            "  AssertionError: lost update (test_sync.py:36 in test_race)",
            "  after * steps at *",
            "  replay: pytest 'test_sync.py::test_race' --simloop-replay=sl2-*",
        ]
    )
    token = replay_token(result)
    replayed = tester.runpytest("test_sync.py::test_race", f"--simloop-replay={token}")
    replayed.assert_outcomes(failed=1)
    replayed.stdout.fnmatch_lines(
        ["simloop: failed on schedule 1 (the replayed schedule), with * deviation*"]
    )


# --- async fixtures ---------------------------------------------------------------------------


ASYNC_FIXTURES = """
import asyncio

import pytest

EVENTS = []
OPEN = []


@pytest.fixture
def sync_resource():
    EVENTS.append("sync setup")
    yield "sync"
    EVENTS.append("sync teardown")


@pytest.fixture
async def connection(sync_resource):
    loop = asyncio.get_running_loop()
    assert not OPEN, "the previous schedule's connection leaked"
    await asyncio.sleep(1)  # setup takes virtual time, inside the schedule
    OPEN.append(loop)
    EVENTS.append(f"setup at {loop.time():g}")
    yield (sync_resource, loop)
    await asyncio.sleep(1)
    OPEN.remove(loop)
    EVENTS.append(f"teardown at {loop.time():g}")


@pytest.fixture
async def plain_value(connection):
    return connection[1]


@pytest.mark.simloop(runs=5)
async def test_uses_fixtures(connection, plain_value):
    sync_value, loop = connection
    assert sync_value == "sync"
    assert loop is asyncio.get_running_loop() is plain_value
    assert loop.time() == 1
    await asyncio.sleep(2)


def test_fixtures_ran_once_per_schedule():
    assert EVENTS == [
        "sync setup",
        *["setup at 1", "teardown at 4"] * 5,
        "sync teardown",
    ]
    assert not OPEN
"""


def test_async_fixtures_run_inside_each_schedule(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_fixtures=ASYNC_FIXTURES)
    result = tester.runpytest("-v")
    result.assert_outcomes(passed=2)
    # Setup and teardown are part of each schedule: 4s of virtual time each.
    result.stdout.fnmatch_lines(
        ["test_fixtures.py::test_uses_fixtures: *: 5 schedules, * steps, 20s virtual in *s*"]
    )


def test_async_fixture_failures_fail_the_schedule(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_broken=source(
            """
            import asyncio
            import pytest

            @pytest.fixture
            async def broken_setup():
                await asyncio.sleep(1)
                raise RuntimeError("setup broke")
                yield

            @pytest.fixture
            async def broken_teardown():
                yield
                await asyncio.sleep(2)
                raise RuntimeError("teardown broke")

            @pytest.fixture
            async def yields_twice():
                yield
                yield

            @pytest.mark.simloop(runs=3)
            async def test_setup(broken_setup):
                pass

            @pytest.mark.simloop(runs=3)
            async def test_teardown(broken_teardown):
                pass

            @pytest.mark.simloop(runs=3)
            async def test_yields_twice(yields_twice):
                pass
            """
        )
    )
    result = tester.runpytest()
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "  RuntimeError: setup broke (test_broken.py:7 in broken_setup)",
            "  after * steps at virtual time 1s",
            "  RuntimeError: teardown broke (test_broken.py:14 in broken_teardown)",
            "  after * steps at virtual time 2s",
            "  RuntimeError: async fixture 'yields_twice' yielded more than once*",
        ]
    )


def test_async_fixture_with_a_wider_scope_is_refused(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_scope=source(
            """
            import pytest

            @pytest.fixture(scope="module")
            async def shared():
                return 1

            @pytest.mark.simloop(runs=2)
            async def test_marked(shared):
                pass
            """
        )
    )
    result = tester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # at collection: see test_plugin_dropin
    result.stderr.fnmatch_lines(
        [
            "ERROR: async fixture 'shared' has scope 'module', but simloop runs the async "
            "fixtures of test_scope.py::test_marked inside each schedule, on that schedule's "
            "loop; make it function-scoped (or a sync fixture)"
        ]
    )


# --- the marker's loop options ----------------------------------------------------------------


LOOP_OPTIONS = """
import asyncio
import random
import threading
import time

import pytest

SEEN = {}


def note(key, value):
    SEEN.setdefault(key, []).append(value)


@pytest.mark.simloop(runs=30, timer_jitter=0.5)
async def test_jitter():
    await asyncio.sleep(1)
    note("jitter", asyncio.get_running_loop().time())


@pytest.mark.simloop(runs=30)
async def test_no_jitter():
    await asyncio.sleep(1)
    note("no jitter", asyncio.get_running_loop().time())


async def two_callbacks(key):
    loop = asyncio.get_running_loop()
    order = []
    loop.call_soon(order.append, "a")
    loop.call_soon(order.append, "b")
    await asyncio.sleep(1)
    note(key, "".join(order))


@pytest.mark.simloop(runs=30, shuffle=True)
async def test_shuffle():
    await two_callbacks("shuffle")


@pytest.mark.simloop(runs=30)
async def test_no_shuffle():
    await two_callbacks("no shuffle")


@pytest.mark.simloop(runs=1, start_time=100)
async def test_start_time():
    note("start", (asyncio.get_running_loop().time(), time.time(), time.monotonic()))


@pytest.mark.simloop(runs=1, patch_time=False)
async def test_real_time():
    note("real time", time.time())


@pytest.mark.simloop(runs=2, seed=7, search="random")
async def test_random_a():
    note("random a", random.random())


@pytest.mark.simloop(runs=2, seed=7, search="random")
async def test_random_b():
    note("random b", random.random())


@pytest.mark.simloop(runs=2, seed=7, search="random", patch_random=False)
async def test_random_unpatched():
    note("random unpatched", random.random())


@pytest.mark.simloop(runs=1)
async def test_escape():
    threading.Thread(target=lambda: None).start()


@pytest.mark.simloop(runs=1, forbid_escapes=False)
async def test_escape_allowed():
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()


async def crash():
    raise ValueError("nobody awaits me")


@pytest.mark.simloop(runs=1)
async def test_unhandled():
    asyncio.get_running_loop().create_task(crash())
    await asyncio.sleep(1)


@pytest.mark.simloop(runs=1, fail_on_unhandled=False)
async def test_unhandled_allowed():
    task = asyncio.get_running_loop().create_task(crash())
    await asyncio.sleep(1)
    assert task.done()
    task.exception()  # retrieved: asyncio logs nothing when it is collected


def test_options_took_effect():
    assert set(SEEN["no jitter"]) == {1.0}
    assert all(1 <= t <= 1.5 for t in SEEN["jitter"]) and max(SEEN["jitter"]) > 1
    assert set(SEEN["no shuffle"]) == {"ab"}
    assert "ba" in SEEN["shuffle"]
    assert SEEN["start"] == [(100.0, 946_684_900.0, 100.0)]
    assert SEEN["real time"][0] > 1.6e9
    assert SEEN["random a"] == SEEN["random b"]
    assert SEEN["random a"][0] != SEEN["random a"][1]
    assert SEEN["random unpatched"] != SEEN["random a"]
"""


def test_marker_loop_options(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_options=LOOP_OPTIONS)
    result = tester.runpytest()
    result.assert_outcomes(passed=12, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*- simloop -*",
            "  EscapedSimulationError: threading.Thread.start() was called inside a simulated "
            "run: a real thread runs outside simloop's control*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*- simloop -*",
            "  UnhandledExceptionsError: 1 exception nobody retrieved: ValueError('nobody awaits "
            "me') (from task 'Task-*' (exception never retrieved)).*(test_options.py:* in crash)*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "FAILED test_options.py::test_escape - simloop.EscapedSimulationError: *",
            "FAILED test_options.py::test_unhandled - *nobody awaits me*",
        ]
    )


# --- tests that never end ---------------------------------------------------------------------


DEADLOCK = """
import asyncio

import pytest


async def lock_order(first_name, second_name, locks):
    async with locks[first_name]:
        await asyncio.sleep(0)
        async with locks[second_name]:
            pass


async def scenario():
    locks = {"a": asyncio.Lock(), "b": asyncio.Lock()}
    await asyncio.gather(lock_order("a", "b", locks), lock_order("b", "a", locks))


@pytest.mark.simloop(runs=5)
async def test_deadlock():
    await scenario()


@pytest.mark.simloop(runs=5, track_locks=False)
async def test_deadlock_untracked():
    await scenario()


@pytest.mark.simloop(runs=5)
async def test_waits_forever():
    await asyncio.Event().wait()
"""


def test_deadlock_report(tester: pytest.Pytester) -> None:
    tester.makepyfile(test_hang=DEADLOCK)
    result = tester.runpytest()
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "E * simloop.DeadlockError: deadlock at t=0s: the main task 'test_deadlock' is not "
            "done, but nothing is ready to run and no timer is pending.",
            # In creation order: the main task (named after the test) first.
            "    3 unfinished tasks:",
            "      'test_deadlock' (waiting) at test_hang.py:15 in scenario",
            "        waits in gather() for 'Task-*', 'Task-*'",
            "      'Task-2' (waiting) at test_hang.py:9 in lock_order",
            "          async with locks[[]second_name[]]:",
            "        waits on Lock #2 `locks[[]'b'[]]` (created at test_hang.py:14 in scenario), "
            "held by 'Task-3'",
            "      'Task-3' (waiting) at test_hang.py:9 in lock_order",
            "          async with locks[[]second_name[]]:",
            "        waits on Lock #1 `locks[[]'a'[]]` (created at test_hang.py:14 in scenario), "
            "held by 'Task-2'",
            "    wait-for cycle: 'Task-2' -> 'Task-3' -> 'Task-2'",
            "    simloop: replay this exact run with: "
            "pytest 'test_hang.py::test_deadlock' --simloop-replay=sl2-*",
            "*- simloop -*",
            "simloop: failed on schedule 1 of 5 (*), and it fails in asyncio's own order too: "
            "no interleaving is needed, so this is a plain bug, not a race",
            "  DeadlockError: deadlock at t=0s: *",
            "  after * steps at virtual time 0s",
        ]
    )
    untracked = failure_lines(result, "test_deadlock_untracked")
    text = "\n".join(untracked)
    assert "waits on Lock `locks['b']`" in text
    assert "held by" not in text
    assert "wait-for cycle" not in text
    result.stdout.fnmatch_lines(
        [
            "E * simloop.DeadlockError: deadlock at t=0s: the main task 'test_waits_forever' is "
            "not done, but nothing is ready to run and no timer is pending.",
            "        waits on Event #1 (created at test_hang.py:30 in test_waits_forever), which "
            "nobody sets",
        ]
    )


def test_step_and_time_limits(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        test_limits=source(
            """
            import asyncio
            import pytest

            @pytest.mark.simloop(runs=3, max_steps=300)
            async def test_spins():
                while True:
                    await asyncio.sleep(0)

            @pytest.mark.simloop(runs=3, max_time=60)
            async def test_polls_forever():
                while True:
                    await asyncio.sleep(1)

            @pytest.mark.simloop(max_steps=300)
            def test_sync_spins(simloop):
                async def spin():
                    while True:
                        await asyncio.sleep(3600)
                simloop.run(spin())
            """
        )
    )
    result = tester.runpytest()
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "E * simloop.StepLimitError: step limit reached: 300 steps ran without the run "
            "finishing (virtual time 0s). The last 300 steps ran at virtual time 0s without the "
            "clock moving: tasks keep waking each other (a livelock), or poll with sleep(0) for "
            "something only time can bring; if the program really needs more steps, raise "
            "max_steps.",
            "      'test_spins' (ready) at test_limits.py:7 in test_spins",
            "*- simloop -*",
            "simloop: failed on schedule 1 of 3 (*)*",
            "  StepLimitError: step limit reached: 300 steps ran without the run finishing *",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E * simloop.TimeLimitError: time limit reached: the run would advance virtual time "
            "to 61s, past max_time=60s. Virtual time kept moving (to 60s) without the run "
            "finishing: a task that retries or polls forever looks like this; if the program "
            "really needs more virtual time, raise max_time.",
            "      'test_polls_forever' (sleeping) at test_limits.py:12 in test_polls_forever",
            "        sleeps until t=61s",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E * simloop.StepLimitError: step limit reached: 300 steps ran without the run "
            "finishing (virtual time *s).*",
            "      'Task-*' (ready) at test_limits.py:18 in spin",
        ]
    )
