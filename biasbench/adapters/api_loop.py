"""One background event loop for every API client of the process.

API adapters run their requests here, whatever loop (or thread) the caller uses: the HTTP clients
and the per-key concurrency limits then live on a single loop for the life of the process, so
they can be shared across adapters and closed cleanly (clients bound to a loop that
``asyncio.run`` already closed cannot be).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import CancelledError, Future
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")

_LOCK = threading.Lock()
_LOOP: asyncio.AbstractEventLoop | None = None


def api_loop() -> asyncio.AbstractEventLoop:
    """The shared loop, started on first use in a daemon thread."""
    global _LOOP
    with _LOCK:
        if _LOOP is None or _LOOP.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="biasbench-api-loop", daemon=True).start()
            _LOOP = loop
        return _LOOP


def on_api_loop_thread() -> bool:
    """True when called from the shared loop's own thread."""
    loop = _LOOP
    if loop is None or loop.is_closed():
        return False
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def run_sync_on_api_loop(coro: Coroutine[Any, Any, T], *, cleanup_timeout_s: float = 30.0) -> T:
    """Run ``coro`` on the shared loop and wait for it from this (synchronous) thread.

    API adapters then await their HTTP calls directly, with no hop between loops per request. The
    caller's thread may run an event loop of its own (Jupyter): it just waits, as with :func:`run_sync`.
    An exception of ``coro`` is raised here; Ctrl-C (KeyboardInterrupt) while waiting cancels the
    coroutine, waits up to ``cleanup_timeout_s`` for its ``finally`` blocks (e.g. writing buffered
    answers), then propagates. Called from the shared loop's own thread it falls back to
    :func:`run_sync` (waiting on itself would deadlock)."""
    if on_api_loop_thread():
        return run_sync(coro)
    loop = api_loop()
    outcome: "Future[T]" = Future()
    task: list[asyncio.Task] = []

    def deliver(done: "asyncio.Task[T]") -> None:
        if done.cancelled():
            outcome.set_exception(CancelledError())
        elif done.exception() is not None:
            outcome.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            outcome.set_result(done.result())

    def start() -> None:
        task.append(loop.create_task(coro))
        task[0].add_done_callback(deliver)

    loop.call_soon_threadsafe(start)
    try:
        return outcome.result()
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(lambda: task[0].cancel())  # runs after start(): callbacks keep their order
        try:
            outcome.exception(timeout=cleanup_timeout_s)
        except Exception:  # a timeout or the cancellation itself: the interrupt is what the caller must see
            pass
        raise


def submit(coro: Coroutine[Any, Any, T]) -> "Future[T]":
    """Schedule ``coro`` on the shared loop; returns a thread-safe future."""
    return asyncio.run_coroutine_threadsafe(coro, api_loop())


async def run_on_api_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` running on the shared loop from any other event loop."""
    loop = api_loop()
    try:
        if asyncio.get_running_loop() is loop:
            return await coro
    except RuntimeError:
        pass
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, even when this thread already runs an
    event loop (Jupyter, an async caller, Playwright's sync API): then ``asyncio.run`` would refuse,
    so the coroutine gets its own loop in a short-lived thread while the caller waits."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(asyncio.run(coro))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=target, name="biasbench-run-sync", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
