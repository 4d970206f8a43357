"""Local-model adapters as Ray actors (``executor: {kind: ray}``).

Each actor builds the adapter with the factory the local path uses (the adapter class's ``from_params``
on the model's parameters) and loads its own copy of the model. The driver cuts the pending requests into
the batches the local path would ask (sorted by audio length, ``batch_size``), streams them to the actors
(at most :data:`IN_FLIGHT_PER_ACTOR` per actor, so none waits for work) and alone appends each finished
batch to the response log, updating stats, budget, progress and the circuit breaker exactly as
:mod:`biasbench.runner.executor` does. So resume and kill -9 behave as locally: a kill loses at most the
batches in flight.

An actor that dies (out of memory, a lost node) fails the batches it held: their requests are logged as
errors, so the run ends ``incomplete`` (exit 4) and the next invocation asks them again; the surviving
actors take the remaining batches. Nothing is resubmitted within the invocation (a batch that kills its
actor would kill the next one too). API adapters never come here: they keep the local async path.
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from biasbench.adapters.base import Adapter
from biasbench.config import ExecutorConfig
from biasbench.core.errors import AdapterError, BiasbenchError
from biasbench.core.messages import AudioPart, Request
from biasbench.core.response import Response
from biasbench.runner.executor import Budget, ExecutionStats, Job, _check, _cost_bound, failed_batch, log_batch, plan_batches
from biasbench.runner.ray_cluster import ActorShape, actor_shape, first_line, joined_ray
from biasbench.runner.store import ResponseLog

IN_FLIGHT_PER_ACTOR = 2
"""Batches queued on one actor at once: one computing, one waiting, so an actor never idles between batches."""


def runs_on_ray(executor: ExecutorConfig, adapter: Adapter) -> bool:
    """True when ``adapter`` runs as Ray actors: the Ray executor and a local (not async/API) adapter."""
    return executor.kind == "ray" and not adapter.capabilities.async_


class AdapterActor:
    """Runs in a Ray worker: one adapter, loaded once, answering batches. Responses travel as their JSON form
    (the log's own round trip), and expected failures as one line (exceptions may not pickle)."""

    def __init__(self, adapter_class: type[Adapter], params: dict[str, Any], where: str) -> None:
        self.adapter_class, self.params, self.where = adapter_class, params, where
        self.adapter: Adapter | None = None

    def load(self) -> tuple[str, int, tuple[str, int] | None]:
        """(fingerprint, pid, None), or ('', pid, (one-line error, exit code)) when building or loading failed."""
        try:
            self.adapter = self.adapter_class.from_params(self.params, self.where)
            self.adapter.load()
            return self.adapter.fingerprint(), os.getpid(), None
        except BiasbenchError as exc:
            return "", os.getpid(), (exc.one_line(), exc.exit_code)

    def generate(self, requests: list[Request]) -> tuple[list[dict[str, Any]], tuple[str, int] | None]:
        """(responses as JSON, None), or ([], (one-line error, exit code)) for an expected, fatal failure."""
        assert self.adapter is not None, "load() first"
        began = time.perf_counter()
        try:
            responses = self.adapter.generate(requests)
        except BiasbenchError as exc:
            return [], (exc.one_line(), exc.exit_code)
        except Exception as exc:  # an unexpected failure of one batch is logged, not fatal (as locally)
            responses = failed_batch(len(requests), f"{type(exc).__name__}: {exc}", began)
        return [response.to_json() for response in responses], None

    def close(self) -> None:
        if self.adapter is not None:
            self.adapter.close()


class RemoteAdapterError(AdapterError):
    """An adapter failed on a Ray worker; carries the worker's one line and exit code."""

    def __init__(self, line: str, exit_code: int) -> None:
        super().__init__(line)
        self.exit_code = exit_code


@dataclass
class _Flight:
    actor: int
    batch: list[Job]
    bound: float


@dataclass(frozen=True)
class RayWork:
    """What the actors did for one model (the driver's note, and what tests check)."""

    shape: ActorShape
    """Actors and their resources."""
    batches: tuple[int, ...]
    """Batches each actor answered (index = actor)."""
    pids: tuple[int, ...]
    """Each actor's worker process id."""
    died: tuple[int, ...]
    """Actors that died during the run."""

    def note(self, model: str) -> str:
        answered = " + ".join(str(n) for n in self.batches)
        dead = f"; actor(s) {', '.join(map(str, self.died))} died (their batches are logged as failed)" if self.died else ""
        return f"ray: model '{model}' on {self.shape.describe()}: {answered} batches{dead}"


def execute_on_ray(
    adapter: Adapter,
    model_name: str,
    params: dict[str, Any],
    jobs: Sequence[Job],
    log: ResponseLog,
    invocation: int,
    *,
    batch_size: int,
    executor: ExecutorConfig,
    budget: Budget,
    stats: ExecutionStats,
    advance: Callable[[int], None] = lambda n: None,
    echo: Callable[[str], None] = lambda line: None,
) -> RayWork | None:
    """Answer ``jobs`` on Ray actors built from ``params`` (the driver's ``adapter`` is never loaded: it
    checks the actors' fingerprint and names the adapter in errors). Raises like ``executor.execute``,
    after logging everything that finished."""
    if not jobs:
        return None
    ray = joined_ray()  # joined on first use: a run with nothing to ask starts no cluster
    batches = plan_batches(adapter, jobs, batch_size)
    shape = actor_shape(executor, ray.cluster_resources())
    shape = ActorShape(min(shape.count, len(batches)), shape.num_cpus, shape.num_gpus)
    if shape.num_gpus > 0 and getattr(adapter.config, "device_map", "") is None:
        echo(f"note: model '{model_name}': its actors hold GPUs but params.device_map is not set, "
             "so it runs on CPU (set device_map: cuda:0)")
    remote = ray.remote(AdapterActor).options(num_cpus=shape.num_cpus, num_gpus=shape.num_gpus, max_restarts=0, max_task_retries=0)
    where = f"models['{model_name}'].params"
    actors = [remote.remote(type(adapter), dict(params), where) for _ in range(shape.count)]
    try:
        pids = _load(ray, actors, adapter)
        done, died = _stream(ray, actors, adapter, batches, log, invocation, budget, stats, advance, echo)
        work = RayWork(shape, tuple(done[i] for i in range(len(actors))), tuple(pids), tuple(sorted(died)))
        echo(work.note(model_name))
        return work
    finally:
        for actor in actors:
            ray.kill(actor)  # frees the model's memory (GPU) before the next model's actors start


def _load(ray: Any, actors: list[Any], adapter: Adapter) -> list[int]:
    """Load the model on every actor; a failure (or a model that differs from the driver's) is one line."""
    from ray.exceptions import RayError

    try:
        loaded = ray.get([actor.load.remote() for actor in actors])
    except RayError as exc:
        raise AdapterError(f"model adapter '{adapter.name}': a Ray actor could not start: {first_line(exc)}") from None
    expected = adapter.fingerprint()
    for fingerprint, _, failure in loaded:
        if failure is not None:
            raise RemoteAdapterError(*failure)
        if fingerprint != expected:
            raise AdapterError(
                f"model adapter '{adapter.name}' on a Ray worker has fingerprint {fingerprint}, the driver's is {expected}",
                hint="install the same biasbench and model files on every node",
            )
    return [pid for _, pid, _ in loaded]


def _stream(
    ray: Any,
    actors: list[Any],
    adapter: Adapter,
    batches: list[list[Job]],
    log: ResponseLog,
    invocation: int,
    budget: Budget,
    stats: ExecutionStats,
    advance: Callable[[int], None],
    echo: Callable[[str], None],
) -> tuple[Counter[int], set[int]]:
    """Keep every live actor busy until the batches run out or the run must stop; log each finished batch."""
    from ray.exceptions import RayActorError, RayError

    queue = deque(batches)
    flights: dict[Any, _Flight] = {}
    load = [0] * len(actors)
    alive = set(range(len(actors)))
    done: Counter[int] = Counter()
    died: set[int] = set()
    stop: BiasbenchError | None = None
    while True:
        while stop is None and queue:
            free = [i for i in sorted(alive) if load[i] < IN_FLIGHT_PER_ACTOR]
            if not free:
                break
            try:
                _check(adapter, budget, stats)
            except BiasbenchError as exc:
                stop = exc
                break
            bound = _cost_bound(adapter, queue[0]) if budget.limit_usd is not None else 0.0
            if not budget.reserve(stats, bound):
                stop = budget.stop_error(stats)
                break
            batch = queue.popleft()
            actor = min(free, key=lambda i: load[i])
            flights[actors[actor].generate.remote([shipped(job.request) for job in batch])] = _Flight(actor, batch, bound)
            load[actor] += 1
        if not flights:
            break
        (ready,), _ = ray.wait(list(flights), num_returns=1)
        flight = flights.pop(ready)
        load[flight.actor] -= 1
        began = time.perf_counter()
        try:
            payload, failure = ray.get(ready)
        except RayActorError as exc:
            if flight.actor in alive:
                echo(f"note: Ray actor {flight.actor} died ({first_line(exc)}); its batches are logged as failed")
            alive.discard(flight.actor)
            died.add(flight.actor)
            payload, failure = _failed(len(flight.batch), f"Ray actor died: {first_line(exc)}", began), None
        except RayError as exc:  # the call itself failed (e.g. a request that would not deserialize): this batch only
            payload, failure = _failed(len(flight.batch), f"Ray call failed: {first_line(exc)}", began), None
        finally:
            budget.settle(flight.bound)
        if failure is not None:
            stop = stop or RemoteAdapterError(*failure)
            continue
        log_batch(adapter, flight.batch, [Response.from_json(data) for data in payload], log, invocation, stats, advance)
        if flight.actor in alive:
            done[flight.actor] += 1
        if not alive and queue and stop is None:
            stop = AdapterError(
                f"model adapter '{adapter.name}': every Ray actor died; {sum(map(len, queue))} requests were not asked",
                hint="finished rows are kept; run the same command again to retry",
            )
    if stop is not None:
        raise stop
    _check(adapter, budget, stats)
    return done, died


def shipped(request: Request) -> Request:
    """``request`` with every clip path absolute: a worker's current directory need not be the driver's."""
    if all(Path(part.path).is_absolute() for part in request.audio_parts()):
        return request
    messages = tuple(
        replace(message, parts=tuple(
            replace(part, path=str(Path(part.path).resolve())) if isinstance(part, AudioPart) else part for part in message.parts
        ))
        for message in request.messages
    )
    return replace(request, messages=messages)


def _failed(size: int, error: str, began: float) -> list[dict[str, Any]]:
    """:func:`executor.failed_batch` in the form the actors send (JSON)."""
    return [response.to_json() for response in failed_batch(size, error, began)]
