"""What a tracker receives from a run: parameters, flat metrics and the files worth keeping."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from biasbench.core.errors import DataError

ARTIFACT_FILES = ("manifest.json", "summary.csv", "summary.md", "report.xlsx", "results.csv", "exclusions.csv")
"""Run files logged as artifacts when present (plus every CSV under scores/)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]+")


@dataclass(frozen=True)
class RunSummary:
    """A run reduced to what trackers store."""

    run_id: str
    """The run directory's name."""
    params: dict[str, str]
    """Flat parameters: config name, pool, seed, tasks, models, versions."""
    metrics: dict[str, float]
    """'model/task/modality/grouping.group/metric' (and 'metric_ci_low', 'metric_ci_high') -> value, per summary.csv row."""
    tables: dict[str, pd.DataFrame]
    """Name -> table (summary, plus the score tables)."""
    files: tuple[Path, ...]
    """Files to upload as artifacts."""


def metric_key(*parts: Any) -> str:
    """A metric name every tracker accepts (MLflow allows letters, digits, _ - . / and spaces)."""
    return "/".join(_UNSAFE.sub("_", str(part)) for part in parts)


def summarize_run(run_dir: Path) -> RunSummary:
    """Read a finished run; one-line error when it has no manifest or no summary yet."""
    run_dir = Path(run_dir)
    manifest_path, summary_path = run_dir / "manifest.json", run_dir / "summary.csv"
    if not manifest_path.is_file() or not summary_path.is_file():
        raise DataError(f"{run_dir} has no manifest.json and summary.csv: not a scored biasbench run (run `biasbench score {run_dir}`)")
    from biasbench.core.rundir import RunDir

    manifest = RunDir(run_dir).manifest()
    config = manifest.config
    params = {
        "run_id": manifest.run_id or run_dir.name,
        "config_name": str(config.get("name", "")),
        "pool": str(manifest.pool.get("name", config.get("pool", ""))),
        "pool_purpose": str(manifest.pool.get("purpose", "")),
        "seed": str(manifest.seed),
        "tasks": ",".join(f"{t.name}@{t.version}" for t in manifest.tasks),
        "models": ",".join(f"{m.name}:{m.adapter}" for m in manifest.models),
        "biasbench_version": str(manifest.packages.get("biasbench", "")),
        "status": str(manifest.status),
    }
    summary = pd.read_csv(summary_path)
    metrics: dict[str, float] = {}
    for row in summary.itertuples(index=False):
        group = "overall" if row.group == "__all__" else f"{row.grouping}.{row.group}"
        base = (row.model, row.task, row.modality, group)
        for suffix, value in (("", row.value), ("_ci_low", row.ci_low), ("_ci_high", row.ci_high)):
            if pd.notna(value):  # 'accuracy', 'accuracy_ci_low': a name is never a folder of another
                metrics[metric_key(*base, f"{row.metric}{suffix}")] = float(value)
    tables = {"summary": summary}
    for path in sorted((run_dir / "scores").glob("*.csv")):
        tables[f"scores_{path.stem}"] = pd.read_csv(path)
    files = tuple(run_dir / name for name in ARTIFACT_FILES if (run_dir / name).is_file()) + tuple(
        sorted((run_dir / "scores").glob("*.csv"))
    )
    return RunSummary(params["run_id"], params, metrics, tables, files)
