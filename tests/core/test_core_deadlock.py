"""DeadlockError, StepLimitError and TimeLimitError: their exact messages and reports."""

from __future__ import annotations

import asyncio

import pytest
from core_support import fifo_note, line_of, location, short_path

import simloop
from simloop import DeadlockError, StepLimitError, TaskReport, TimeLimitError

MAIN_BLOCKED = (
    "deadlock at t={at}: the main task 'Task-1' is not done, but nothing is ready to run and no "
    "timer is pending."
)


def made_at(func, text: str) -> str:
    """Where a report says a primitive was made: "file.py:12 in Class.method"."""
    code = func.__code__
    return f"{short_path(code.co_filename)}:{line_of(func, text)} in {code.co_qualname}"


def run_failing(main, error, **options):
    with pytest.raises(error) as info:
        simloop.run(main, **options)
    return info.value


# --- the lock-order deadlock ----------------------------------------------------------------


class Bank:
    def __init__(self) -> None:
        self.locks = {"a": asyncio.Lock(), "b": asyncio.Lock()}

    async def transfer(self, first: str, second: str) -> None:
        async with self.locks[first]:
            await asyncio.sleep(0)
            async with self.locks[second]:
                pass


async def two_transfers() -> None:
    bank = Bank()
    await asyncio.gather(bank.transfer("a", "b"), bank.transfer("b", "a"))


def test_lock_order_deadlock_message() -> None:
    err = run_failing(two_transfers(), DeadlockError)
    main_at = location(two_transfers, "await asyncio.gather")
    inner_at = location(Bank.transfer, "async with self.locks[second]")
    made = made_at(Bank.__init__, "asyncio.Lock()")
    lock_a = f"Lock #1 `self.locks['a']` (created at {made})"
    lock_b = f"Lock #2 `self.locks['b']` (created at {made})"
    assert str(err) == (
        MAIN_BLOCKED.format(at="0s") + "\n"
        "3 unfinished tasks:\n"
        f"  'Task-1' (waiting) at {main_at}\n"
        '      await asyncio.gather(bank.transfer("a", "b"), bank.transfer("b", "a"))\n'
        "    waits in gather() for 'Task-2', 'Task-3'\n"
        f"  'Task-2' (waiting) at {inner_at}\n"
        "      async with self.locks[second]:\n"
        f"    waits on {lock_b}, held by 'Task-3'\n"
        f"  'Task-3' (waiting) at {inner_at}\n"
        "      async with self.locks[second]:\n"
        f"    waits on {lock_a}, held by 'Task-2'\n"
        "wait-for cycle: 'Task-2' -> 'Task-3' -> 'Task-2'"
    )
    assert err.cycle == ("Task-2", "Task-3", "Task-2")
    assert err.tasks == (
        TaskReport(
            name="Task-1",
            state="waiting",
            location=main_at,
            source_line='await asyncio.gather(bank.transfer("a", "b"), bank.transfer("b", "a"))',
            waiting_on="waits in gather() for 'Task-2', 'Task-3'",
            waits_for=("Task-2", "Task-3"),
        ),
        TaskReport(
            name="Task-2",
            state="waiting",
            location=inner_at,
            source_line="async with self.locks[second]:",
            waiting_on=f"waits on {lock_b}, held by 'Task-3'",
            waits_for=("Task-3",),
        ),
        TaskReport(
            name="Task-3",
            state="waiting",
            location=inner_at,
            source_line="async with self.locks[second]:",
            waiting_on=f"waits on {lock_a}, held by 'Task-2'",
            waits_for=("Task-2",),
        ),
    )
    # Main step, two first steps, two second steps; nothing ran after that.
    assert err.__notes__ == [fifo_note(5, "0")]


def test_lock_order_deadlock_without_lock_tracking_names_no_holder() -> None:
    """Without tracking, nothing numbers the locks either: they are named by their path."""
    err = run_failing(two_transfers(), DeadlockError, track_locks=False)
    assert [r.waiting_on for r in err.tasks[1:]] == [
        "waits on Lock `self.locks['b']`",
        "waits on Lock `self.locks['a']`",
    ]
    assert err.cycle == ()
    assert "wait-for cycle" not in str(err)


async def lock_twice() -> None:
    lock = asyncio.Lock()
    async with lock:  # noqa: SIM117 - two statements, two lines: the report names the second
        async with lock:
            pass


def test_reacquiring_a_held_lock_is_a_cycle_of_one() -> None:
    err = run_failing(lock_twice(), DeadlockError)
    at = location(lock_twice, "        async with lock:")
    assert str(err) == (
        MAIN_BLOCKED.format(at="0s") + "\n"
        "1 unfinished task:\n"
        f"  'Task-1' (waiting) at {at}\n"
        "      async with lock:\n"
        f"    waits on Lock #1 `lock` (created at {made_at(lock_twice, 'asyncio.Lock()')}), "
        "which it already holds\n"
        "wait-for cycle: 'Task-1' -> 'Task-1'"
    )
    assert err.cycle == ("Task-1", "Task-1")


class Table:
    """Rows read under a lock, through an async generator: a nested read waits on the lock
    the outer read holds."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()

    async def rows(self):  # type: ignore[no-untyped-def]
        async with self.lock:
            yield 1

    async def join_with_itself(self) -> None:
        async for _ in self.rows():
            async for _ in self.rows():
                pass


async def nested_reads() -> None:
    await asyncio.create_task(Table().join_with_itself(), name="reader")


def test_a_deadlock_inside_an_async_generator_names_the_lock_and_its_line() -> None:
    """The report follows ``async for`` into the generator (which the awaitable it waits on
    does not expose), down to the lock and the generator's line."""
    err = run_failing(nested_reads(), DeadlockError)
    at = location(Table.rows, "        async with self.lock:")
    assert f"  'reader' (waiting) at {at}\n      async with self.lock:\n" in str(err)
    made = made_at(Table.__init__, "asyncio.Lock()")
    assert f"    waits on Lock #1 `self.lock` (created at {made}), which it already holds\n" in str(
        err
    )
    assert err.cycle == ("reader", "reader")


# --- one task stuck on one primitive ------------------------------------------------------------


async def wait_event() -> None:
    event = asyncio.Event()
    await event.wait()


async def get_from_empty_queue() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    await queue.get()


async def wait_condition() -> None:
    condition = asyncio.Condition()
    async with condition:
        await condition.wait()


async def await_future() -> None:
    future = asyncio.get_running_loop().create_future()
    await future


async def acquire_semaphore() -> None:
    semaphore = asyncio.Semaphore(0)
    await semaphore.acquire()


def made(main, text: str) -> str:
    return f"created at {made_at(main, text)}"


@pytest.mark.parametrize(
    ("main", "line", "waiting_on"),
    [
        (
            wait_event,
            "await event.wait()",
            "waits on Event #1 `event` ({}), which nobody sets",
        ),
        (
            get_from_empty_queue,
            "await queue.get()",
            # Queue.__init__ makes an Event (#1, for join()) before it is numbered itself.
            "waits on get() from Queue #2 `queue` ({}), which stays empty",
        ),
        (
            wait_condition,
            "await condition.wait()",
            # The Condition's own Lock is #1.
            "waits on Condition #2 `condition` ({}), which nobody notifies",
        ),
        (await_future, "await future", "waits on a Future that nothing completes"),
        (
            acquire_semaphore,
            "await semaphore.acquire()",
            "waits on Semaphore #1 `semaphore` ({}; value 0)",
        ),
    ],
)
def test_single_task_deadlock_message(main, line, waiting_on) -> None:
    made_by = {
        wait_event: "asyncio.Event()",
        get_from_empty_queue: "asyncio.Queue()",
        wait_condition: "asyncio.Condition()",
        acquire_semaphore: "asyncio.Semaphore(0)",
    }
    if main in made_by:
        waiting_on = waiting_on.format(made(main, made_by[main]))
    err = run_failing(main(), DeadlockError)
    assert str(err) == (
        MAIN_BLOCKED.format(at="0s") + "\n"
        "1 unfinished task:\n"
        f"  'Task-1' (waiting) at {location(main, line)}\n"
        f"      {line}\n"
        f"    {waiting_on}"
    )
    assert err.cycle == ()
    assert [r.waiting_on for r in err.tasks] == [waiting_on]


async def event_later() -> None:
    await asyncio.sleep(2.5)
    event = asyncio.Event()
    await event.wait()


def test_deadlock_reports_the_virtual_time() -> None:
    err = run_failing(event_later(), DeadlockError)
    assert str(err).startswith(MAIN_BLOCKED.format(at="2.5s") + "\n1 unfinished task:\n")
    assert err.__notes__ == [fifo_note(3, "2.5")]


async def waits_for_named_child() -> None:
    async def child() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(child(), name="child")
    await task


def test_deadlock_on_an_awaited_task_names_it() -> None:
    err = run_failing(waits_for_named_child(), DeadlockError)
    assert [(r.name, r.waiting_on, r.waits_for) for r in err.tasks] == [
        ("Task-1", "waits for task 'child'", ("child",)),
        (
            "child",
            "waits on Event #1 (created at "
            f"{short_path(__file__)}:{line_of(waits_for_named_child, 'asyncio.Event().wait()')} "
            "in waits_for_named_child.<locals>.child), which nobody sets",
            (),
        ),
    ]


def test_run_forever_with_nothing_to_do() -> None:
    loop = simloop.SimLoop()
    try:
        with pytest.raises(DeadlockError) as info:
            loop.run_forever()
    finally:
        loop.close()
    assert str(info.value) == (
        "deadlock at t=0s: the loop is running, but nothing is ready to run, no timer is "
        "pending, and so nothing can ever call stop()."
    )
    assert info.value.tasks == ()
    assert info.value.cycle == ()


def test_deadlock_error_is_a_simulation_error() -> None:
    err = run_failing(wait_event(), DeadlockError)
    assert isinstance(err, simloop.SimulationError)
    assert not isinstance(err, (StepLimitError, TimeLimitError))


# --- limits -----------------------------------------------------------------------------------


async def spin() -> None:
    while True:
        await asyncio.sleep(0)


def test_livelock_hits_the_step_limit() -> None:
    err = run_failing(spin(), StepLimitError, max_steps=100)
    assert str(err) == (
        "step limit reached: 100 steps ran without the run finishing (virtual time 0s). The "
        "last 100 steps ran at virtual time 0s without the clock moving: tasks keep waking each "
        "other (a livelock), or poll with sleep(0) for something only time can bring; if the "
        "program really needs more steps, raise max_steps.\n"
        "1 unfinished task:\n"
        f"  'Task-1' (ready) at {location(spin, 'await asyncio.sleep(0)')}\n"
        "      await asyncio.sleep(0)\n"
        "    ready to run"
    )
    assert [(r.name, r.state) for r in err.tasks] == [("Task-1", "ready")]
    assert err.__notes__ == [fifo_note(100, "0")]


def test_step_limit_counts_each_run_call_separately() -> None:
    async def steps(n: int) -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    loop = simloop.SimLoop(max_steps=30)
    try:
        loop.run_until_complete(steps(20))
        loop.run_until_complete(steps(20))  # 40 steps in all, but each call is under 30
        assert loop.steps > 30
        with pytest.raises(StepLimitError):
            loop.run_until_complete(steps(40))
    finally:
        loop.close()


async def retry_forever() -> None:
    while True:
        await asyncio.sleep(1)


def test_time_limit_message() -> None:
    err = run_failing(retry_forever(), TimeLimitError, max_time=10)
    assert str(err) == (
        "time limit reached: the run would advance virtual time to 11s, past max_time=10s. "
        "Virtual time kept moving (to 10s) without the run finishing: a task that retries or "
        "polls forever looks like this; if the program really needs more virtual time, raise "
        "max_time.\n"
        "1 unfinished task:\n"
        f"  'Task-1' (sleeping) at {location(retry_forever, 'await asyncio.sleep(1)')}\n"
        "      await asyncio.sleep(1)\n"
        "    sleeps until t=11s"
    )
    # The first step, then a timer callback and a task step per second.
    assert err.__notes__ == [fifo_note(21, "10")]


def test_a_retry_loop_at_the_step_limit_is_not_called_a_livelock() -> None:
    err = run_failing(retry_forever(), StepLimitError, max_steps=200)
    assert "Virtual time kept moving (to 100s) without the run finishing" in str(err)
    assert "livelock" not in str(err)


async def heartbeat_while_waiting() -> None:
    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(1)

    beating = asyncio.create_task(heartbeat(), name="heartbeat")
    ready = asyncio.Event()
    await ready.wait()
    beating.cancel()


@pytest.mark.parametrize(
    ("kind", "limit"), [(StepLimitError, {"max_steps": 200}), (TimeLimitError, {"max_time": 30})]
)
def test_a_main_task_waiting_while_a_heartbeat_ticks_is_told_apart(
    kind: type[Exception], limit: dict[str, int]
) -> None:
    err = run_failing(heartbeat_while_waiting(), kind, **limit)
    made = location(heartbeat_while_waiting, "asyncio.Event()")
    assert (
        f"The main task 'Task-1' waits on Event #1 `ready` (created at {made}), which nobody "
        "sets, while 'heartbeat' keeps running: a background task (a heartbeat, a poller) keeps "
        "the run alive, but nothing will wake the main task;"
    ) in str(err)


def test_a_small_step_limit_asked_for_is_not_called_a_livelock() -> None:
    err = run_failing(spin(), StepLimitError, max_steps=12)
    assert "It stopped at the limit after only 12 steps: too few to tell a livelock" in str(err)


def test_time_limit_counts_from_the_start_of_each_call() -> None:
    loop = simloop.SimLoop(max_time=5, start_time=100)
    try:
        loop.run_until_complete(asyncio.sleep(5))
        loop.run_until_complete(asyncio.sleep(5))
        assert loop.time() == 110
        with pytest.raises(TimeLimitError, match=r"to 116s, past max_time=5s\."):
            loop.run_until_complete(asyncio.sleep(6))
        assert loop.time() == 110  # the clock did not move past the limit
    finally:
        loop.close()


# --- each primitive named uniquely; composites and holders ----------------------------------


class Account:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()


async def transfer(a: Account, b: Account) -> None:
    async with a.lock:
        await asyncio.sleep(0)
        async with b.lock:  # the other transfer takes the locks in the other order
            pass


async def inversion() -> None:
    x, y = Account(), Account()
    await asyncio.gather(transfer(x, y), transfer(y, x))


def test_two_locks_reached_by_the_same_text_are_told_apart() -> None:
    err = run_failing(inversion(), DeadlockError)
    made = made_at(Account.__init__, "asyncio.Lock()")
    assert [r.waiting_on for r in err.tasks[1:]] == [
        f"waits on Lock #2 `b.lock` (created at {made}), held by 'Task-3'",
        f"waits on Lock #1 `b.lock` (created at {made}), held by 'Task-2'",
    ]
    assert err.cycle == ("Task-2", "Task-3", "Task-2")


async def semaphore_kept_by_a_finished_task() -> None:
    pool = asyncio.Semaphore(1)

    async def hog() -> None:
        await pool.acquire()  # never released

    async def user() -> None:
        async with pool:
            pass

    await asyncio.gather(hog(), user())


async def semaphores_held_crosswise() -> None:
    a, b = asyncio.Semaphore(1), asyncio.Semaphore(1)

    async def one(first: asyncio.Semaphore, second: asyncio.Semaphore) -> None:
        async with first:
            await asyncio.sleep(0)
            async with second:
                pass

    await asyncio.gather(one(a, b), one(b, a))


def test_a_semaphore_names_its_holders_and_where_they_took_it() -> None:
    err = run_failing(semaphore_kept_by_a_finished_task(), DeadlockError)
    code = semaphore_kept_by_a_finished_task.__code__
    line = line_of(semaphore_kept_by_a_finished_task, "await pool.acquire()")
    made = made_at(semaphore_kept_by_a_finished_task, "asyncio.Semaphore(1)")
    assert err.tasks[-1].waiting_on == (
        f"waits on Semaphore #1 `pool` (created at {made}; value 0), held by 'Task-2', which "
        f"finished without releasing it (acquired at {short_path(code.co_filename)}:{line} in "
        "semaphore_kept_by_a_finished_task.<locals>.hog)"
    )


def test_semaphores_held_crosswise_are_a_cycle() -> None:
    err = run_failing(semaphores_held_crosswise(), DeadlockError)
    assert err.cycle == ("Task-2", "Task-3", "Task-2")
    assert [r.waits_for for r in err.tasks[1:]] == [("Task-3",), ("Task-2",)]


async def join_a_queue_nobody_works() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    await queue.put("job")
    await queue.join()  # nobody calls task_done()


def test_a_queue_join_is_reported_as_a_join_with_its_unfinished_count() -> None:
    err = run_failing(join_a_queue_nobody_works(), DeadlockError)
    made = made_at(join_a_queue_nobody_works, "asyncio.Queue()")
    assert err.tasks[0].waiting_on == (
        f"waits on join() of Queue #2 `queue` (created at {made}): 1 item not marked task_done()"
    )


async def barrier_short_of_a_party() -> None:
    barrier = asyncio.Barrier(3)
    await asyncio.gather(barrier.wait(), barrier.wait())


def test_a_barrier_is_reported_as_a_barrier_not_its_condition() -> None:
    err = run_failing(barrier_short_of_a_party(), DeadlockError)
    made = made_at(barrier_short_of_a_party, "asyncio.Barrier(3)")
    # The Barrier's Condition and its Lock are made first. The tasks run barrier.wait()
    # itself, so no frame of the user's code names it: its number and origin do.
    assert {r.waiting_on for r in err.tasks[1:]} == {
        f"waits on Barrier #3 (created at {made}; 2 of 3 arrived)"
    }
