"""F7: deadlock reports name primitives by the source text that reaches them: in a lock-order
inversion both locks read "Lock `b.lock`", a Semaphore's holders are not named, and a task in
``Queue.join()`` is reported as waiting on "Event `q._finished`"."""

import asyncio
import re

from _support import report, simloop


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


async def semaphore() -> None:
    pool = asyncio.Semaphore(1)

    async def hog() -> None:
        await pool.acquire()  # never released

    async def user() -> None:
        async with pool:
            pass

    await asyncio.gather(hog(), user())


async def queue_join() -> None:
    q: asyncio.Queue[str] = asyncio.Queue()
    await q.put("job")
    await q.join()  # nobody calls task_done()


def deadlock_report(scenario) -> str:
    try:
        simloop.run(scenario())
    except simloop.DeadlockError as exc:
        return str(exc)
    return ""


def check() -> bool:
    lock_names = re.findall(r"waits on (Lock `[^`]*`)", deadlock_report(inversion))
    same_name = len(lock_names) == 2 and lock_names[0] == lock_names[1]
    semaphore_text = deadlock_report(semaphore)
    holder_unnamed = "held by" not in semaphore_text.split("Semaphore", 1)[-1]
    join_text = deadlock_report(queue_join)
    join_as_event = "Event `q._finished`" in join_text
    return report(
        "F7 deadlock report names",
        same_name or holder_unnamed or join_as_event,
        f"two locks named alike: {lock_names if same_name else 'no'}; "
        f"semaphore holder unnamed: {holder_unnamed}; queue join shown as an Event: {join_as_event}",
    )


if __name__ == "__main__":
    check()
