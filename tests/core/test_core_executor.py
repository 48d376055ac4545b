"""run_in_executor and asyncio.to_thread: run without threads, in virtual time."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import time

import pytest

import simloop

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


def inspect_worker(x: int) -> dict[str, object]:
    try:
        asyncio.get_running_loop()
        running_loop = True
    except RuntimeError:
        running_loop = False
    return {
        "x": x,
        "threads": threading.active_count(),
        "thread": threading.get_ident(),
        "running_loop": running_loop,
        "request_id": request_id.get(),
    }


def test_to_thread_runs_without_a_thread() -> None:
    async def main() -> tuple[int, dict[str, object]]:
        request_id.set("r-1")
        return threading.active_count(), await asyncio.to_thread(inspect_worker, 7)

    before = threading.active_count()
    threads_in_run, seen = simloop.run(main())
    assert threads_in_run == before
    assert seen == {
        "x": 7,
        "threads": before,
        "thread": threading.get_ident(),  # the loop's own thread
        "running_loop": False,
        "request_id": "r-1",  # to_thread passes the caller's context along
    }
    assert threading.active_count() == before


def test_run_in_executor_runs_without_a_thread_and_without_the_context() -> None:
    async def main() -> dict[str, object]:
        request_id.set("r-2")
        return await asyncio.get_running_loop().run_in_executor(None, inspect_worker, 3)

    before = threading.active_count()
    seen = simloop.run(main())
    assert seen["threads"] == before
    assert seen["running_loop"] is False
    assert seen["request_id"] == "none"  # like a worker thread: a fresh context


def test_an_explicit_executor_is_not_used() -> None:
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:

        async def main() -> int:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(executor, threading.active_count)

        before = threading.active_count()
        assert simloop.run(main()) == before  # no worker was started
    finally:
        executor.shutdown()


def test_exceptions_are_delivered_to_the_awaiting_task() -> None:
    def broken() -> None:
        raise LookupError("from the worker")

    async def main() -> str:
        with pytest.raises(LookupError, match="from the worker"):
            await asyncio.to_thread(broken)
        return "caught"

    assert simloop.run(main()) == "caught"


def test_stop_iteration_is_wrapped_as_a_worker_thread_would() -> None:
    def stops() -> None:
        raise StopIteration

    async def main() -> BaseException:
        try:
            await asyncio.get_running_loop().run_in_executor(None, stops)
        except BaseException as exc:
            return exc
        raise AssertionError("no exception")

    err = simloop.run(main())
    assert type(err) is RuntimeError
    assert str(err) == "executor function raised StopIteration()"
    assert isinstance(err.__cause__, StopIteration)


def test_time_sleep_in_the_function_delays_the_result_without_a_warning() -> None:
    def slow() -> float:
        start = time.monotonic()
        time.sleep(5)  # no BlockingCallWarning: it is what a worker thread is for
        return time.monotonic() - start

    async def ticker(log: list[float]) -> None:
        for _ in range(3):
            await asyncio.sleep(1)
            log.append(asyncio.get_running_loop().time())

    async def main() -> tuple[float, float, list[float]]:
        log: list[float] = []
        tick = asyncio.create_task(ticker(log))
        elapsed_inside = await asyncio.to_thread(slow)
        await tick
        return elapsed_inside, asyncio.get_running_loop().time(), log

    elapsed_inside, finished_at, ticks = simloop.run(main())
    assert elapsed_inside == 5.0  # the worker sees its own sleep pass
    assert finished_at == 5.0  # the result arrived 5 virtual seconds later
    assert ticks == [1.0, 2.0, 3.0]  # and the loop kept running meanwhile


def test_cancelled_before_it_runs_means_it_never_runs() -> None:
    ran: list[str] = []

    async def main() -> bool:
        future = asyncio.get_running_loop().run_in_executor(None, ran.append, "ran")
        future.cancel()
        await asyncio.sleep(1)
        return future.cancelled()

    assert simloop.run(main()) is True
    assert ran == []


def test_cancelled_to_thread_task_never_runs_the_function() -> None:
    ran: list[str] = []

    async def main() -> bool:
        task = asyncio.create_task(asyncio.to_thread(ran.append, "ran"))
        await asyncio.sleep(0)  # the task has asked for the job; the job has not run
        task.cancel()
        await asyncio.sleep(1)
        return task.cancelled()

    assert simloop.run(main()) is True
    assert ran == []


def test_executor_jobs_interleave_under_random_walk() -> None:
    def job(name: str, log: list[str]) -> None:
        log.append(name)

    async def main() -> list[str]:
        log: list[str] = []
        await asyncio.gather(*(asyncio.to_thread(job, str(i), log) for i in range(4)))
        return log

    assert simloop.run(main()) == ["0", "1", "2", "3"]  # Fifo: submission order
    orders = {tuple(simloop.run(main(), seed=seed)) for seed in range(20)}
    assert len(orders) > 1  # the order jobs run in is a choice point
    assert all(sorted(order) == ["0", "1", "2", "3"] for order in orders)


# --- anyio's worker threads ---------------------------------------------------------------------


def test_anyio_worker_threads_run_as_executor_jobs_in_virtual_time() -> None:
    import anyio
    import anyio.to_thread

    def work(seconds: float) -> int:
        time.sleep(seconds)  # takes virtual time, as in asyncio.to_thread
        return threading.get_ident()

    async def main() -> tuple[list[int], float, float]:
        loop = asyncio.get_running_loop()
        idents: list[int] = []

        async def job(limiter: anyio.CapacityLimiter | None) -> None:
            idents.append(await anyio.to_thread.run_sync(work, 1.0, limiter=limiter))

        async with anyio.create_task_group() as group:
            for _ in range(2):
                group.start_soon(job, None)
        together = loop.time()
        one_at_a_time = anyio.CapacityLimiter(1)
        async with anyio.create_task_group() as group:
            for _ in range(2):
                group.start_soon(job, one_at_a_time)
        return idents, together, loop.time() - together

    idents, together, serialized = simloop.run(main())
    assert idents == [threading.get_ident()] * 4  # no worker thread: the loop's own
    assert (together, serialized) == (1.0, 2.0)


def test_anyio_from_a_simulated_worker_back_to_the_loop_is_refused_by_anyio() -> None:
    import anyio.from_thread
    import anyio.to_thread

    async def main() -> None:
        await anyio.to_thread.run_sync(anyio.from_thread.run, asyncio.sleep, 0)

    with pytest.raises(RuntimeError, match="worker thread"):
        simloop.run(main())


def test_anyio_keeps_its_real_worker_threads_outside_a_simulation() -> None:
    import anyio
    import anyio._backends._asyncio
    import anyio.to_thread

    original = anyio._backends._asyncio.AsyncIOBackend.__dict__["run_sync_in_worker_thread"]
    simloop.run(asyncio.sleep(0))  # the guards go on and off
    assert anyio._backends._asyncio.AsyncIOBackend.__dict__["run_sync_in_worker_thread"] is original

    async def main() -> int:
        return await anyio.to_thread.run_sync(threading.get_ident)

    assert anyio.run(main) != threading.get_ident()
