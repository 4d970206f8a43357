"""The run directory as one typed object: every file name, the manifest, the status, the invocations.

Every package reads a run through :func:`open_run_dir` (one loader) and names its files through
:class:`RunDir` (no string literals elsewhere). The manifest is a pydantic :class:`Manifest`; older
manifests (fields missing) still load, unknown fields are kept.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from biasbench.core.errors import DataError

RunStatus = Literal["running", "complete", "incomplete", "failed", "interrupted"]
"""Where a run (or one invocation of it) stands."""

EXIT_CODES: Mapping[str, int] = {"complete": 0, "failed": 5, "incomplete": 4, "budget": 3, "interrupted": 130}
"""Exit code of `biasbench run` per outcome (budget: an incomplete run stopped by max_cost_usd). 2 = bad input."""


def now_iso() -> str:
    """UTC time, seconds precision."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _Open(BaseModel):
    """Keeps unknown fields (a newer writer) and tolerates missing ones (an older writer)."""

    model_config = ConfigDict(extra="allow")


class Invocation(_Open):
    """One `biasbench run` on a directory, recorded when it starts and updated when it ends."""

    index: int = 0
    """0 for the first invocation."""
    started: str = ""
    """UTC start time."""
    finished: str = ""
    """UTC end time ('' while running or when killed)."""
    pid: int = 0
    """Process id of the invocation."""
    status: RunStatus = "complete"
    """'running' until it ends; a 'running' record found by the next start was killed ('interrupted')."""
    reason: str = ""
    """Why it stopped short (error line, budget, breaker, signal)."""
    phase: str = ""
    """The phase it reached: synthesis, model calls, tables, audit, scoring, report, done (a killed one stops there)."""
    tts_calls: int = 0
    """Clips the TTS backends synthesized."""
    clips_cached: int = 0
    """Clips found in the audio cache."""
    model_calls: int = 0
    """Requests sent to model adapters."""
    failed_requests: int = 0
    """Requests that came back with an error."""
    rows_total: int = 0
    """Planned rows."""
    rows_from_log: int = 0
    """Rows answered by an earlier invocation."""
    rows_unanswered: int = 0
    """Planned rows without an answer at the end."""
    wall_s: float = 0.0
    """Seconds this invocation took."""

    @model_validator(mode="before")
    @classmethod
    def _older_status(cls, data: Any) -> Any:
        """Manifests before statuses were typed wrote 'stopped: <reason>' (a budget or adapter stop)."""
        if isinstance(data, dict) and isinstance(data.get("status"), str) and data["status"].startswith("stopped:"):
            data = {**data, "status": "incomplete", "reason": data.get("reason") or data["status"][len("stopped:"):].strip()}
        return data


class ModelEntry(_Open):
    """One evaluated model as the manifest records it."""

    name: str = ""
    """Model label from the config."""
    adapter: str = ""
    """Adapter registry name."""
    fingerprint: str = ""
    """Adapter fingerprint (part of every response key)."""
    describe: dict[str, Any] = Field(default_factory=dict)
    """Output-affecting identity of the adapter."""
    capabilities: dict[str, Any] = Field(default_factory=dict)
    """audio_in, text_in, batch, async, answer_types, calibration."""

    @property
    def calibration(self) -> bool:
        """True for a calibration instrument (planted behaviour, not a real model)."""
        return bool(self.capabilities.get("calibration", False))


class TaskEntry(_Open):
    """One task as the manifest records it (Task.describe() plus counts and a content digest)."""

    name: str = ""
    """Task name."""
    kind: str = ""
    """Registered task kind (rebuilds the task with ``config``)."""
    version: str = ""
    """Spec version."""
    answer_type: str = "multiple_choice"
    """'multiple_choice', 'open_ended' or 'transcription'."""
    parser_version: str = ""
    """Version of the answer parser."""
    config: dict[str, Any] = Field(default_factory=dict)
    """The task's parameters."""
    n_items: int = 0
    """Items asked."""
    n_excluded: int = 0
    """Items excluded (reasons in exclusions.csv)."""
    content_digest: str = ""
    """Digest of what was asked: item ids, rendered prompts, rotations, modalities, parser version."""


class FileMark(_Open):
    """A file as it was when something was built from it: a changed size or modification time (or tail) means
    it changed since (cheap to check; a rename-over or an edit always changes one of them)."""

    size: int = -1
    """Bytes (-1: the file was absent)."""
    mtime_ns: int = 0
    """Modification time in nanoseconds."""
    tail_sha256: str = ""
    """sha256 of its last bytes ('' when not recorded): an append-only file's content, cheaply."""


class TableStamp(_Open):
    """What results.parquet and results.csv were last written from: a resume whose plan, clips and response log
    are unchanged leaves them (and the steps that read them) as they are."""

    inputs: str = ""
    """Digest of what the rows were planned, asked and parsed with (config identity, items, clips, adapters, code)."""
    log: FileMark = Field(default_factory=FileMark)
    """responses.jsonl when the table was written."""
    parquet: FileMark = Field(default_factory=FileMark)
    """results.parquet as written."""
    csv: FileMark = Field(default_factory=FileMark)
    """results.csv as written."""
    content: str = ""
    """Digest of the table's answers and outcomes (its `cached` column left out); '' until first computed."""
    rows: int = 0
    """Rows of the table."""
    unanswered: int = 0
    """Rows without an answer (outcome 'error'): a resume asks them again, so the table is not final."""
    calls: int = 0
    """Distinct requests behind the rows (the overall progress bar's model work)."""
    clips: int = 0
    """Clips the rows speak."""
    invocation: int = 0
    """The invocation that wrote the table (its `cached` column is relative to that one)."""


class Manifest(_Open):
    """manifest.json: what was run, with what, where and when."""

    biasbench_manifest: int = 1
    """Format version."""
    run_id: str = ""
    """The run directory's name."""
    created: str = ""
    """UTC time of the first invocation."""
    updated: str = ""
    """UTC time of the last write."""
    config_path: str | None = None
    """The config file given to `biasbench run`."""
    config: dict[str, Any] = Field(default_factory=dict)
    """The full run config."""
    output_config: dict[str, Any] = Field(default_factory=dict)
    """The output-affecting part of the config (a directory belongs to one of these)."""
    seed: int = 0
    """The run's seed."""
    pool: dict[str, Any] = Field(default_factory=dict)
    """The voice pool (VoicePool.to_json())."""
    voices_used: list[str] = Field(default_factory=list)
    """Ids of the voices that spoke."""
    tasks: list[TaskEntry] = Field(default_factory=list)
    """Tasks asked."""
    models: list[ModelEntry] = Field(default_factory=list)
    """Models asked."""
    pairings: list[dict[str, Any]] = Field(default_factory=list)
    """Model × task pairings with their modalities."""
    skipped: list[str] = Field(default_factory=list)
    """Pairings left out, with why."""
    planned_rows: int = 0
    """Rows the plan asks for."""
    executor: dict[str, Any] = Field(default_factory=dict)
    """Where local models ran (kind, Ray address, cluster resources); informational, not part of the output identity."""
    tts: dict[str, Any] = Field(default_factory=dict)
    """Synthesis backends and notes."""
    understanding: dict[str, Any] = Field(default_factory=dict)
    """The understanding step: models whose own transcripts were asked ('transcribed') and the ones
    skipped with why ('skipped', e.g. a priced API adapter)."""
    git: dict[str, Any] = Field(default_factory=dict)
    """Commit and dirtiness of the source checkout."""
    packages: dict[str, str] = Field(default_factory=dict)
    """Installed versions of result-affecting packages."""
    platform: dict[str, Any] = Field(default_factory=dict)
    """Python, OS and hardware facts."""
    status: RunStatus | str = "running"
    """The run's status after its latest invocation."""
    missing_reason: str = ""
    """Why planned rows are missing ('' when complete)."""
    invocations: list[Invocation] = Field(default_factory=list)
    """Every invocation, killed ones included."""
    shard: dict[str, int] | None = None
    """``{"index": I, "count": N}`` for a `biasbench run --shard I/N` directory (holds only its items' rows); None otherwise."""
    merged_from: list[dict[str, Any]] = Field(default_factory=list)
    """The shard directories a `biasbench merge` built this run from (empty for a run made in one piece)."""
    merge_digest: str = ""
    """Digest of the merged shards' identities, tables and logs (re-merging the same inputs is a no-op)."""
    results_table: TableStamp | None = None
    """What the tidy table was last written from (None: unknown, e.g. a merge or an older writer: it is rebuilt)."""

    # ----- typed views used by scoring, reports and the leaderboard ------------------------------
    @property
    def axes(self) -> tuple[str, ...]:
        """The pool's demographic axes."""
        return tuple(str(a) for a in self.pool.get("axes") or ())

    @property
    def pool_purpose(self) -> str:
        """'research' or 'demonstration'."""
        return str(self.pool.get("purpose", "research"))

    @property
    def pool_name(self) -> str:
        return str(self.pool.get("name", "?"))

    def spoken_voices(self) -> list[dict[str, Any]]:
        """Pool voices (JSON) that spoke in this run (every pool voice when voices_used is empty)."""
        used = set(self.voices_used)
        return [v for v in self.pool.get("voices") or () if isinstance(v, dict) and (not used or v.get("id") in used)]

    def voice_labels(self) -> dict[str, dict[str, str]]:
        """voice id -> {axis: value} for the voices that spoke."""
        return {
            str(v.get("id")): {axis: str((label or {}).get("value", "")) for axis, label in (v.get("labels") or {}).items()}
            for v in self.spoken_voices()
        }

    @property
    def calibration_models(self) -> tuple[str, ...]:
        return tuple(sorted(m.name for m in self.models if m.calibration))

    @property
    def git_sha(self) -> str:
        """The commit the run was made from ('' when unknown)."""
        return str(self.git.get("sha") or (self.model_extra or {}).get("git_sha") or "")

    def task(self, name: str) -> TaskEntry | None:
        return next((t for t in self.tasks if t.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_manifest(data: Mapping[str, Any], where: str = "manifest.json") -> Manifest:
    """Validate a manifest mapping; a malformed one is a one-line DataError."""
    data = dict(data)
    voices_used = data.get("voices_used")
    if isinstance(voices_used, list):  # older manifests recorded voice dicts
        data["voices_used"] = [str(v.get("id")) if isinstance(v, dict) else str(v) for v in voices_used]
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(p) for p in first["loc"])
        raise DataError(f"{where} is malformed at '{location}': {first['msg']}") from None


class RunDir:
    """Every path of a run directory, and its manifest."""

    MANIFEST = "manifest.json"
    LOG = "responses.jsonl"
    QUARANTINE = "responses.quarantine.jsonl"
    RESULTS_PARQUET = "results.parquet"
    RESULTS_CSV = "results.csv"
    EXCLUSIONS_CSV = "exclusions.csv"
    SCORES = "scores"
    AUDIT = "audit"
    PARITY = "parity.json"
    REPORT_XLSX = "report.xlsx"
    REPORT_TABLES = "report"
    SUMMARY_MD = "summary.md"
    PLOTS = "plots"
    LOCK = ".biasbench.lock"
    STAMPS = ".stamps.json"
    UNDERSTANDING_CSV = "understanding.csv"
    UNDERSTANDING_DIR = "understanding"
    TRANSCRIPTS = "transcripts.jsonl"
    VOICE_AUDIT_CSV = "voice_audit.csv"
    PERCEIVED_GENDER_CSV = "perceived_gender.csv"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def run_id(self) -> str:
        return self.path.name

    # ----- paths ---------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / self.MANIFEST

    @property
    def log(self) -> Path:
        """responses.jsonl: the append-only answer log."""
        return self.path / self.LOG

    @property
    def quarantine(self) -> Path:
        """responses.quarantine.jsonl: unreadable log lines, kept for inspection."""
        return self.path / self.QUARANTINE

    @property
    def results_parquet(self) -> Path:
        return self.path / self.RESULTS_PARQUET

    @property
    def results_csv(self) -> Path:
        return self.path / self.RESULTS_CSV

    @property
    def exclusions_csv(self) -> Path:
        return self.path / self.EXCLUSIONS_CSV

    @property
    def scores_dir(self) -> Path:
        return self.path / self.SCORES

    def score_table(self, stem: str, suffix: str = ".parquet") -> Path:
        """scores/<stem><suffix>."""
        return self.scores_dir / f"{stem}{suffix}"

    @property
    def summary_parquet(self) -> Path:
        return self.score_table("summary")

    @property
    def warnings_parquet(self) -> Path:
        return self.score_table("warnings")

    @property
    def headline_csv(self) -> Path:
        """scores/headline.csv (the verdict table)."""
        return self.score_table("headline", ".csv")

    @property
    def audit_dir(self) -> Path:
        return self.path / self.AUDIT

    @property
    def parity_json(self) -> Path:
        return self.audit_dir / self.PARITY

    @property
    def voice_audit_csv(self) -> Path:
        """audit/voice_audit.csv (one row per audited clip, with its ASR round-trip)."""
        return self.audit_dir / self.VOICE_AUDIT_CSV

    @property
    def perceived_gender_csv(self) -> Path:
        """audit/perceived_gender.csv (each voice's gender as its pitch suggests, vs its label)."""
        return self.audit_dir / self.PERCEIVED_GENDER_CSV

    @property
    def understanding_csv(self) -> Path:
        """understanding.csv (per audio row: the understanding signal, its source and WER)."""
        return self.path / self.UNDERSTANDING_CSV

    @property
    def understanding_transcripts(self) -> Path:
        """understanding/transcripts.jsonl (cache of the models' own transcripts, by response key)."""
        return self.path / self.UNDERSTANDING_DIR / self.TRANSCRIPTS

    @property
    def report_xlsx(self) -> Path:
        return self.path / self.REPORT_XLSX

    @property
    def report_tables_dir(self) -> Path:
        return self.path / self.REPORT_TABLES

    @property
    def summary_md(self) -> Path:
        return self.path / self.SUMMARY_MD

    @property
    def plots_dir(self) -> Path:
        return self.path / self.PLOTS

    @property
    def lock_path(self) -> Path:
        return self.path / self.LOCK

    @property
    def stamps_path(self) -> Path:
        return self.path / self.STAMPS

    def results_table(self) -> Path | None:
        """results.parquet, else results.csv, else None."""
        for path in (self.results_parquet, self.results_csv):
            if path.is_file():
                return path
        return None

    # ----- manifest ------------------------------------------------------------------------------
    def read_manifest(self) -> Manifest | None:
        """The manifest; None when there is none yet; a corrupt one → DataError."""
        from biasbench.core.jsonio import read_json_object

        data = read_json_object(self.manifest_path)
        return None if data is None else parse_manifest(data, str(self.manifest_path))

    def manifest(self) -> Manifest:
        """The manifest of a run; DataError when this is not a run directory."""
        manifest = self.read_manifest()
        if manifest is None:
            raise DataError(
                f"{self.path} is not a biasbench run directory: it has no manifest.json",
                hint="`biasbench run CONFIG --out DIR` makes one",
            )
        return manifest

    def write_manifest(self, manifest: Manifest | Mapping[str, Any]) -> Path:
        """Write manifest.json atomically (unique temp name, fsync, rename; faults are one-line StorageErrors)."""
        data = manifest.to_json() if isinstance(manifest, Manifest) else dict(manifest)
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
        from biasbench.core.files import write_text_atomic

        write_text_atomic(self.manifest_path, text)
        return self.manifest_path


def open_run_dir(path: str | Path) -> RunDir:
    """The one loader: a RunDir for an existing run directory (with a manifest), else a one-line DataError."""
    run = RunDir(path)
    if not run.path.is_dir():
        raise DataError(f"run directory not found: '{run.path}' does not exist", hint="pass the --out folder of `biasbench run`")
    run.manifest()
    return run


def differing_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like values (lists compared whole)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        keys: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                keys.append(path)
            else:
                keys.extend(differing_keys(old[key], new[key], path))
        return keys
    return [] if old == new else [prefix or "(whole config)"]
