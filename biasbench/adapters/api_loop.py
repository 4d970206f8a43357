"""One background event loop for every API client of the process.

API adapters run their requests here, whatever loop (or thread) the caller uses: the HTTP clients
and the per-key concurrency limits then live on a single loop for the life of the process, so
they can be shared across adapters and closed cleanly (clients bound to a loop that
``asyncio.run`` already closed cannot be).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
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
