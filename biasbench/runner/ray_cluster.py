"""Joining a Ray cluster for one run (``executor: {kind: ray}``) and sizing its actors.

Ray is imported lazily (``pip install 'biasbench[ray]'``). A process that already joined a cluster (a
notebook, a test) keeps its connection; a run joins the cluster when it first needs it (a clip to make, a
local model to ask), and a connection this module opened is closed when the run ends. An explicit address
that cannot be reached is a one-line error before any work starts, never a traceback.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Iterator, Mapping

from biasbench.config import ExecutorConfig
from biasbench.core.deps import require
from biasbench.core.errors import BiasbenchError, ConfigError

RAY_MIN_VERSION = "2.9"
"""Oldest Ray this executor is written for (``ray.wait`` over actor calls, ``ray.util.get_node_ip_address``)."""

CONNECT_TIMEOUT_S = 5.0
"""How long a TCP probe of an explicit address may take before the address counts as unreachable."""

DEFAULT_CPU_ACTORS = 2
"""Actors per model when the cluster has no GPU and the config does not say."""


class RayUnavailableError(BiasbenchError):
    """Ray could not start, or the configured cluster could not be reached."""


def require_ray() -> ModuleType:
    """The ``ray`` module, or a one-line error naming the extra."""
    return require("ray", "ray", purpose="the Ray executor (executor: {kind: ray})", min_version=RAY_MIN_VERSION)


def ray_connected() -> bool:
    """True when this process has joined a Ray cluster (without importing Ray when it was never imported)."""
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())


class _Session:
    """One run's claim on Ray: joined (or started) on first use, closed by the run when it started it."""

    def __init__(self, config: ExecutorConfig, init: Mapping[str, Any]) -> None:
        self.config, self.init = config, dict(init)
        self.started = False

    def join(self) -> ModuleType:
        ray = require_ray()
        if ray.is_initialized():
            return ray
        where = "start a local Ray instance" if self.config.address is None else f"connect to the Ray cluster at {self.config.address}"
        on_sigterm = signal.getsignal(signal.SIGTERM)
        try:
            quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
            ray.init(**{"address": self.config.address, **quiet, **self.init})
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError ... all mean the same here
            raise RayUnavailableError(f"cannot {where}: {first_line(exc)}", hint=_HINT) from None
        finally:
            _restore_sigterm(on_sigterm)
        self.started = True
        return ray

    def close(self) -> None:
        if self.started:
            sys.modules["ray"].shutdown()


_SESSIONS: list[_Session] = []
"""The sessions of the runs in progress in this process, innermost last."""


@contextmanager
def executor_session(config: ExecutorConfig, **init: Any) -> Iterator[None]:
    """The Ray cluster for the duration of a run; nothing for the local executor. The extra and an explicit
    address are checked at once (a one-line error before any work), but Ray is joined, or started, only when
    the run first needs it (:func:`joined_ray`): a resume with nothing to ask starts nothing. A cluster this
    session started is shut down when it ends. ``init``: further ``ray.init`` arguments when it starts Ray
    (e.g. ``num_cpus`` for a small local instance)."""
    if config.kind != "ray":
        yield
        return
    require_ray()
    _probe(config.address)
    session = _Session(config, init)
    _SESSIONS.append(session)
    try:
        yield
    finally:
        _SESSIONS.remove(session)
        session.close()


def joined_ray() -> ModuleType:
    """The ``ray`` module, joined to the current run's cluster (see :func:`executor_session`)."""
    return _SESSIONS[-1].join() if _SESSIONS else require_ray()


def _restore_sigterm(handler: Any) -> None:
    """Undo ``ray.init``'s SIGTERM handler (a bare exit): a run stopped by SIGTERM (a scheduler's preemption)
    must still end like Ctrl-C, with its invocation recorded and its table written (see cli.runs)."""
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


_HINT = "set executor.address to auto (a cluster started on this node by `ray start --head`), ray://HOST:10001, or null (a local instance)"


def _probe(address: str | None) -> None:
    """Fail fast on an explicit host:port that nothing listens on (Ray itself retries for half a minute)."""
    if address is None or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")  # the config validated the form
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RayUnavailableError(f"cannot reach the Ray cluster at {address}: {reason}", hint=_HINT) from None


def first_line(exc: BaseException) -> str:
    """The first non-blank line of ``exc``'s message (Ray's are many lines long), else its type's name."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@dataclass(frozen=True)
class ActorShape:
    """How many actors a model gets and what each one holds."""

    count: int
    """Actors (each loads its own copy of the model)."""
    num_cpus: float
    """CPUs reserved per actor."""
    num_gpus: float
    """GPUs reserved per actor (0: a CPU actor)."""

    def describe(self) -> str:
        return f"{self.count} actor(s), {self.num_cpus:g} CPU and {self.num_gpus:g} GPU each"


def actor_shape(config: ExecutorConfig, resources: Mapping[str, float]) -> ActorShape:
    """The actors the config asks for on a cluster with ``resources`` (``ray.cluster_resources()``).

    Defaults: one GPU per actor and one actor per GPU when the cluster has GPUs, else
    :data:`DEFAULT_CPU_ACTORS` CPU actors (fewer on a smaller cluster). Asking for more than the cluster
    has is a one-line error: Ray would otherwise wait for resources forever (an autoscaling cluster must
    be scaled up first)."""
    gpus, cpus = float(resources.get("GPU", 0.0)), float(resources.get("CPU", 0.0))
    num_gpus = config.num_gpus if config.num_gpus is not None else (1.0 if gpus >= 1 else 0.0)
    num_cpus = config.num_cpus if config.num_cpus is not None else 1.0
    if config.actors is not None:
        count = config.actors
    elif num_gpus > 0:
        count = int(gpus // num_gpus)
    else:
        count = min(DEFAULT_CPU_ACTORS, int(cpus // num_cpus)) if num_cpus > 0 else DEFAULT_CPU_ACTORS
    count = max(count, 1)
    for what, per, total in (("GPU", num_gpus, gpus), ("CPU", num_cpus, cpus)):
        if count * per > total + 1e-9:
            raise ConfigError(
                f"executor asks for {count} actor(s) with {per:g} {what} each, but the Ray cluster has {total:g} {what}",
                hint="lower executor.actors / executor.num_gpus / executor.num_cpus, or add nodes",
            )
    return ActorShape(count, num_cpus, num_gpus)


def executor_record(config: ExecutorConfig) -> dict[str, Any]:
    """What the manifest says about the executor (informational: not part of the output identity)."""
    record: dict[str, Any] = config.model_dump(mode="json")
    if config.kind == "ray":
        record["api_adapters"] = "local async path (not on Ray)"
        if ray_connected():
            import ray

            resources = ray.cluster_resources()
            record["ray_version"] = ray.__version__
            record["cluster"] = {name: resources[name] for name in ("CPU", "GPU") if name in resources}
            record["nodes"] = sum(1 for node in ray.nodes() if node.get("Alive"))
    return record
