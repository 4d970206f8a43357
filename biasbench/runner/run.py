"""`biasbench run`: plan → synthesize → ask models (logged, resumable) → tidy table → scores → report."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from biasbench.config import RunConfig
from biasbench.core.errors import BiasbenchError
from biasbench.core.hashing import stable_hash
from biasbench.core.jsonio import read_json_object
from biasbench.core.messages import AudioPart
from biasbench.runner.clips import spoken_pairs, synthesize_plan
from biasbench.runner.executor import Budget, ExecutionStats, Job, execute
from biasbench.runner.lock import RunLock
from biasbench.runner.manifest import git_state, now_iso, package_versions, platform_info, read_manifest, write_manifest
from biasbench.runner.plan import Plan, PlannedRow, load_plan
from biasbench.runner.progress import RunProgress
from biasbench.runner.requests import build_request, generation_params
from biasbench.runner.results import RESULTS_PARQUET, result_row, write_exclusions, write_results
from biasbench.runner.stamps import Stamps
from biasbench.runner.store import ResponseLog


@dataclass(frozen=True)
class InvocationStats:
    """What one invocation of a run did (recorded in manifest['invocations'])."""

    tts_calls: int
    """Clips the TTS backends synthesized (0 when every clip was cached)."""
    clips_cached: int
    """Clips found in the audio cache."""
    model_calls: int
    """Requests sent to model adapters (0 when every answer was in the log)."""
    failed_requests: int
    """Requests that came back with an error (retried on the next invocation)."""
    rows_total: int
    """Planned rows."""
    rows_from_log: int
    """Rows answered by an earlier invocation."""
    rows_unanswered: int
    """Rows without an answer at the end (errors, budget stop)."""
    wall_s: float
    """Seconds this invocation took."""
    status: str
    """'complete', 'incomplete' or 'stopped: <reason>'."""


@dataclass(frozen=True, eq=False)
class RunOutcome:
    """The result of `biasbench run`."""

    run_dir: Path
    """The run directory."""
    stats: InvocationStats
    """This invocation's counters."""
    results: pd.DataFrame = field(repr=False)
    """The tidy table."""
    summary: str = ""
    """Short printable summary."""
    warnings: tuple[str, ...] = ()
    """Things that qualify the numbers."""
    report_path: Path | None = None
    """report.xlsx, when written."""


def run_experiment(
    config: RunConfig,
    run_dir: Path,
    base_dir: Path,
    *,
    config_path: str | None = None,
    show_progress: bool = True,
    echo: Callable[[str], None] = print,
) -> RunOutcome:
    """Run (or resume) ``config`` into ``run_dir``. Expected failures raise BiasbenchError after every
    finished answer is safely in the log and the tables reflect it."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    with RunLock(run_dir):
        plan = load_plan(config, base_dir)
        previous = read_manifest(run_dir) or {}
        invocation = len(previous.get("invocations", []))
        manifest = _base_manifest(config, plan, run_dir, config_path, previous)
        write_manifest(run_dir, manifest)
        write_exclusions(run_dir, {task.name: task.exclusions() for task in plan.tasks})
        for line in plan.skipped:
            echo(f"note: skipped {line}")

        with RunProgress(enabled=show_progress) as progress:
            clips, tts_calls, clips_cached, tts_info = _synthesize(config, plan, run_dir, progress)
            manifest["tts"] = tts_info
            jobs_by_model, keys = _jobs(config, plan, clips)
            log = ResponseLog(run_dir)
            stats, stopped = _ask_models(config, plan, jobs_by_model, log, invocation, progress, echo)

        results = _write_tidy_table(plan, run_dir, keys, log, invocation)
        unanswered = int((results["outcome"] == "error").sum())
        status = f"stopped: {stopped.one_line()}" if stopped else ("complete" if unanswered == 0 else "incomplete")
        warnings = _audit(config, plan, clips, run_dir) if config.audit.enabled else []
        if config.understanding.enabled and clips:
            from biasbench.runner.understanding import collect_understanding

            collect_understanding(config, plan, clips, run_dir, results)
        summary, report_path, scoring_warnings = _score_and_report(config, run_dir)
        invocation_stats = InvocationStats(
            tts_calls=tts_calls,
            clips_cached=clips_cached,
            model_calls=stats.model_calls,
            failed_requests=stats.failed,
            rows_total=len(results),
            rows_from_log=int(results["cached"].sum()),
            rows_unanswered=unanswered,
            wall_s=round(time.perf_counter() - started, 3),
            status=status,
        )
        manifest["invocations"] = previous.get("invocations", []) + [{"finished": now_iso(), **asdict(invocation_stats)}]
        manifest["status"] = status
        manifest["updated"] = now_iso()
        write_manifest(run_dir, manifest)
        if stopped is not None:
            raise stopped
        return RunOutcome(run_dir, invocation_stats, results, summary, tuple(warnings + scoring_warnings), report_path)


def _ask_models(
    config: RunConfig,
    plan: Plan,
    jobs_by_model: dict[str, list[Job]],
    log: ResponseLog,
    invocation: int,
    progress: RunProgress,
    echo: Callable[[str], None],
) -> tuple[ExecutionStats, BiasbenchError | None]:
    """Ask each model for the answers the log lacks. An expected failure (budget, a broken adapter)
    stops the asking and is returned, so the caller can still write every finished row."""
    state = log.read()
    if state.dropped_lines:
        echo(f"note: {state.note()}")
    stats = ExecutionStats()
    budget = Budget(config.max_cost_usd, sum(entry.response.cost_usd for entry in state.answers.values()))
    try:
        for model_name, jobs in jobs_by_model.items():
            pending = _pending(jobs, state.answers)
            if not pending:
                continue
            adapter = plan.adapters[model_name]
            advance = progress.add(f"model {model_name}", len(pending))
            adapter.load()
            try:
                execute(
                    adapter, pending, log, invocation, batch_size=config.batch_size, concurrency=config.concurrency,
                    budget=budget, stats=stats, advance=advance,
                )
            finally:
                adapter.close()
    except BiasbenchError as exc:
        return stats, exc
    finally:
        log.close()
    return stats, None


def _write_tidy_table(plan: Plan, run_dir: Path, keys: list[tuple[PlannedRow, str]], log: ResponseLog, invocation: int) -> pd.DataFrame:
    """One scored row per planned row, from the latest answer (or error) in the log."""
    state = log.read(repair=False)
    task_of = {task.name: task for task in plan.tasks}
    fingerprints = {name: adapter.fingerprint() for name, adapter in plan.adapters.items()}
    rows = [
        result_row(
            run_dir.name, row, task_of[row.task], plan.adapters[row.model].name, fingerprints[row.model], key,
            state.answers.get(key) or state.last_seen.get(key), invocation, plan.pool.axes,
        )
        for row, key in keys
    ]
    return write_results(run_dir, rows)


def _base_manifest(config: RunConfig, plan: Plan, run_dir: Path, config_path: str | None, previous: dict[str, Any]) -> dict[str, Any]:
    return {
        "biasbench_manifest": 1,
        "run_id": run_dir.name,
        "created": previous.get("created", now_iso()),
        "config_path": config_path,
        "config": config.model_dump(mode="json"),
        "seed": config.seed,
        "pool": plan.pool.to_json(),
        "voices_used": [voice.id for voice in plan.voices],
        "tasks": [task.describe() | {"n_items": len(task.items()), "n_excluded": len(task.exclusions())} for task in plan.tasks],
        "models": [
            {
                "name": name,
                "adapter": adapter.name,
                "fingerprint": adapter.fingerprint(),
                "describe": adapter.describe(),
                "capabilities": {
                    "audio_in": adapter.capabilities.audio_in,
                    "text_in": adapter.capabilities.text_in,
                    "batch": adapter.capabilities.batch,
                    "async": adapter.capabilities.async_,
                    "answer_types": sorted(adapter.capabilities.answer_types),
                    "calibration": adapter.capabilities.calibration,
                    "oracle": adapter.capabilities.oracle,
                },
            }
            for name, adapter in plan.adapters.items()
        ],
        "pairings": [
            {"model": p.model.name, "task": p.task.name, "modalities": list(p.modalities)} for p in plan.pairings
        ],
        "skipped": list(plan.skipped),
        "planned_rows": len(plan.rows),
        "git": git_state(Path(__file__).resolve().parent),
        "packages": package_versions(),
        "platform": platform_info(),
        "invocations": previous.get("invocations", []),
    }


def _synthesize(
    config: RunConfig, plan: Plan, run_dir: Path, progress: RunProgress
) -> tuple[dict[tuple[str, str], AudioPart], int, int, dict[str, Any]]:
    bar = progress.add("synthesis", len(spoken_pairs(plan)))
    result = synthesize_plan(config, plan, run_dir, progress=lambda done, total: bar(0, completed=done))
    if result is None:
        return {}, 0, 0, {}
    return dict(result.clips), result.backend_calls, result.cached, {"backends": dict(result.backends), "notes": list(result.notes)}


def _jobs(
    config: RunConfig, plan: Plan, clips: dict[tuple[str, str], AudioPart]
) -> tuple[dict[str, list[Job]], list[tuple[PlannedRow, str]]]:
    """Requests per model, and every planned row with its response key (in plan order)."""
    jobs_by_model: dict[str, list[Job]] = defaultdict(list)
    keys = []
    models = {model.name: model for model in config.models}
    fingerprints = {name: adapter.fingerprint() for name, adapter in plan.adapters.items()}
    params = {name: generation_params(config, model) for name, model in models.items()}
    for row in plan.rows:
        clip = clips.get((row.voice.id, row.spoken_text)) if row.voice is not None and row.spoken_text else None
        oracle = plan.adapters[row.model].capabilities.oracle
        request = build_request(row, clip, params[row.model], config.system_prompt, oracle=oracle)
        key = request.key(fingerprints[row.model])
        jobs_by_model[row.model].append(Job(key, row, request))
        keys.append((row, key))
    return jobs_by_model, keys


def _pending(jobs: list[Job], answers: dict[str, Any]) -> list[Job]:
    """Jobs without a cached answer, one per distinct key."""
    seen: set[str] = set()
    pending = []
    for job in jobs:
        if job.key in answers or job.key in seen:
            continue
        seen.add(job.key)
        pending.append(job)
    return pending


def _audit(config: RunConfig, plan: Plan, clips: dict[tuple[str, str], AudioPart], run_dir: Path) -> list[str]:
    """Voice audit of the run's clips; skipped when the clips and audit settings are unchanged."""
    from biasbench import __version__
    from biasbench.core.params import parse_params
    from biasbench.voices.audit import AuditParams, audit_clips, fixed_sentence_clips

    if parse_params(AuditParams, dict(config.audit.params), "audit.params").texts == "fixed":
        speaking = {voice_id for voice_id, _ in clips}
        clips = fixed_sentence_clips([v for v in plan.voices if v.id in speaking],
                                     Path(config.cache_dir) if config.cache_dir else run_dir,
                                     tts_params=config.tts, workers=config.tts_workers, seed=config.seed)
    out_dir = run_dir / "audit"
    parity = out_dir / "parity.json"
    digest = stable_hash(sorted(part.sha256 for part in clips.values()), config.audit.params, __version__)
    stamps = Stamps(run_dir)
    if stamps.fresh("audit", digest, parity):
        return list((read_json_object(parity) or {}).get("warnings", []))
    summary = audit_clips(clips, plan.pool, out_dir, config.audit.params)
    stamps.mark("audit", digest)
    return list(summary.warnings)


def _content_digest(results_path: Path) -> str:
    """Digest of the answers and outcomes (not of where they came from: the `cached` flag is left out)."""
    frame = pd.read_parquet(results_path).drop(columns=["cached"])
    return stable_hash(pd.util.hash_pandas_object(frame, index=False).sum().item(), list(frame.columns))


def _score_and_report(config: RunConfig, run_dir: Path) -> tuple[str, Path | None, list[str]]:
    """Score and report; each is skipped when its inputs (results, code version, seed) are unchanged."""
    from biasbench import __version__
    from biasbench.scoring.schema import SCORER_VERSION
    from biasbench.scoring.score import SCORES_DIR, format_terminal_summary, score_run

    stamps = Stamps(run_dir)
    digest = stable_hash(_content_digest(run_dir / RESULTS_PARQUET), __version__, SCORER_VERSION, config.seed)
    scores = run_dir / SCORES_DIR
    if stamps.fresh("scores", digest, scores / "summary.parquet", scores / "warnings.parquet"):
        summary_table = pd.read_parquet(scores / "summary.parquet")
        warnings = [str(m) for m in pd.read_parquet(scores / "warnings.parquet")["message"]]
        claims, calibration = (pd.read_parquet(p) if p.is_file() else None
                               for p in (scores / "headline.parquet", scores / "calibration.parquet"))
    else:
        scored = score_run(run_dir)
        stamps.mark("scores", digest)
        summary_table, warnings = scored.tables["summary"], list(scored.warnings)
        claims, calibration = scored.tables["headline"], scored.tables["calibration"]
    report_path = run_dir / "report.xlsx"
    if config.report and not stamps.fresh("report", digest, report_path):
        from biasbench.reports.run_report import write_run_report

        report_path = write_run_report(run_dir).workbook
        stamps.mark("report", digest)
    shown = {"summary": summary_table, **({"headline": claims} if claims is not None else {}),
             **({"calibration": calibration} if calibration is not None else {})}
    return format_terminal_summary(shown), report_path if config.report else None, warnings
