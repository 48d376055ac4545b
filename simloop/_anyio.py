"""The one module that knows anyio's internals: its worker threads, simulated.

``asyncio.to_thread()`` and ``loop.run_in_executor()`` run their function as a step of a
SimLoop (see :mod:`simloop._executor`). anyio's ``to_thread.run_sync()`` (asyncer's
``asyncify()``, Starlette's and FastAPI's ``run_in_threadpool``) starts anyio's own worker
threads instead, which a simulation refuses. While simulations run, anyio's asyncio backend
sends the function to the running SimLoop's executor instead, keeping what anyio does around
it: a checkpoint, the capacity limiter, the cancel scope (shielded unless
``abandon_on_cancel``), a copy of the context with no current async library. In any other
thread, or on any other loop, anyio does what it always does.

``anyio.from_thread.run()`` from such a function cannot work (the "worker" is the loop's own
thread, and would wait for itself): anyio refuses it, saying it must run in a worker thread.

Only a version whose ``AsyncIOBackend.run_sync_in_worker_thread`` has the signature this module
knows is changed; another is left alone (its threads stay refused, with an escape error).
"""

from __future__ import annotations

import contextvars
import inspect
import sys
from collections.abc import Callable
from typing import Any

from simloop import _stdlib
from simloop._kernel import Kernel

_BACKEND_MODULE = "anyio._backends._asyncio"
_KNOWN_PARAMETERS = ("cls", "func", "args", "abandon_on_cancel", "limiter")

#: (the backend class, its original classmethod) while the routing is in place.
_routed: tuple[type, Any] | None = None


def route_worker_threads() -> None:
    """Send anyio's worker-thread calls to the running SimLoop (if anyio's asyncio backend is
    imported, in a version this module knows); idempotent."""
    global _routed
    if _routed is not None:
        return
    module = sys.modules.get(_BACKEND_MODULE)
    backend = getattr(module, "AsyncIOBackend", None)
    if backend is None:
        return
    original = backend.__dict__.get("run_sync_in_worker_thread")
    if not isinstance(original, classmethod):
        return
    parameters = tuple(inspect.signature(original.__func__).parameters)
    if parameters != _KNOWN_PARAMETERS:
        return
    cancel_scope = getattr(module, "CancelScope", None)
    if cancel_scope is None:
        return
    set_library: Callable[[Any], Any] | None = getattr(module, "set_current_async_library", None)
    run_original = original.__func__

    async def run_sync_in_worker_thread(
        cls: Any,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        abandon_on_cancel: bool = False,
        limiter: Any = None,
    ) -> Any:
        loop = _stdlib.get_running_loop_or_none()
        if not isinstance(loop, Kernel):
            return await run_original(cls, func, args, abandon_on_cancel, limiter)
        await cls.checkpoint()
        async with limiter or cls.current_default_thread_limiter():
            with cancel_scope(shield=not abandon_on_cancel):
                context = contextvars.copy_context()
                if set_library is not None:
                    context.run(set_library, None)
                return await loop.run_in_executor(None, _call_in_worker, context, func, args)

    run_sync_in_worker_thread.__doc__ = run_original.__doc__
    backend.run_sync_in_worker_thread = classmethod(run_sync_in_worker_thread)
    _routed = (backend, original)


def _call_in_worker(context: contextvars.Context, func: Callable[..., Any], args: Any) -> Any:
    """What anyio's worker thread does with ``func``: a StopIteration it raises reaches the
    caller as the RuntimeError that a coroutine raising it gets (anyio's worker runs the call in
    one), not as the executor's own message."""
    try:
        return context.run(func, *args)
    except StopIteration as exc:
        raise RuntimeError("coroutine raised StopIteration") from exc


def unroute_worker_threads() -> None:
    """Give anyio its worker threads back."""
    global _routed
    if _routed is not None:
        backend, original = _routed
        setattr(backend, "run_sync_in_worker_thread", original)  # noqa: B010 - a class attribute
        _routed = None
