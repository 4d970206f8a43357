"""The runner's steps: plan identity, synthesize, ask models (logged, resumable), tidy table.

The runner only plans and executes; :mod:`biasbench.pipeline` sequences these steps with scoring and
reports. Nothing here imports scoring or reports.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

from biasbench.config import RunConfig
from biasbench.core.errors import BiasbenchError, ConfigError
from biasbench.core.hashing import stable_hash
from biasbench.core.messages import AudioPart
from biasbench.core.rundir import Invocation, Manifest, ModelEntry, RunDir, TaskEntry, differing_keys, now_iso
from biasbench.runner.clips import spoken_pairs, synthesize_plan
from biasbench.runner.executor import Budget, ExecutionStats, Job, execute
from biasbench.runner.manifest import git_state, package_versions, platform_info
from biasbench.runner.plan import Plan, PlannedRow
from biasbench.runner.progress import RunProgress
from biasbench.runner.ray_cluster import executor_record
from biasbench.runner.ray_executor import execute_on_ray, runs_on_ray
from biasbench.runner.requests import RowRequests
from biasbench.runner.results import TableSummary, result_row, write_results
from biasbench.runner.store import ResponseLog

NON_OUTPUT_SETTINGS = (
    "name", "description", "output", "cache_dir", "concurrency", "batch_size", "tts_workers", "max_cost_usd", "report", "audit",
    "understanding", "audio_format", "verify_cache", "executor",
)
"""Run settings that never change an answer: a run directory may be resumed with them changed."""


# ----- identity ----------------------------------------------------------------------------------
def task_content_digest(plan: Plan, task_name: str) -> str:
    """Digest of what a task asks: item ids, rendered prompts, rotations, modalities, version and parser version."""
    task = next(t for t in plan.tasks if t.name == task_name)
    asked = sorted(
        {(row.item.id, row.modality, row.rotation, row.spoken_text or "", row.text) for row in plan.rows if row.task == task_name}
    )
    return stable_hash(task.version, task.parser_version, asked)[:16]


def output_identity(config: RunConfig, plan: Plan) -> dict[str, Any]:
    """The output-affecting content of a run (a run directory belongs to one of these)."""
    data = config.model_dump(mode="json")
    identity = {key: value for key, value in data.items() if key not in NON_OUTPUT_SETTINGS and key not in ("tasks", "models")}
    identity["pool_content"] = stable_hash(plan.pool.to_json())[:16]
    identity["tasks"] = {task.name: {"describe": task.describe(), "content": task_content_digest(plan, task.name)} for task in plan.tasks}
    identity["models"] = {
        model["name"]: {
            "adapter": model["adapter"],
            "describe": plan.adapters[model["name"]].describe(),
            "tasks": model.get("tasks"),
            "generation": model.get("generation"),
        }
        for model in data["models"]
    }
    return json.loads(json.dumps(identity, sort_keys=True, default=str))  # as it reads back from manifest.json


def check_same_configuration(run: RunDir, previous: Manifest | None, identity: dict[str, Any]) -> None:
    """Refuse (one line naming the differing keys) to resume a directory made with other output-affecting settings."""
    if previous is None or not previous.output_config:
        return
    changed = differing_keys(previous.output_config, identity)
    if changed:
        shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
        raise ConfigError(
            f"run directory {run.path} was made with a different configuration (changed: {shown})",
            hint="resume with the same settings, or pass --new (or another --out) for a fresh directory",
        )


def close_killed(history: Sequence[Invocation]) -> list[Invocation]:
    """Invocation history with every record still 'running' marked 'interrupted' (its process was killed:
    this start holds the lock, so nobody else is running)."""
    return [
        inv.model_copy(update={"status": "interrupted", "reason": inv.reason or "killed (no end was recorded)"})
        if inv.status == "running"
        else inv
        for inv in history
    ]


def build_manifest(
    config: RunConfig, plan: Plan, run: RunDir, config_path: str | None, previous: Manifest | None, identity: dict[str, Any]
) -> Manifest:
    """The manifest of this invocation (history and tts info are filled in by the caller)."""
    return Manifest(
        run_id=run.run_id,
        created=previous.created if previous is not None and previous.created else now_iso(),
        updated=now_iso(),
        config_path=config_path,
        config=config.model_dump(mode="json"),
        output_config=identity,
        seed=config.seed,
        pool=plan.pool.to_json(),
        voices_used=[voice.id for voice in plan.voices],
        tasks=[
            TaskEntry.model_validate(
                task.describe()
                | {"n_items": len(task.items()), "n_excluded": len(task.exclusions()), "content_digest": _content_digest(identity, plan, task.name)}
            )
            for task in plan.tasks
        ],
        models=[
            ModelEntry(
                name=name,
                adapter=adapter.name,
                fingerprint=adapter.fingerprint(),
                describe=adapter.describe(),
                capabilities={
                    "audio_in": adapter.capabilities.audio_in,
                    "text_in": adapter.capabilities.text_in,
                    "batch": adapter.capabilities.batch,
                    "async": adapter.capabilities.async_,
                    "answer_types": sorted(adapter.capabilities.answer_types),
                    "calibration": adapter.capabilities.calibration,
                    "oracle": adapter.capabilities.oracle,
                },
            )
            for name, adapter in plan.adapters.items()
        ],
        pairings=[{"model": p.model.name, "task": p.task.name, "modalities": list(p.modalities)} for p in plan.pairings],
        skipped=list(plan.skipped),
        planned_rows=len(plan.rows),
        executor=executor_record(config.executor),
        tts=previous.tts if previous is not None else {},
        git=git_state(Path(__file__).resolve().parent),
        packages=package_versions(),
        platform=platform_info(),
        status="running",
    )


def _content_digest(identity: dict[str, Any], plan: Plan, task_name: str) -> str:
    """The task's content digest as the identity already holds it (one pass over the rows, not two)."""
    recorded = identity.get("tasks", {}).get(task_name, {})
    return str(recorded["content"]) if isinstance(recorded, dict) and "content" in recorded else task_content_digest(plan, task_name)


def new_invocation(index: int, planned_rows: int) -> Invocation:
    """The record of this invocation, written before any work starts (so a kill leaves it 'running')."""
    return Invocation(index=index, started=now_iso(), pid=os.getpid(), status="running", rows_total=planned_rows)


def batching_notes(config: RunConfig, plan: Plan) -> list[str]:
    """One line per setting the run asks for but an adapter's own parameter caps (each has one owner)."""
    notes = []
    for name, adapter in plan.adapters.items():
        own_batch = getattr(adapter.config, "batch_size", None)
        if adapter.capabilities.batch and isinstance(own_batch, int) and config.batch_size > own_batch:
            notes.append(
                f"model '{name}': the run's batch_size {config.batch_size} is split into batches of {own_batch} "
                f"(its params.batch_size owns the batch the model sees; set it there)"
            )
        own_limit = getattr(adapter.config, "concurrency_per_key", None)
        if adapter.capabilities.async_ and isinstance(own_limit, int) and config.concurrency > own_limit:
            notes.append(
                f"model '{name}': concurrency {config.concurrency} is capped at {own_limit} requests in flight "
                f"(its params.concurrency_per_key owns the per-server limit; set it there)"
            )
    return notes


# ----- execution ---------------------------------------------------------------------------------
def synthesize(
    config: RunConfig, plan: Plan, run_dir: Path, progress: RunProgress
) -> tuple[dict[tuple[str, str], AudioPart], int, int, dict[str, Any]]:
    """Every clip the plan speaks: (clips, TTS calls, clips from cache, tts info for the manifest)."""
    pairs = spoken_pairs(plan)
    bar = progress.add("synthesis", len(pairs))
    on_ray = config.executor.kind == "ray" and config.executor.synthesis
    result = synthesize_plan(
        config, plan, run_dir, progress=lambda done, total: bar(0, completed=done), pairs=pairs, on_ray=on_ray
    )
    if result is None:
        return {}, 0, 0, {}
    return dict(result.clips), result.backend_calls, result.cached, {"backends": dict(result.backends), "notes": list(result.notes)}


def plan_jobs(
    config: RunConfig, plan: Plan, clips: dict[tuple[str, str], AudioPart]
) -> tuple[dict[str, list[Job]], list[tuple[PlannedRow, str]]]:
    """Requests per model, and every planned row with its response key (in plan order)."""
    jobs_by_model: dict[str, list[Job]] = defaultdict(list)
    keys = []
    requests = RowRequests(config, plan)
    for row in plan.rows:
        clip = clips.get((row.voice.id, row.spoken_text)) if row.voice is not None and row.spoken_text else None
        request, key = requests(row, clip)
        jobs_by_model[row.model].append(Job(key, row, request))
        keys.append((row, key))
    return jobs_by_model, keys


def ask_models(
    config: RunConfig,
    plan: Plan,
    jobs_by_model: dict[str, list[Job]],
    log: ResponseLog,
    invocation: int,
    progress: RunProgress,
    echo: Callable[[str], None],
    stats: ExecutionStats,
) -> BiasbenchError | None:
    """Ask each model for the answers the log lacks. An expected failure (budget, a broken adapter, the
    circuit breaker) stops the asking and is returned, so the caller can still write every finished row."""
    state = log.read()
    if state.dropped_lines:
        echo(f"note: {state.note()}")
    from biasbench.runner.understanding import transcripts_cost_usd

    spent = sum(entry.response.cost_usd for entry in state.answers.values()) + transcripts_cost_usd(log.path.parent)
    budget = Budget(config.max_cost_usd, spent)  # the understanding step's transcripts are spending too
    try:
        for model_name, jobs in jobs_by_model.items():
            pending = pending_jobs(jobs, state.answers)
            if not pending:
                continue
            adapter = plan.adapters[model_name]
            advance = progress.add(f"model {model_name}", len(pending))
            if runs_on_ray(config.executor, adapter):  # local models as Ray actors; API adapters keep the async path below
                params = next(model.params for model in config.models if model.name == model_name)
                execute_on_ray(
                    adapter, model_name, params, pending, log, invocation, batch_size=config.batch_size,
                    executor=config.executor, budget=budget, stats=stats, advance=advance, echo=echo,
                )
                continue
            adapter.load()
            try:
                execute(
                    adapter, pending, log, invocation, batch_size=config.batch_size, concurrency=config.concurrency,
                    budget=budget, stats=stats, advance=advance,
                )
            finally:
                adapter.close()
    except BiasbenchError as exc:
        return exc
    finally:
        log.close()
    return None


def write_tidy_table(plan: Plan, run_dir: Path, keys: list[tuple[PlannedRow, str]], log: ResponseLog, invocation: int) -> TableSummary:
    """One scored row per planned row, from the latest answer (or error) in the log; returns the table's counts."""
    latest = log.read_latest()
    task_of = {task.name: task for task in plan.tasks}
    fingerprints = {name: adapter.fingerprint() for name, adapter in plan.adapters.items()}
    run_id = Path(run_dir).name
    voice_columns: dict[str, tuple[dict[str, str], str]] = {}
    rows = (  # a generator: write_results streams them in record batches
        result_row(
            run_id, row, task_of[row.task], plan.adapters[row.model].name, fingerprints[row.model], key,
            latest.get(key), invocation, plan.pool.axes, voice_columns,
        )
        for row, key in keys
    )
    return write_results(run_dir, rows)


def pending_jobs(jobs: list[Job], answers: dict[str, Any]) -> list[Job]:
    """Jobs without a cached answer, one per distinct key."""
    seen: set[str] = set()
    pending = []
    for job in jobs:
        if job.key in answers or job.key in seen:
            continue
        seen.add(job.key)
        pending.append(job)
    return pending
