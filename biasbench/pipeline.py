"""`biasbench run`: plan → synthesize → ask → table → score → report, on one locked run directory.

The runner plans and executes; this module sequences it with scoring and reports, keeps the
invocation history and the run's status in the manifest, and decides the exit code:
0 complete, 3 stopped by the cost budget, 4 incomplete (rows missing), 5 failed (no row answered),
130 interrupted; 2 stays bad input (see :data:`biasbench.core.rundir.EXIT_CODES`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from biasbench.config import RunConfig
from biasbench.core.errors import (
    AdapterError,
    BiasbenchError,
    BudgetExceededError,
    ConfigError,
    DataError,
    RunFailedError,
    RunIncompleteError,
    RunInterruptedError,
)
from biasbench.core.hashing import stable_hash
from biasbench.core.jsonio import read_json_object
from biasbench.core.messages import AudioPart
from biasbench.core.rundir import Invocation, Manifest, RunDir, now_iso
from biasbench.runner.executor import CircuitOpenError, ExecutionStats
from biasbench.runner.freshness import (
    file_mark,
    results_content_digest,
    stamp_table,
    table_files_unchanged,
    table_inputs_digest,
)
from biasbench.runner.heap import long_lived_objects
from biasbench.runner.lock import RunLock
from biasbench.runner.plan import Plan, load_plan
from biasbench.runner.progress import ProgressEvent, RunProgress
from biasbench.runner.ray_cluster import executor_record, executor_session
from biasbench.runner.results import TableSummary, write_exclusions
from biasbench.runner.shard import Shard
from biasbench.runner.run import (
    batching_notes,
    build_manifest,
    check_same_configuration,
    close_killed,
    new_invocation,
    output_identity,
    plan_jobs,
    synthesize,
    write_tidy_table,
    ask_models,
)
from biasbench.runner.stamps import Stamps
from biasbench.runner.store import ResponseLog


@dataclass(frozen=True, eq=False)
class RunOutcome:
    """The result of `biasbench run`."""

    run_dir: Path
    """The run directory."""
    stats: Invocation
    """This invocation's record (as written to the manifest)."""
    table: TableSummary | None = field(default=None, repr=False)
    """The counts of the tidy table this invocation wrote; None when it found the table up to date and left
    results.parquet as it was (:attr:`results` reads the rows on demand either way)."""
    summary_text: str | None = None
    """Short printable summary (None: formatted from ``summary_tables`` when first asked, see :attr:`summary`)."""
    warnings: tuple[str, ...] = ()
    """Things that qualify the numbers."""
    report_path: Path | None = None
    """report.xlsx, when written."""
    stop: BiasbenchError | None = None
    """What ended the run short (None when complete); its exit code is the run's."""
    summary_tables: dict[str, pd.DataFrame] | None = field(default=None, repr=False)
    """The score tables behind ``summary`` (summary, headline, calibration; the CLI renders them to the terminal's width)."""
    _frame: pd.DataFrame | None = field(default=None, init=False, repr=False)
    """results.parquet once :attr:`results` has read it."""

    @property
    def summary(self) -> str:
        """Short printable summary of the scores ('' when not scored); formatted on demand, so a resume that
        finds everything up to date does not load the scorer."""
        if self.summary_text is None:
            from biasbench.scoring.score import format_terminal_summary

            text = format_terminal_summary(self.summary_tables) if self.summary_tables is not None else ""
            object.__setattr__(self, "summary_text", text)
        return self.summary_text  # type: ignore[return-value]

    @property
    def results(self) -> pd.DataFrame:
        """The tidy table, read from results.parquet when first asked (a run does not keep its rows in memory)."""
        if self._frame is None:
            object.__setattr__(self, "_frame", pd.read_parquet(RunDir(self.run_dir).results_parquet))
        return self._frame  # type: ignore[return-value]

    @property
    def status(self) -> str:
        return self.stats.status

    @property
    def exit_code(self) -> int:
        return 0 if self.stop is None else self.stop.exit_code


def fresh_run_dir(path: Path) -> Path:
    """``path`` when it holds no run yet, else the first free ``path-2``, ``path-3``, ..."""
    path = Path(path)
    candidate, n = path, 1
    while RunDir(candidate).manifest_path.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def run_experiment(
    config: RunConfig,
    run_dir: Path,
    base_dir: Path,
    *,
    config_path: str | None = None,
    show_progress: bool = True,
    echo: Callable[[str], None] = print,
    new: bool = False,
    shard: Shard | None = None,
    progress_listener: Callable[[ProgressEvent], None] | None = None,
    console: object | None = None,
) -> RunOutcome:
    """Run (or resume) ``config`` into ``run_dir`` (``new``: into a fresh directory beside it).

    The invocation is recorded before any work; an expected stop (budget, breaker, a broken adapter)
    still writes the table of every finished row and is returned in :attr:`RunOutcome.stop`.
    Ctrl-C raises :class:`RunInterruptedError` after recording the invocation and writing the table.
    A ``shard`` run asks only its items (see :mod:`biasbench.runner.shard`) and is neither audited, nor
    scored, nor reported: its rows are a part of a run, scored once merged (`biasbench merge`).
    Progress (bars when ``show_progress``; :class:`ProgressEvent` s for ``progress_listener``) covers every
    stage, with an overall bar that starts at the work earlier invocations finished.
    """
    started = time.perf_counter()
    run = RunDir(fresh_run_dir(run_dir) if new else run_dir)
    if new and run.path != Path(run_dir):
        echo(f"note: starting a fresh run directory {run.path}")
    with RunLock(run.path), executor_session(config.executor), long_lived_objects() as settle:  # executor: a Ray cluster joined for the run
        plan = load_plan(config, base_dir)
        settle()  # the plan lives until the run ends: the collector stops re-scanning it
        previous = run.read_manifest()
        identity = output_identity(config, plan)  # of the full plan: every shard carries the same task digests
        full_plan, positions = plan, None
        if shard is not None:
            from biasbench.runner.shard import shard_plan

            identity["shard"] = shard.to_json()
            plan, positions = shard_plan(plan, shard)
        check_same_configuration(run, previous, identity)
        history = close_killed(previous.invocations if previous is not None else [])
        killed = sum(1 for old, new_ in zip(previous.invocations if previous else [], history) if old.status != new_.status)
        if killed:
            echo(f"note: {killed} earlier invocation(s) were killed; resuming from their logged answers")
        invocation = new_invocation(len(history), len(plan.rows))
        ended = [inv for inv in history if inv.finished and inv.rows_total == len(plan.rows)]
        answered_before = ended[-1].rows_total - ended[-1].rows_unanswered if ended else 0
        # rows answered by the last invocation that wrote a table: what an interrupt before the table keeps
        manifest = build_manifest(config, full_plan, run, config_path, previous, identity)
        if previous is not None and previous.merged_from:  # a merged run resumed: keep where it came from
            manifest.merged_from, manifest.merge_digest = previous.merged_from, previous.merge_digest
        if previous is not None:  # kept until this invocation rewrites the table (or the understanding step runs)
            manifest.results_table = previous.results_table
            if config.understanding.enabled:
                manifest.understanding = previous.understanding
        if shard is not None and positions is not None:
            from biasbench.runner.shard import write_shard_file

            manifest.shard, manifest.planned_rows = shard.to_json(), len(plan.rows)
            write_shard_file(run.path, shard, positions, len(full_plan.rows))
        manifest.invocations = [*history, invocation]
        run.write_manifest(manifest)
        write_exclusions(run.path, {task.name: task.exclusions() for task in plan.tasks})
        for line in plan.skipped:
            echo(f"note: skipped {line}")
        for line in batching_notes(config, plan):
            echo(f"note: {line}")

        def record(results: TableSummary | None, status: str, reason: str, calls: tuple[int, int, int, int]) -> Invocation:
            tts_calls, clips_cached, model_calls, failed = calls
            answered = results.answered if results is not None else answered_before
            from_log = results.cached if results is not None else 0
            if current:  # the table was up to date: every row answered, by earlier invocations
                answered = from_log = len(plan.rows)
            done = invocation.model_copy(
                update={
                    "finished": now_iso(),
                    "status": status,
                    "reason": reason,
                    "tts_calls": tts_calls,
                    "clips_cached": clips_cached,
                    "model_calls": model_calls,
                    "failed_requests": failed,
                    "rows_total": len(plan.rows),
                    "rows_from_log": from_log,
                    "rows_unanswered": len(plan.rows) - answered,
                    "wall_s": round(time.perf_counter() - started, 3),
                }
            )
            manifest.invocations = [*history, done]
            manifest.executor = executor_record(config.executor)  # the cluster, once the run joined one (it joins on first use)
            manifest.status = status
            manifest.missing_reason = reason if status != "complete" else ""
            manifest.updated = now_iso()
            run.write_manifest(manifest)
            return done

        def phase(name: str) -> None:
            """Record the phase reached (so a killed invocation says where it died)."""
            nonlocal invocation
            invocation = invocation.model_copy(update={"phase": name})
            manifest.invocations = [*history, invocation]
            run.write_manifest(manifest)

        stats = ExecutionStats()
        synth = (0, 0)
        keys = None
        log = ResponseLog(run.path)
        results: TableSummary | None = None
        stamp = manifest.results_table
        writer = next((inv for inv in history if stamp is not None and inv.index == stamp.invocation), None)
        maybe_current = (  # a table written by an invocation that ended short of complete is rebuilt (conservative)
            stamp is not None and writer is not None and writer.status == "complete" and stamp.unanswered == 0
            and table_files_unchanged(run, stamp)
        )
        current = False  # True once the table is found up to date (nothing asked, nothing rewritten)
        inputs = ""

        def write_table() -> TableSummary:
            assert keys is not None
            table = write_tidy_table(plan, run.path, keys, log, invocation.index)
            manifest.results_table = stamp_table(
                run, inputs, table, calls=len({key for _, key in keys}), clips=len(clips), invocation=invocation.index
            )
            return table

        try:
            with RunProgress(enabled=show_progress, listener=progress_listener, console=console) as progress:
                overall = show_progress or progress_listener is not None
                if overall and maybe_current and stamp is not None:  # every clip and answer done: no need to count
                    work = stamp.clips + stamp.calls
                    progress.overall(work + post_stage_units(config, plan), work, already={"synthesis": stamp.clips})
                elif overall:
                    _open_overall(progress, config, plan, run.path)
                phase("synthesis")
                clips, tts_calls, clips_cached, tts_info = synthesize(config, plan, run.path, progress)
                synth = (tts_calls, clips_cached)
                manifest.tts = tts_info
                inputs = table_inputs_digest(run, identity, plan, clips)
                current = maybe_current and stamp is not None and stamp.inputs == inputs  # files checked above
                if current:
                    stopped = None
                    status, stop = "complete", None
                else:
                    if overall and maybe_current:  # the plan changed under an intact table: count the work after all
                        _open_overall(progress, config, plan, run.path)
                    jobs_by_model, keys = plan_jobs(config, plan, clips)
                    settle()  # so do the requests and keys
                    phase("model calls")
                    stopped = ask_models(config, plan, jobs_by_model, log, invocation.index, progress, echo, stats)
                    del jobs_by_model  # one request per row: released before the table is built
                    phase("tables")
                    results = write_table()
                    status, stop = _verdict(results, stopped, stats)
                manifest.status, manifest.missing_reason = status, stop.one_line() if stop is not None else ""
                run.write_manifest(manifest)  # the report reads it: an incomplete run says so in summary.md
                warnings = batching_notes(config, plan)
                summary, report_path, summary_tables = None, None, None
                if shard is not None:
                    progress.skip(post_stage_units(config, plan))  # a shard's rows are scored once merged (biasbench merge)
                elif status != "failed":
                    if config.audit.enabled:
                        phase("audit")
                        with progress.stage("audit"):
                            warnings += _audit(config, plan, clips, run)
                    table_digest = _table_digest(run, manifest)
                    if config.understanding.enabled and clips:
                        warnings += _understanding(config, plan, clips, run, manifest, results, inputs, table_digest, phase, progress)
                    summary, report_path, more, summary_tables = _score_and_report(
                        config, run, strict=status == "complete", phase=phase, progress=progress, table_digest=table_digest,
                        summarize=False,
                    )
                    warnings += more
            invocation = invocation.model_copy(update={"phase": "done"})
            done = record(results, status, stop.one_line() if stop is not None else "", (*synth, stats.model_calls, stats.failed))
        except KeyboardInterrupt:
            log.close()
            if keys is not None and results is None:
                results = write_table()
            done = record(results, "interrupted", "interrupted (Ctrl-C or SIGTERM)", (*synth, stats.model_calls, stats.failed))
            raise RunInterruptedError(
                f"{len(plan.rows) - done.rows_unanswered} of {len(plan.rows)} planned rows are answered and kept",
                hint="run the same command again to resume",
            ) from None
        except BiasbenchError as exc:
            record(results, "failed", exc.one_line(), (*synth, stats.model_calls, stats.failed))
            raise
        except Exception as exc:
            record(results, "failed", f"{type(exc).__name__}: {exc}".splitlines()[0], (*synth, stats.model_calls, stats.failed))
            raise
        return RunOutcome(run.path, done, results, summary, tuple(warnings), report_path, stop, summary_tables)


def _table_digest(run: RunDir, manifest: Manifest) -> str:
    """The content digest of results.parquet, computed once per table and kept in its stamp."""
    stamp = manifest.results_table
    digest = results_content_digest(run, stamp)
    if stamp is not None and not stamp.content and file_mark(run.results_parquet) == stamp.parquet:
        manifest.results_table = stamp.model_copy(update={"content": digest})
        run.write_manifest(manifest)
    return digest


def _understanding(
    config: RunConfig, plan: Plan, clips: dict[tuple[str, str], AudioPart], run: RunDir, manifest: Manifest,
    results: TableSummary | None, inputs: str, table_digest: str, phase: Callable[[str], None], progress: RunProgress,
) -> list[str]:
    """understanding.csv, rebuilt only when its inputs changed (the table, the plan, its settings, the audit's
    transcripts, the cached model transcripts) or when a model's transcript is still missing (asked again)."""
    from biasbench.runner.understanding import collect_understanding

    def digest() -> str:
        marks = [file_mark(path).model_dump() for path in (run.voice_audit_csv, run.understanding_transcripts)]
        return stable_hash(table_digest, inputs, config.understanding.model_dump(mode="json"), config.max_cost_usd, marks)

    stamps = Stamps(run.path)
    if manifest.understanding and stamps.fresh("understanding", digest(), run.understanding_csv):
        progress.skip(1)
        return [str(line) for line in manifest.understanding.get("skipped", [])]
    phase("understanding")
    with progress.stage("understanding"):
        table = results.frame() if results is not None else pd.read_parquet(run.results_parquet)
        understood = collect_understanding(config, plan, clips, run.path, table)
    manifest.understanding = understood.manifest_entry()
    run.write_manifest(manifest)
    rows = understood.table
    if not (rows["model"].isin(understood.transcribed) & (rows["source"] != "model")).any():
        stamps.mark("understanding", digest())  # every transcript there: nothing left to ask
    return list(understood.skipped)


def post_stage_units(config: RunConfig, plan: Plan) -> int:
    """Steps after the model calls that the overall bar counts: audit, understanding, scoring, report."""
    from biasbench.runner.clips import speaks

    audio = speaks(plan)
    return int(config.audit.enabled) + int(config.understanding.enabled and audio) + 1 + int(config.report)


def _open_overall(progress: RunProgress, config: RunConfig, plan: Plan, run_dir: Path) -> None:
    """The overall bar: every planned clip, request and later step; earlier invocations' clips and answers done."""
    from biasbench.runner.work import count_work

    work = count_work(config, plan, run_dir)
    progress.overall(work.total + post_stage_units(config, plan), work.finished, already={"synthesis": work.clips_cached})


def _verdict(results: TableSummary, stopped: BiasbenchError | None, stats: ExecutionStats) -> tuple[str, BiasbenchError | None]:
    """The run's status and, when short of complete, the error whose code and line the CLI shows."""
    total = results.rows
    missing = results.unanswered
    answered = total - missing
    if stopped is None and missing == 0:
        return "complete", None
    if isinstance(stopped, BudgetExceededError):
        return "incomplete", BudgetExceededError(f"{missing} of {total} planned rows missing: {stopped.message}", hint=stopped.hint)
    if stopped is not None and not isinstance(stopped, AdapterError):  # a fault of this machine (disk full): its own line and code
        return ("failed" if answered == 0 else "incomplete"), stopped
    if answered == 0:
        if stopped is not None and not isinstance(stopped, CircuitOpenError):
            return "failed", stopped  # the adapter's own error (bad key, nothing listening, unserved model): exit 2
        cause = stopped.one_line() if stopped is not None else _why_missing(results, stats)
        return "failed", RunFailedError(f"{cause} — 0 of {total} planned rows answered")
    cause = stopped.one_line() if stopped is not None else _why_missing(results, stats)
    return "incomplete", RunIncompleteError(
        f"{missing} of {total} planned rows missing: {cause}", hint="finished rows are kept; run the same command again to retry"
    )


def _why_missing(results: TableSummary, stats: ExecutionStats) -> str:
    common = results.errors[0][0] if results.errors else ""
    return f"requests failed after retries (most common error: {stats.last_error or common})"


def _audit(config: RunConfig, plan: Plan, clips: dict[tuple[str, str], AudioPart], run: RunDir) -> list[str]:
    """Voice audit of the run's clips; skipped when the clips and audit settings are unchanged."""
    from biasbench import __version__
    from biasbench.core.params import parse_params
    from biasbench.voices.audit import AuditParams, audit_clips, fixed_sentence_clips

    if parse_params(AuditParams, dict(config.audit.params), "audit.params").texts == "fixed":
        speaking = {voice_id for voice_id, _ in clips}
        clips = fixed_sentence_clips(
            [v for v in plan.voices if v.id in speaking],
            Path(config.cache_dir) if config.cache_dir else run.path,
            tts_params=config.tts, workers=config.tts_workers, seed=config.seed,
        )
    digest = stable_hash(sorted(part.sha256 for part in clips.values()), config.audit.params, __version__)
    stamps = Stamps(run.path)
    if stamps.fresh("audit", digest, run.parity_json):
        return list((read_json_object(run.parity_json) or {}).get("warnings", []))
    summary = audit_clips(clips, plan.pool, run.audit_dir, config.audit.params)
    stamps.mark("audit", digest)
    return list(summary.warnings)


def _scores_digest(run: RunDir, seed: int, table_digest: str | None = None) -> str:
    from biasbench import __version__
    from biasbench.scoring.schema import SCORER_VERSION

    table = table_digest if table_digest is not None else results_content_digest(run)
    return stable_hash(table, understanding_digest(run), __version__, SCORER_VERSION, seed)


def understanding_digest(run: RunDir) -> str:
    """Digest of understanding.csv ('' when absent): a changed understanding signal re-scores the decomposition."""
    import hashlib

    path = run.understanding_csv
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def _score_and_report(
    config: RunConfig, run: RunDir, *, strict: bool, phase: Callable[[str], None] = lambda name: None,
    progress: RunProgress | None = None, table_digest: str | None = None, summarize: bool = True,
) -> tuple[str | None, Path | None, list[str], dict[str, pd.DataFrame] | None]:
    """Score and report; each is skipped when its inputs (results, code version, seed) are unchanged.
    Without ``summarize`` the summary text is None (the caller formats it from the tables when needed).
    When the run is incomplete (``strict`` False), a failure here is a warning: the run's own stop reason is what matters."""
    progress = progress if progress is not None else RunProgress(enabled=False)
    stamps = Stamps(run.path)
    try:
        digest = _scores_digest(run, config.seed, table_digest)
        if stamps.fresh("scores", digest, run.summary_parquet, run.warnings_parquet):
            progress.skip(1)  # up to date: nothing to do, the step counts as finished
            summary_table = pd.read_parquet(run.summary_parquet)
            warnings = [str(m) for m in pd.read_parquet(run.warnings_parquet)["message"]]
            shown = {stem: pd.read_parquet(path) for stem in ("headline", "calibration")
                     if (path := run.score_table(stem)).is_file()}
        else:
            from biasbench.scoring.score import score_run

            phase("scoring")
            with progress.stage("scoring"):
                scored = score_run(run.path)
            stamps.mark("scores", digest)
            summary_table, warnings = scored.tables["summary"], list(scored.warnings)
            shown = {stem: scored.tables[stem] for stem in ("headline", "calibration") if stem in scored.tables}
        report_path = run.report_xlsx
        if config.report and not stamps.fresh("report", digest, report_path):
            from biasbench.reports.run_report import write_run_report

            phase("report")
            with progress.stage("report"):
                report_path = write_run_report(run.path).workbook
            stamps.mark("report", digest)
        elif config.report:
            progress.skip(1)
    except BiasbenchError as exc:
        if strict:
            raise
        return "", None, [f"scores/report not built for the incomplete run: {exc.one_line()}"], None
    summary = None
    if summarize:
        from biasbench.scoring.score import format_terminal_summary

        summary = format_terminal_summary({"summary": summary_table, **shown})
    return summary, report_path if config.report else None, warnings, {"summary": summary_table, **shown}


def check_report_inputs(run_dir: str | Path) -> None:
    """Refuse (DataError) to report from scores whose inputs changed or vanished since scoring."""
    run = RunDir(run_dir)
    if not run.path.is_dir():
        return  # the report's own loader names a missing directory
    if run.read_manifest() is None:
        return
    results = run.results_table()
    if results is None:
        raise DataError(
            f"{run.path} has no results table (results.parquet was deleted?): its scores cannot be trusted",
            hint=f"run `biasbench run` again on this directory to rebuild it, then `biasbench score {run.path}`",
        )
    if not run.summary_parquet.exists() and not run.score_table("summary", ".csv").exists():
        raise DataError(f"{run.path} has no scores", hint=f"run `biasbench score {run.path}` first")
    scored_at = min(p.stat().st_mtime for p in (run.summary_parquet, run.score_table("summary", ".csv")) if p.exists())
    if scored_at >= results.stat().st_mtime:
        return
    stamp = Stamps(run.path).recorded("scores")
    if stamp is not None and results == run.results_parquet:
        try:
            seed = run.manifest().seed
            if stamp == _scores_digest(run, seed):
                return  # the table was rewritten with the same content
        except Exception:  # noqa: BLE001 - an unreadable table is stale by definition
            pass
    raise DataError(
        f"the scores in {run.scores_dir} are older than {results.name} (its rows changed since scoring)",
        hint=f"run `biasbench score {run.path}` first",
    )


@dataclass(frozen=True, eq=False)
class MergeOutcome:
    """The result of `biasbench merge`."""

    run_dir: Path
    """The merged run directory."""
    rows: int
    """Rows of the merged table (the full plan)."""
    written: bool
    """False when the directory already held this merge (nothing rewritten)."""
    status: str
    """'complete', or 'incomplete' when a shard was."""
    reason: str = ""
    """Why rows are missing ('' when complete)."""
    summary: str = ""
    """Short printable summary of the scores."""
    warnings: tuple[str, ...] = ()
    """Things that qualify the numbers."""
    report_path: Path | None = None
    """report.xlsx, when written."""
    summary_tables: dict[str, pd.DataFrame] | None = field(default=None, repr=False)
    """The score tables the terminal summary shows (None when not scored)."""


def merge_shards(shard_dirs: list[Path], out: Path) -> MergeOutcome:
    """Merge the directories of `biasbench run --shard I/N` into ``out``, then score and report it like a run.

    Refuses (one line) shards of different configs, pools, task content or code, a missing or repeated
    shard, and a planned row absent or present twice. Idempotent: a directory that already holds the
    merge of the same inputs is left as it is (scores and report are rebuilt only if stale)."""
    from biasbench.config import RunConfig
    from biasbench.runner.shard import check_sources, merge_digest, read_source, write_merged

    sources = [read_source(Path(d)) for d in shard_dirs]
    check_sources(sources)
    run = RunDir(out)
    if any(run.path.resolve() == s.run.path.resolve() for s in sources):
        raise ConfigError(f"--out {run.path} is one of the shard directories", hint="merge into a new directory")
    digest = merge_digest(sources)
    with RunLock(run.path):
        previous = run.read_manifest()
        written = False
        if previous is None or previous.merge_digest != digest or run.results_table() is None:
            if previous is not None:
                identity = {k: v for k, v in sources[0].manifest.output_config.items() if k != "shard"}
                check_same_configuration(run, previous, identity)  # a merge of another config: refuse
                if not previous.merged_from and previous.invocations:
                    raise DataError(f"{run.path} holds a run of its own, not a merge", hint="merge into a new directory")
            write_merged(sources, run, digest)
            written = True
        manifest = run.manifest()
        config = RunConfig.model_validate(manifest.config)
        summary, report_path, warnings, tables = _score_and_report(config, run, strict=manifest.status == "complete")
    return MergeOutcome(
        run.path, manifest.planned_rows, written, str(manifest.status), manifest.missing_reason, summary or "", tuple(warnings), report_path, tables
    )
