"""`biasbench leaderboard RUN_DIR... --out DIR`: merge runs, rank models, write CSV, Excel, plots and a page.

Runs merge only when they measured the same thing: every task must have one spec version across the runs
and every run must use the same voice pool (same voices, same labels). Otherwise the command refuses with
one line naming the conflict (make one leaderboard per task version / pool instead).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import pandas as pd

from biasbench.core.errors import ConfigError, DataError
from biasbench.core.hashing import stable_hash
from biasbench.reports.headline import (
    Headline,
    headline_grouping,
    headline_formats,
    headlines,
)
from biasbench.reports.leaderboard_links import copy_manifest
from biasbench.reports.notes import notes_sheet
from biasbench.reports.qualifiers import Qualifier
from biasbench.reports.merged import MergedRuns
from biasbench.reports.rundata import RunData, load_run
from biasbench.scoring.direction import Direction
from biasbench.reports.sheet import VALUE_CI_FORMATS, Sheet
from biasbench.reports.workbook import write_workbook


@dataclass(frozen=True)
class LeaderboardPaths:
    """Files one leaderboard wrote."""

    csv: Path
    """leaderboard.csv (one row per model × task)."""
    workbook: Path
    """leaderboard.xlsx."""
    html: Path
    """leaderboard.html (self-contained: no network needed)."""
    plots: tuple[Path, ...]
    """plots/*.png and *.svg."""


def pool_identity(run: RunData) -> str:
    """Hash of the pool's axes and the voices that spoke with their labels (name and description ignored)."""
    voices = sorted(
        (v.get("id"), v.get("engine"), v.get("preset"), v.get("reference"), v.get("labels")) for v in run.info.spoken_voices()
    )
    return stable_hash(list(run.axes), voices)


def check_compatible(runs: Sequence[RunData]) -> None:
    """Refuse (ConfigError) when task versions, task content or voice pools differ between runs."""
    versions: dict[str, tuple[str, str]] = {}
    digests: dict[str, tuple[str, str]] = {}
    for run in runs:
        for task, digest in run.task_digests.items():
            if not digest:  # a run from before content digests: only its version is compared
                continue
            seen_digest = digests.setdefault(task, (digest, run.run_id))
            if seen_digest[0] != digest:
                raise ConfigError(
                    f"cannot merge: task '{task}' asked different content in run '{seen_digest[1]}' and run "
                    f"'{run.run_id}' (items, prompts, rotations or parser differ); their scores are not comparable",
                    hint="make one leaderboard per task content",
                )
        for task, version in run.task_versions.items():
            seen = versions.setdefault(task, (version, run.run_id))
            if seen[0] != version:
                raise ConfigError(
                    f"cannot merge: task '{task}' is version {seen[0]} in run '{seen[1]}' but version {version} in "
                    f"run '{run.run_id}'; scores of different task versions are not comparable",
                    hint="make one leaderboard per task version",
                )
    first = runs[0]
    for run in runs[1:]:
        if pool_identity(run) != pool_identity(first):
            raise ConfigError(
                f"cannot merge: run '{run.run_id}' used voice pool '{run.info.pool_name}' but run "
                f"'{first.run_id}' used '{first.info.pool_name}' (different voices or labels); "
                "gaps measured on different voices are not comparable",
                hint="make one leaderboard per voice pool",
            )


def _rank(table: pd.DataFrame, groups: pd.DataFrame | None = None) -> pd.DataFrame:
    """Within each task: rank 1 = best worst-group score, and rank 1 = smallest max gap; models whose
    95% CIs overlap share a rank (see :mod:`biasbench.reports.tie_ranks`)."""
    from biasbench.reports.tie_ranks import tied_ranks

    table = table.copy()
    worst_low, worst_high = _worst_group_cis(table, groups)
    table["rank_worst_group"] = pd.Series(dtype="Int64")
    table["rank_max_gap"] = pd.Series(dtype="Int64")
    for _, rows in table.groupby("task"):
        harm = _harm_spans(rows, worst_low[rows.index], worst_high[rows.index])
        table.loc[rows.index, "rank_worst_group"] = pd.array(tied_ranks(*harm, higher_better=False), dtype="Int64")
        table.loc[rows.index, "rank_max_gap"] = pd.array(
            tied_ranks(rows.max_gap, rows.max_gap_ci_low, rows.max_gap_ci_high, higher_better=False), dtype="Int64"
        )
    return table


def _harm_spans(rows: pd.DataFrame, lows: pd.Series, highs: pd.Series) -> tuple[list[float | None], list[float | None], list[float | None]]:
    """Worst-group values and CI ends as harm in each metric's declared direction (larger = worse), so
    accuracy, WER and neutral-target metrics all rank the same way."""
    points: list[float | None] = []
    low_out: list[float | None] = []
    high_out: list[float | None] = []
    for value, low, high, label in zip(rows.worst_value, lows, highs, rows.direction):
        try:
            direction = Direction.parse(str(label))
        except ValueError:
            direction = None
        if direction is None or value is None or pd.isna(value):
            points.append(None), low_out.append(None), high_out.append(None)
            continue
        points.append(direction.harm(float(value)))
        if low is None or high is None or pd.isna(low) or pd.isna(high):
            low_out.append(None), high_out.append(None)
            continue
        ends = sorted((direction.harm(float(low)), direction.harm(float(high))))
        inside = direction.kind == "target" and direction.target is not None and float(low) <= direction.target <= float(high)
        low_out.append(0.0 if inside else ends[0]), high_out.append(ends[1])
    return points, low_out, high_out


def _worst_group_cis(table: pd.DataFrame, groups: pd.DataFrame | None) -> tuple[pd.Series, pd.Series]:
    """The CI of each row's worst group (from the group metrics; NaN when absent)."""
    low = pd.Series(float("nan"), index=table.index)
    high = pd.Series(float("nan"), index=table.index)
    if groups is None or groups.empty:
        return low, high
    lookup = {(g.model, g.task, str(g.group)): (g.ci_low, g.ci_high) for g in groups.itertuples()}
    for index, row in table.iterrows():
        low[index], high[index] = lookup.get((row.model, row.task, str(row.worst_group)), (float("nan"), float("nan")))
    return low, high


def merge_runs(run_dirs: Sequence[str | Path], out: Path) -> MergedRuns:
    """Load, check and merge runs. A model × task pair found in several runs is shown once per run,
    labelled 'model [run id]'."""
    if not run_dirs:
        raise ConfigError("give at least one run directory")
    runs = tuple(load_run(d) for d in run_dirs)
    if len(set(map(str, (r.run_dir.resolve() for r in runs)))) != len(runs):
        raise ConfigError("the same run directory is given twice")
    check_compatible(runs)
    records, group_rows, qualifiers = [], [], []
    found_rows: list[tuple[RunData, list[Headline], list[Qualifier]]] = []
    seen: dict[tuple[str, str], int] = {}
    for run in runs:
        rows, found = headlines(run)
        if not rows:
            raise DataError(f"run '{run.run_id}' has no scores; run `biasbench score {run.run_dir}` first")
        found_rows.append((run, rows, found))
        for row in rows:
            seen[(row.model, row.task)] = seen.get((row.model, row.task), 0) + 1
    owner: dict[tuple[str, str], str] = {}
    for run, rows, found in found_rows:
        qualifiers += [(run.run_id, q) for q in found]
        manifest = copy_manifest(run, out)
        calibration = set(run.calibration_models)
        for row in rows:
            key = (row.model, row.task)
            if key in owner:
                raise ConfigError(f"cannot merge: run '{run.run_id}' is given twice under the same label")
            in_several_runs = seen[key] > 1
            groups = _group_rows(run, row)
            if in_several_runs:  # one model from two runs: each row carries its run label
                label = f"{row.model} [{run.run_id}]"
                groups = [{**g, "model": label} for g in groups]
                row = replace(row, model=label)
            owner[(row.model, row.task)] = run.run_id
            records.append(
                {
                    **asdict(row),
                    "calibration": key[0] in calibration,
                    "pool": run.info.pool_name if run.info.pool else "",
                    "demonstration": run.is_demonstration,
                    "run": run.run_id,
                    "manifest": manifest,
                }
            )
            group_rows += groups
    table = _rank(pd.DataFrame(records), pd.DataFrame(group_rows))
    first = ["rank_worst_group", "rank_max_gap", "model", "task"]
    table = table[first + [c for c in table.columns if c not in first]]
    table = table.sort_values(["task", "rank_worst_group", "model"]).reset_index(drop=True)
    return MergedRuns(runs, table, pd.DataFrame(group_rows), tuple(qualifiers))


def _group_rows(run: RunData, row: Headline) -> list[dict[str, object]]:
    metrics = run.table("group_metrics")
    if metrics is None:
        return []
    grouping = row.grouping or headline_grouping(run, row.model, row.task, row.metric)
    part = metrics[
        (metrics.model == row.model)
        & (metrics.task == row.task)
        & (metrics.modality == "audio")
        & (metrics.grouping == grouping)
        & (metrics.metric == row.metric)
    ]
    columns = ["model", "task", "grouping", "group", "metric", "value", "ci_low", "ci_high", "n_items", "n_voices"]
    return part[columns].to_dict("records")


def leaderboard_sheets(merged: MergedRuns) -> list[Sheet]:
    """Leaderboard, Groups, Runs and Warnings sheets."""
    table = merged.table
    notice = tuple(c for c in ("notice", "warnings") if c in table.columns)
    sheets = [
        Sheet(
            "Leaderboard",
            table,
            description="one row per model × task, ranked within each task",
            formats=headline_formats(merged.table),
            gap_columns=("max_gap",),
            notice_columns=notice,
            order=10,
        )
    ]
    if merged.groups.empty:
        sheets.append(Sheet.empty("Groups", "no group metrics in the runs", order=20))
    else:
        sheets.append(
            Sheet(
                "Groups",
                merged.groups,
                description="headline metric per group, per model × task",
                formats=VALUE_CI_FORMATS,
                order=20,
            )
        )
    runs = pd.DataFrame(
        [
            {
                "run": r.run_id,
                "path": str(r.run_dir.resolve()),
                "pool": r.info.pool_name if r.info.pool else "",
                "pool_purpose": r.info.pool.get("purpose", ""),
                "axes": " × ".join(r.axes),
                "tasks": ", ".join(f"{t} v{v}" for t, v in r.task_versions.items()),
                "models": ", ".join(m.name for m in r.models),
                "git_sha": r.git_sha,
                "seed": str(r.info.seed),
            }
            for r in merged.runs
        ]
    )
    sheets.append(
        Sheet("Runs", runs, description="the merged runs", formats={c: "text" for c in runs.columns}, order=30)
    )
    warnings = pd.DataFrame(
        [{"run": run_id, **{k: v for k, v in asdict(q).items()}} for run_id, q in merged.qualifiers],
        columns=["run", "code", "message", "model", "task"],
    ).drop_duplicates()
    if warnings.empty:
        sheets.append(Sheet.empty("Warnings", "no warnings", order=40))
    else:
        sheets.append(
            Sheet("Warnings", warnings.reset_index(drop=True), description="every warning of every run", order=40)
        )
    return sheets


def write_leaderboard(
    run_dirs: Sequence[str | Path], out: str | Path, *, title: str = "biasbench leaderboard"
) -> LeaderboardPaths:
    """Merge ``run_dirs`` and write leaderboard.csv, leaderboard.xlsx, plots/ and leaderboard.html under ``out``."""
    from biasbench.reports.leaderboard_page import write_page
    from biasbench.reports.leaderboard_plots import write_leaderboard_plots

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {out}: {exc.strerror or exc}") from None
    merged = merge_runs(run_dirs, out)
    csv = out / "leaderboard.csv"
    merged.table.to_csv(csv, index=False)
    sheets = leaderboard_sheets(merged)
    from biasbench.reports.perception_bias import perception_bias_sheets  # issue 15

    sheets += perception_bias_sheets([run.run_dir for run in merged.runs])
    workbook = write_workbook(out / "leaderboard.xlsx", [*sheets, notes_sheet(sheets)])
    plots = write_leaderboard_plots(merged, out / "plots")
    html = write_page(merged, plots, out / "leaderboard.html", title=title)
    return LeaderboardPaths(csv=csv, workbook=workbook, html=html, plots=tuple(plots))
