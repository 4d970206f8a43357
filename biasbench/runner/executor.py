"""Ask an adapter for every pending request: in batches (local models) or concurrently (APIs).

Each batch of a local model is appended to the response log (and fsynced) as it finishes; API answers
are buffered and written in batches with a bounded delay (see :class:`ResponseLog`: a crash loses at
most the answers of the last ``flush_interval_s`` seconds). Errors are logged but never cached,
so a later invocation retries them. A cost budget stops the run cleanly, reserving the cost of the
requests in flight so it is never exceeded; a circuit breaker stops a run whose endpoint keeps failing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

from biasbench.adapters.api_loop import run_sync_on_api_loop
from biasbench.adapters.base import Adapter
from biasbench.adapters.pricing import WORDS_PER_SECOND
from biasbench.core.errors import AdapterError, BiasbenchError, BudgetExceededError
from biasbench.core.messages import Request
from biasbench.core.response import Response
from biasbench.runner.plan import PlannedRow
from biasbench.runner.store import LoggedResponse, ResponseLog

CONSECUTIVE_FAILURE_LIMIT = 25
"""Circuit breaker: stop when this many requests in a row fail (after the adapter's own retries)."""

ERROR_WINDOW = 100
"""Circuit breaker: the last this-many responses are watched ..."""

ERROR_RATE_LIMIT = 0.5
"""... and the run stops when more than this share of them failed."""


@dataclass(frozen=True, slots=True)
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
    answered: int = 0
    """Requests that came back with an answer."""
    _consecutive_failures: int = field(default=0, repr=False)
    _recent: deque = field(default_factory=lambda: deque(maxlen=ERROR_WINDOW), repr=False)

    def record(self, response: Response) -> None:
        self.model_calls += 1
        self.cost_usd += response.cost_usd
        failed = response.error is not None
        self._recent.append(failed)
        if failed:
            self.failed += 1
            self.last_error = response.error or ""
            self._consecutive_failures += 1
        else:
            self.answered += 1
            self._consecutive_failures = 0

    def broken(self) -> str | None:
        """Why the circuit breaker trips now (None: keep going)."""
        if self._consecutive_failures >= CONSECUTIVE_FAILURE_LIMIT:
            return f"{self._consecutive_failures} requests in a row failed"
        if len(self._recent) == ERROR_WINDOW and sum(self._recent) > ERROR_RATE_LIMIT * ERROR_WINDOW:
            return f"{sum(self._recent)} of the last {ERROR_WINDOW} requests failed"
        return None


@dataclass
class Budget:
    """Cost ceiling for the whole run (earlier invocations included). Requests in flight hold a
    reservation of their upper-bound cost, so spent + reserved never passes the limit."""

    limit_usd: float | None
    """None: no limit."""
    spent_before_usd: float
    """Cost already in the log."""
    reserved_usd: float = 0.0
    """Upper-bound cost of the requests in flight."""
    in_flight: int = 0
    """Requests holding a reservation."""

    def exhausted(self, stats: ExecutionStats) -> bool:
        return self.limit_usd is not None and self.spent_before_usd + stats.cost_usd >= self.limit_usd

    def reserve(self, stats: ExecutionStats, usd: float) -> bool:
        """Reserve ``usd`` for a request about to be sent; False when that could pass the limit."""
        if self.limit_usd is not None and self.spent_before_usd + stats.cost_usd + self.reserved_usd + usd > self.limit_usd:
            return False
        self.reserved_usd += usd
        self.in_flight += 1
        return True

    def settle(self, usd: float) -> None:
        """Release a reservation (the request's real cost is in the stats now)."""
        self.reserved_usd = max(0.0, self.reserved_usd - usd)
        self.in_flight -= 1

    def stop_error(self, stats: ExecutionStats) -> BudgetExceededError:
        return BudgetExceededError(
            f"cost budget max_cost_usd={self.limit_usd} reached (spent {self.spent_before_usd + stats.cost_usd:.4f} USD; "
            "the next request could pass it)",
            hint="finished rows are kept; raise max_cost_usd and run again to continue",
        )


FLUSH_POLL_S = 0.05
"""How often the API path checks whether the log's buffer is full (the interval deadline is slept to exactly)."""


class CircuitOpenError(AdapterError):
    """The endpoint kept failing: the run stopped early, finished rows kept."""


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
    adapter.warm_up([job.request for job in jobs])
    if adapter.capabilities.async_:
        # on the shared API loop: the adapter awaits its HTTP calls directly (no hop per request);
        # works when the caller's thread runs a loop too (Jupyter)
        run_sync_on_api_loop(_execute_async(adapter, jobs, log, invocation, concurrency, budget, stats, advance))
    else:
        _execute_batches(adapter, jobs, log, invocation, batch_size, budget, stats, advance)


def _entry(job: Job, response: Response, invocation: int) -> LoggedResponse:
    return LoggedResponse(job.key, job.row.identity(), response, invocation)


def _check(adapter: Adapter, budget: Budget, stats: ExecutionStats) -> None:
    why = stats.broken()
    if why is not None:
        answered = f"after {stats.answered} answers" if stats.answered else "and none was answered"
        raise CircuitOpenError(f"model adapter '{adapter.name}' stopped: {why} {answered}; last error: {stats.last_error}")
    if budget.exhausted(stats):
        raise budget.stop_error(stats)


def _cost_bound(adapter: Adapter, jobs: Sequence[Job]) -> float:
    """Upper-bound cost of ``jobs`` (every answer as long as max_new_tokens allows)."""
    if not jobs:
        return 0.0
    prompts = [(_spoken_for_estimate(job), job.row.text) for job in jobs]
    return float(adapter.estimate_cost_usd(prompts, max(job.request.params.max_new_tokens for job in jobs)))


def _spoken_for_estimate(job: Job) -> str | None:
    """The spoken text, padded so the estimate's clip is at least as long as the real clip (the estimate
    derives clip length from word counts; a slow voice must not slip past the budget)."""
    spoken = job.row.spoken_text if job.row.modality == "audio" else None
    if spoken is None:
        return None
    words = max(len(spoken.split()), math.ceil(_audio_seconds(job) * WORDS_PER_SECOND))
    return " ".join(["w"] * words)


def _audio_seconds(job: Job) -> float:
    return sum(part.duration_s for part in job.request.audio_parts())


def plan_batches(adapter: Adapter, jobs: Sequence[Job], batch_size: int) -> list[list[Job]]:
    """The batches a local model is asked (sorted by audio length when batching); the Ray executor asks the
    same ones, so answers seeded per batch (sampling) do not depend on the executor."""
    size = batch_size if adapter.capabilities.batch else 1
    ordered = sorted(jobs, key=_audio_seconds) if size > 1 else list(jobs)
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


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
    for batch in plan_batches(adapter, jobs, batch_size):
        _check(adapter, budget, stats)
        bound = _cost_bound(adapter, batch) if budget.limit_usd is not None else 0.0
        if not budget.reserve(stats, bound):
            raise budget.stop_error(stats)
        began = time.perf_counter()
        try:
            responses = adapter.generate([job.request for job in batch])
        except BiasbenchError:
            raise
        except Exception as exc:  # an unexpected failure of one batch is logged, not fatal
            responses = failed_batch(len(batch), f"{type(exc).__name__}: {exc}", began)
        finally:
            budget.settle(bound)
        log_batch(adapter, batch, responses, log, invocation, stats, advance)
    _check(adapter, budget, stats)


def failed_batch(size: int, error: str, began: float) -> list[Response]:
    """One failed response per request of a batch that failed as a whole, each with an equal share of the time
    since ``began``."""
    elapsed = (time.perf_counter() - began) / max(size, 1)
    return [Response.failed(error, elapsed) for _ in range(size)]


def log_batch(
    adapter: Adapter, batch: Sequence[Job], responses: Sequence[Response], log: ResponseLog, invocation: int,
    stats: ExecutionStats, advance: Callable[[int], None],
) -> None:
    """Record and log a finished batch's responses (one per job, in order; a mismatch is the adapter's error)."""
    if len(responses) != len(batch):
        raise AdapterError(f"adapter '{adapter.name}' returned {len(responses)} responses for {len(batch)} requests")
    for response in responses:
        stats.record(response)
    log.append(_entry(job, response, invocation) for job, response in zip(batch, responses))
    advance(len(batch))


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

    async def reserve(job: Job) -> float | None:
        """The job's reservation, after waiting for requests in flight when the budget is tight; None: stop."""
        bound = _cost_bound(adapter, [job]) if budget.limit_usd is not None else 0.0
        while not budget.reserve(stats, bound):
            if budget.in_flight == 0 or stop:
                return None
            await asyncio.sleep(0.01)
        return bound

    async def worker() -> None:
        while not stop and not queue.empty():
            job = queue.get_nowait()
            bound = await reserve(job)
            if bound is None:
                if not stop:
                    stop.append(budget.stop_error(stats))
                return
            began = time.perf_counter()
            try:
                response = await adapter.agenerate(job.request)
            except BiasbenchError as exc:
                stop.append(exc)
                return
            except Exception as exc:
                response = Response.failed(f"{type(exc).__name__}: {exc}", time.perf_counter() - began)
            finally:
                budget.settle(bound)
            stats.record(response)
            log.add([_entry(job, response, invocation)])  # buffered: written with its batch (see ResponseLog)
            advance(1)
            try:
                _check(adapter, budget, stats)
            except BiasbenchError as exc:
                stop.append(exc)

    async def flush_when_due() -> None:
        """Write the buffer when it fills (checked every FLUSH_POLL_S) or once its oldest answer has waited
        ``log.flush_interval_s``, even when no new answer arrives (a slow endpoint). The write and fsync
        run in a thread: the loop keeps serving requests meanwhile. Plain sleeps only: cancelling an
        ``asyncio.wait_for`` whose inner wait just completed swallows the cancellation on Python 3.11
        (a run hung here that way); ``finished`` ends the loop even then."""
        while not stop and not finished:
            wait = log.seconds_until_due()
            await asyncio.sleep(min(FLUSH_POLL_S, log.flush_interval_s if wait is None else wait))
            if log.due():
                try:
                    await asyncio.to_thread(log.flush)
                except BiasbenchError as exc:
                    stop.append(exc)

    finished: list[bool] = []
    flusher = asyncio.ensure_future(flush_when_due())
    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(jobs)))]
    try:
        await asyncio.gather(*workers)
    finally:
        finished.append(True)
        for task in (*workers, flusher):  # the shared loop outlives this call: leave nothing running on it
            task.cancel()
        await asyncio.gather(*workers, flusher, return_exceptions=True)
        log.flush()  # at the end, on a stop, on an error and on Ctrl-C (the cancelled coroutine lands here)
    if stop:
        raise stop[0]
