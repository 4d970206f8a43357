"""Ask an adapter for every pending request: in batches (local models) or concurrently (APIs).

Each answer is appended to the response log as it arrives; errors are logged but never cached,
so a later invocation retries them. A cost budget stops the run cleanly.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from biasbench.adapters.api_loop import run_sync
from biasbench.adapters.base import Adapter
from biasbench.core.errors import AdapterError, BiasbenchError, BudgetExceededError
from biasbench.core.messages import Request
from biasbench.core.response import Response
from biasbench.runner.plan import PlannedRow
from biasbench.runner.store import LoggedResponse, ResponseLog

CONSECUTIVE_FAILURE_LIMIT = 25
"""Stop when this many requests in a row fail and none has succeeded (a broken set-up, not bad luck)."""


@dataclass(frozen=True)
class Job:
    """A pending request with the row that needs it."""

    key: str
    """Response key."""
    row: PlannedRow
    """Planned row."""
    request: Request
    """What the adapter receives."""


@dataclass
class ExecutionStats:
    """Counters for one invocation (mutable while running)."""

    model_calls: int = 0
    """Requests sent to adapters."""
    failed: int = 0
    """Requests that came back with an error."""
    cost_usd: float = 0.0
    """Cost spent in this invocation."""
    last_error: str = ""
    """Most recent error message."""
    _consecutive_failures: int = field(default=0, repr=False)
    _any_success: bool = field(default=False, repr=False)

    def record(self, response: Response) -> None:
        self.model_calls += 1
        self.cost_usd += response.cost_usd
        if response.error is not None:
            self.failed += 1
            self.last_error = response.error
            self._consecutive_failures += 1
        else:
            self._any_success = True
            self._consecutive_failures = 0

    def broken(self) -> bool:
        return not self._any_success and self._consecutive_failures >= CONSECUTIVE_FAILURE_LIMIT


@dataclass(frozen=True)
class Budget:
    """Cost ceiling for the whole run (earlier invocations included)."""

    limit_usd: float | None
    """None: no limit."""
    spent_before_usd: float
    """Cost already in the log."""

    def exhausted(self, stats: ExecutionStats) -> bool:
        return self.limit_usd is not None and self.spent_before_usd + stats.cost_usd >= self.limit_usd


def execute(
    adapter: Adapter,
    jobs: Sequence[Job],
    log: ResponseLog,
    invocation: int,
    *,
    batch_size: int,
    concurrency: int,
    budget: Budget,
    stats: ExecutionStats,
    advance: Callable[[int], None] = lambda n: None,
) -> None:
    """Answer ``jobs`` with ``adapter``, logging each answer. Raises BudgetExceededError or
    AdapterError after logging everything that finished."""
    if not jobs:
        return
    if adapter.capabilities.async_:
        run_sync(_execute_async(adapter, jobs, log, invocation, concurrency, budget, stats, advance))  # works inside a running loop too
    else:
        _execute_batches(adapter, jobs, log, invocation, batch_size, budget, stats, advance)


def _entry(job: Job, response: Response, invocation: int) -> LoggedResponse:
    return LoggedResponse(job.key, job.row.identity(), response, invocation)


def _check(adapter: Adapter, budget: Budget, stats: ExecutionStats) -> None:
    if stats.broken():
        raise AdapterError(
            f"model adapter '{adapter.name}' failed {CONSECUTIVE_FAILURE_LIMIT} requests in a row and answered none; "
            f"last error: {stats.last_error}"
        )
    if budget.exhausted(stats):
        raise BudgetExceededError(
            f"cost budget max_cost_usd={budget.limit_usd} reached (spent {budget.spent_before_usd + stats.cost_usd:.4f} USD)",
            hint="finished rows are kept; raise max_cost_usd and run again to continue",
        )


def _audio_seconds(job: Job) -> float:
    return sum(part.duration_s for part in job.request.audio_parts())


def _execute_batches(
    adapter: Adapter,
    jobs: Sequence[Job],
    log: ResponseLog,
    invocation: int,
    batch_size: int,
    budget: Budget,
    stats: ExecutionStats,
    advance: Callable[[int], None],
) -> None:
    size = batch_size if adapter.capabilities.batch else 1
    ordered = sorted(jobs, key=_audio_seconds) if size > 1 else list(jobs)
    for start in range(0, len(ordered), size):
        _check(adapter, budget, stats)
        batch = ordered[start : start + size]
        began = time.perf_counter()
        try:
            responses = adapter.generate([job.request for job in batch])
        except BiasbenchError:
            raise
        except Exception as exc:  # an unexpected failure of one batch is logged, not fatal
            elapsed = (time.perf_counter() - began) / len(batch)
            responses = [Response.failed(f"{type(exc).__name__}: {exc}", elapsed) for _ in batch]
        if len(responses) != len(batch):
            raise AdapterError(f"adapter '{adapter.name}' returned {len(responses)} responses for {len(batch)} requests")
        for response in responses:
            stats.record(response)
        log.append(_entry(job, response, invocation) for job, response in zip(batch, responses))
        advance(len(batch))
    _check(adapter, budget, stats)


async def _execute_async(
    adapter: Adapter,
    jobs: Sequence[Job],
    log: ResponseLog,
    invocation: int,
    concurrency: int,
    budget: Budget,
    stats: ExecutionStats,
    advance: Callable[[int], None],
) -> None:
    queue: asyncio.Queue[Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    stop: list[BaseException] = []

    async def worker() -> None:
        while not stop and not queue.empty():
            job = queue.get_nowait()
            began = time.perf_counter()
            try:
                response = await adapter.agenerate(job.request)
            except BiasbenchError as exc:
                stop.append(exc)
                return
            except Exception as exc:
                response = Response.failed(f"{type(exc).__name__}: {exc}", time.perf_counter() - began)
            stats.record(response)
            log.append([_entry(job, response, invocation)])
            advance(1)
            try:
                _check(adapter, budget, stats)
            except BiasbenchError as exc:
                stop.append(exc)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(jobs)))))
    if stop:
        raise stop[0]
