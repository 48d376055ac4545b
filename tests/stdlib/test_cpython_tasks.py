"""CPython's ``test.test_asyncio.test_tasks`` on SimLoop:
tasks, ``ensure_future``, ``gather``, ``wait``, ``as_completed``, ``shield``, ``sleep``,
``current_task``/``all_tasks``.

See conftest.py for how the loops are made, docs/conformance.md for the exclusions."""

from __future__ import annotations

from cpython_support import check_wiring
from test.test_asyncio import test_tasks as cpython
from test.test_asyncio.test_tasks import (
    CCurrentLoopTests,
    CIntrospectionTests,
    CompatibilityTests,
    CoroutineGatherTests,
    CTask_CFuture_SubclassTests,
    CTask_CFuture_Tests,
    CTask_Future_Tests,
    CTask_PyFuture_Tests,
    CTaskSubclass_PyFuture_Tests,
    FutureGatherTests,
    GenericTaskTests,
    PyCurrentLoopTests,
    PyIntrospectionTests,
    PyTask_CFuture_Tests,
    PyTask_CFutureSubclass_Tests,
    PyTask_PyFuture_SubclassTests,
    PyTask_PyFuture_Tests,
    RunCoroutineThreadsafeTests,
    SleepTests,
)

__all__ = [
    "CCurrentLoopTests",
    "CIntrospectionTests",
    "CTaskSubclass_PyFuture_Tests",
    "CTask_CFuture_SubclassTests",
    "CTask_CFuture_Tests",
    "CTask_Future_Tests",
    "CTask_PyFuture_Tests",
    "CompatibilityTests",
    "CoroutineGatherTests",
    "FutureGatherTests",
    "GenericTaskTests",
    "PyCurrentLoopTests",
    "PyIntrospectionTests",
    "PyTask_CFutureSubclass_Tests",
    "PyTask_CFuture_Tests",
    "PyTask_PyFuture_SubclassTests",
    "PyTask_PyFuture_Tests",
    "RunCoroutineThreadsafeTests",
    "SleepTests",
]

_DEL_COLLECT = (
    "runtime only: a hundred full garbage collections (about 1.4 s per variant, a third of the "
    "suite's time); what it tests is task deallocation, not the loop, and two variants run"
)

#: Excluded tests: ``Class::test`` patterns (fnmatch), each with its reason.
EXCLUDED: dict[str, str] = {
    "RunCoroutineThreadsafeTests::*": (
        "an executor function blocks on run_coroutine_threadsafe()'s concurrent future, which "
        "only the loop can complete: it needs a real worker thread, and simloop runs executor "
        "jobs in the loop's own thread (so this would wait forever)"
    ),
    # Six of the eight variants: the C-Task/C-Future and Python-Task/Python-Future ones run.
    "*Subclass*::test_task_del_collect": _DEL_COLLECT,
    "CTask_PyFuture_Tests::test_task_del_collect": _DEL_COLLECT,
    "PyTask_CFuture_Tests::test_task_del_collect": _DEL_COLLECT,
    "*::test_stop_while_run_in_complete": (
        "TestLoop's clock is moved by the test's generator when a timer is scheduled, so it "
        "reads 0.3 s when the loop stops though the last timer to fire was due at 0.2 s; "
        "virtual time only jumps to timers that fire, and reads 0.2 s"
    ),
}


def test_wiring() -> None:
    check_wiring(cpython, globals())
