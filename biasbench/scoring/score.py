"""`score_run`: every score table of a run directory, written to ``scores/`` and ``summary.csv``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from biasbench.core.errors import ConfigError
from biasbench.core.result import TEXT_VOICE
from biasbench.scoring import contrasts
from biasbench.scoring.rundata import RunData, load_run
from biasbench.scoring.schema import SCORER_VERSION, TABLES
from biasbench.scoring.slices import SliceEstimates, slice_estimates, task_frames
from biasbench.scoring.tables import round_floats, to_frame, write_table

SCORES_DIR = "scores"
"""Folder of the score tables inside a run directory."""
SUMMARY_CSV = "summary.csv"
"""The headline table at the top of a run directory."""


@dataclass(frozen=True)
class ScoringOptions:
    """How the statistics are computed (recorded in the 'scoring' table)."""

    n_boot: int = 1000
    """Bootstrap replicates (0 disables CIs)."""
    seed: int = 0
    """Seed of every random draw (bootstrap, permutations)."""
    delta: float = 0.05
    """Equivalence margin for TOST (absolute, on the metric's scale)."""
    n_perm: int = 2000
    """Permutations of the permutation test."""

    def __post_init__(self) -> None:
        if self.n_boot < 0 or self.n_boot == 1:
            raise ConfigError(f"n_boot must be 0 (no CIs) or at least 2, got {self.n_boot}")
        if self.n_perm < 0:
            raise ConfigError(f"n_perm must be >= 0, got {self.n_perm}")
        if not 0.0 < self.delta < 1.0:
            raise ConfigError(f"the equivalence margin delta must be in (0, 1), got {self.delta}")


@dataclass(frozen=True)
class ScoreTables:
    """Every score table of a run plus the caveats found while making them."""

    tables: Mapping[str, pd.DataFrame]
    """Table name (see scoring.schema.TABLES) -> table."""
    warnings: tuple[str, ...] = ()
    """One line per caveat (single-voice cells, empty groups, all-invalid groups, failed tests)."""
    run_dir: Path | None = None
    """Where the tables were written (None when only computed)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", MappingProxyType(dict(self.tables)))


@dataclass
class _Collector:
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {name: [] for name in TABLES})
    warnings: dict[str, str] = field(default_factory=dict)

    def warn(self, code: str, message: str) -> None:
        self.warnings.setdefault(message, code)


def score_run(run_dir: Path, *, n_boot: int = 1000, seed: int | None = None, **options: Any) -> ScoreTables:
    """Score ``run_dir``: write ``scores/<table>.csv|.parquet`` and ``summary.csv``; same input + seed -> same bytes.

    ``seed`` defaults to the run's seed; ``options`` are further :class:`ScoringOptions` fields.
    """
    run_dir = Path(run_dir)
    data = load_run(run_dir, scoring=True)
    result = score_data(data, ScoringOptions(n_boot=n_boot, seed=data.seed if seed is None else seed, **options))
    from biasbench.scoring.decomposition import run_decomposition, write_decomposition
    from biasbench.scoring.headline import join_dominant

    # issue 15: only when understanding.csv exists; the headline names the dominant part of each clear gap
    decomposition = run_decomposition(run_dir, data, n_boot, data.seed if seed is None else seed)
    tables = dict(result.tables)
    if "headline" in tables:
        tables["headline"] = join_dominant(tables["headline"], decomposition)
    folder = run_dir / SCORES_DIR
    for name, frame in tables.items():
        write_table(folder, name, frame)
    tables["summary"].to_csv(run_dir / SUMMARY_CSV, index=False, float_format="%.10g", lineterminator="\n")
    write_decomposition(run_dir, data, n_boot, data.seed if seed is None else seed, decomposition)
    return ScoreTables(tables, result.warnings, run_dir)


ANALYSES = ("headline", "group_metrics", "gaps", "equivalence", "power", "flips", "significance", "position_bias", "task_scores", "text_control")
"""The analyses :func:`score_data` can run (all by default)."""


def score_data(data: RunData, options: ScoringOptions = ScoringOptions(), analyses: Sequence[str] = ANALYSES) -> ScoreTables:
    """Every score table for already-loaded results (pure: nothing is written).

    ``analyses`` limits the work (tables of analyses not run are empty); group metrics always run.
    """
    from biasbench.scoring import controls, flips, headline, significance, task_scores

    unknown = sorted(set(analyses) - set(ANALYSES))
    if unknown:
        raise ConfigError(f"unknown analyses {', '.join(unknown)}; choose from {', '.join(ANALYSES)}")
    run = set(analyses)
    out = _Collector()
    frame = data.frame
    if frame.empty:
        out.warn("no_rows", "the results table has no rows: nothing to score")
    if data.pool_purpose == "demonstration":
        out.warn("demonstration_pool", "the voice pool is a demonstration pool (e.g. accents), not a race pool: do not read its groups as race")
    for model in data.calibration_models:
        out.warn("calibration", f"model '{model}' is a calibration instrument with planted behaviour, not a real model")
    declared = _declared_groups(data)
    for tf in task_frames(frame, data.axes, options.n_boot, options.seed):
        if tf.weights is not None:
            for cell in tf.weights.single_voice_cells:
                if cell != TEXT_VOICE:
                    out.warn("one_voice", f"task '{tf.task}': cell '{cell}' has a single voice, so CIs that include it understate voice-to-voice uncertainty")
        answer_type = data.answer_types.get(tf.task, "multiple_choice")
        slices: list[SliceEstimates] = []
        for model, modality in tf.rows.groupby(["model", "modality"], sort=True, observed=True).size().index:
            se = slice_estimates(tf, str(model), str(modality), answer_type, data.axes, declared)
            slices.append(replace(se, rows=se.rows[["item_id"]], metrics=()))  # the text control needs estimates and items only
            out.records["group_metrics"].extend(contrasts.group_metric_records(se))
            if "gaps" in run:
                out.records["gaps"].extend(contrasts.gap_records(se))
            if "equivalence" in run:
                out.records["equivalence"].extend(contrasts.equivalence_records(se, options.delta))
            if "power" in run:
                out.records["power"].extend(contrasts.power_records(se))
            if modality == "audio" and "flips" in run:
                out.records["flips"].extend(flips.flip_records(se, tf))
            if modality == "audio" and "significance" in run:
                out.records["significance"].extend(significance.test_records(se, tf, data.axes, options, out.warn))
            if "position_bias" in run:
                out.records["position_bias"].extend(controls.position_records(se))
            declared_metrics = data.task_metrics.get(tf.task, ())
            if modality == "audio" and "headline" in run and headline.generic_row_applies(se, declared_metrics):
                out.records["headline"].extend(headline.builtin_rows(se, tf, data.axes, options, options.delta))
            found = headline.TaskMetricSink(se, data.axes, options.delta) if modality == "audio" and "headline" in run else None
            if "task_scores" in run:
                metric_rows, gap_rows = task_scores.task_score_records(se, tf, data.task_metrics.get(tf.task, ()), out.warn, found)
                out.records["group_metrics"].extend(metric_rows)
                out.records["gaps"].extend(gap_rows)
            if found is not None:
                out.records["headline"].extend(found.rows)
            if modality == "audio" and "headline" in run and answer_type == "open_ended":
                out.records["headline"].extend(headline.divergence_rows(se, data.axes, options))
        if "text_control" in run:
            out.records["text_control"].extend(controls.text_control_records(slices, tf))
    tables = {name: to_frame(TABLES[name], records) for name, records in out.records.items()}
    if "headline" in run:
        _headline_gaps(out, frame, data, tables)
        tables["headline"] = to_frame(TABLES["headline"], out.records["headline"])
    from biasbench.scoring.calibration import calibration_records

    tables["calibration"] = to_frame(TABLES["calibration"], calibration_records(tables["group_metrics"], data.planted))
    tables["summary"] = summary_table(tables["group_metrics"])
    flagged = tables["group_metrics"][tables["group_metrics"]["status"].isin(["no_rows", "all_invalid"])]
    own_metrics = [task for task, metrics in data.task_metrics.items() if metrics]  # their generic mean_score is not a measure
    flagged = flagged[~((flagged["metric"] == "mean_score") & flagged["task"].isin(own_metrics))]
    for _, row in flagged[flagged["metric"].isin(["accuracy", "wer", "mean_score"])].iterrows():
        out.warn(row["status"], f"{row['model']} / {row['task']} / {row['modality']}: {row['grouping']} '{row['group']}': {row['note']}")
    tables["warnings"] = to_frame(TABLES["warnings"], [{"code": c, "message": m} for m, c in out.warnings.items()])
    tables["scoring"] = to_frame(TABLES["scoring"], _settings(options))
    tables = {name: round_floats(tables[name]) for name in TABLES}
    return ScoreTables(tables, tuple(out.warnings))


def _headline_gaps(out: _Collector, frame: pd.DataFrame, data: RunData, tables: dict) -> None:
    """'not_estimable' headline rows for model × task pairs that have no audio slice at all (e.g. only errors)."""
    from biasbench.scoring.headline import not_estimable_rows

    have = {(r["model"], r["task"]) for r in out.records["headline"]}
    audio_rows = (frame["modality"] == "audio").groupby([frame["model"], frame["task"]], sort=True, observed=True).sum()
    for (model, task), n_audio in audio_rows.items():  # counts per model × task: no copy of the table
        if (str(model), str(task)) in have:
            continue
        reason = "no audio rows: nothing to compare between voices" if n_audio == 0 else "no scorable audio rows"
        out.records["headline"].extend(not_estimable_rows({"model": str(model), "task": str(task), "modality": "audio", "metric": ""},
                                                          data.axes, reason))
        out.warn("not_estimable", f"{model} / {task}: {reason}; its headline is not_estimable")


def group_metrics_frame(frame: pd.DataFrame, *, axes: Sequence[str] = ("gender", "race"), n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The group_metrics table for a result table without a run directory (notebooks, other tools).

    ``frame`` has the core.result columns; ``axes`` are the pool axes present in it.
    """
    from biasbench.scoring.rundata import run_data

    data = run_data(frame, {"seed": seed, "pool": {"axes": list(axes)}})
    return score_data(data, ScoringOptions(n_boot=n_boot, seed=seed), analyses=("group_metrics",)).tables["group_metrics"]


def _declared_groups(data: RunData) -> dict[str, tuple[str, ...]]:
    declared: dict[str, tuple[str, ...]] = {}
    voices = list(data.pool_voices.values())
    for axis in data.axes:
        declared[axis] = tuple(sorted({labels.get(axis, "") for labels in voices} - {""}))
    if len(data.axes) > 1 and voices:
        declared["cell"] = tuple(sorted({"|".join(labels.get(axis, "") for axis in data.axes) for labels in voices}))
    return declared


def summary_table(group_metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per model × task × modality × grouping × group: headline metric with CI, rates and counts."""
    keys = ["model", "task", "modality", "grouping", "group"]
    if group_metrics.empty:
        return to_frame(TABLES["summary"], [])
    by_metric = {name: part.set_index(keys) for name, part in group_metrics.groupby("metric", sort=False)}
    headline = pd.concat(
        [part for name, part in by_metric.items() if name in ("accuracy", "wer", "mean_score")]
    )
    headline = headline[~headline.index.duplicated(keep="first")]
    records = []
    for index, row in headline.iterrows():
        record = dict(zip(keys, index))
        record.update({c: row[c] for c in ("n_rows", "n_items", "n_voices", "metric", "value", "ci_low", "ci_high", "status", "note")})
        for rate in ("invalid_rate", "refusal_rate"):
            part = by_metric.get(rate)
            record[rate] = part.at[index, "value"] if part is not None and index in part.index else None
        errors = by_metric.get("error_rate")
        if errors is not None and index in errors.index:
            err = errors.loc[index]
            record["error_count"] = int(round(err["value"] * err["n_rows"])) if np.isfinite(err["value"]) else 0
        records.append(record)
    return to_frame(TABLES["summary"], records)


def _settings(options: ScoringOptions) -> list[dict[str, str]]:
    return [
        {"key": "scorer_version", "value": SCORER_VERSION},
        {"key": "seed", "value": str(options.seed)},
        {"key": "n_boot", "value": str(options.n_boot)},
        {"key": "n_perm", "value": str(options.n_perm)},
        {"key": "equivalence_delta", "value": repr(options.delta)},
        {"key": "ci", "value": "95% percentile, two-way cluster bootstrap: items with replacement; voices within pool cells, Rao-Wu rescaled (n-1 of n)"},
        {"key": "accuracy", "value": "correct / answered rows; invalid and refusal count as not correct; error rows excluded and counted"},
        {"key": "headline", "value": "family-wise: voice permutation max-t per axis (within strata of the other axes; 'cell' unrestricted), "
                                     "Westfall–Young within an axis, Holm across axes, alpha 0.05; simultaneous max-|t| bootstrap CIs"},
    ]


def format_terminal_summary(tables: Mapping[str, pd.DataFrame] | ScoreTables, max_rows: int = 40) -> str:
    """A short plain-text table of the headline metric per model × task × group (what `run` prints)."""
    if isinstance(tables, ScoreTables):
        tables = tables.tables
    summary = tables["summary"]
    shown = summary[summary["grouping"].isin(["overall", "gender", "race", "accent", "age_band"])]
    if shown.empty:
        return "no scored rows"
    header = f"{'model':<18} {'task':<16} {'mod':<5} {'group':<18} {'metric':<9} {'value':>7}  {'95% CI':<17} {'n':>6} {'voices':>6}  note"
    lines = [header, "-" * len(header)]
    for _, row in shown.head(max_rows).iterrows():
        group = row["group"] if row["grouping"] == "overall" else f"{row['grouping']}={row['group']}"
        value = "—" if pd.isna(row["value"]) else f"{row['value']:.3f}"
        ci = "" if pd.isna(row["ci_low"]) else f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
        note = "" if row["status"] == "ok" else row["status"]
        lines.append(
            f"{row['model'][:18]:<18} {row['task'][:16]:<16} {row['modality'][:5]:<5} {group[:18]:<18} {row['metric']:<9} "
            f"{value:>7}  {ci:<17} {row['n_rows']:>6} {row['n_voices']:>6}  {note}"
        )
    if len(shown) > max_rows:
        lines.append(f"... {len(shown) - max_rows} more rows in summary.csv")
    claims = tables.get("headline")
    if claims is not None and not claims.empty:
        lines += ["", format_claims(claims, max_rows)]
    calibration = tables.get("calibration")
    if calibration is not None and not calibration.empty:
        lines += ["", "calibration instrument: planted vs recovered accuracy (scores/calibration.csv):"]
        for _, row in calibration.iterrows():
            ci = "" if pd.isna(row["ci_low"]) else f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
            lines.append(f"  {row['model']} / {row['task']} / {row['axis']}={row['group']}: planted {row['planted_population']:.3f}, "
                         f"recovered {row['recovered']:.3f} {ci}{'' if row['covered'] else '  (outside the CI)'}")
    return "\n".join(lines)


def _dominant_text(row: pd.Series) -> str:
    dominant = str(row.get("dominant", "") or "")
    return f"  dominant: {dominant}" if dominant not in ("", "nan") else ""


def format_claims(claims: pd.DataFrame, max_rows: int = 40) -> str:
    """The headline decisions as plain text (formatting only: verdicts come from scores/headline)."""
    header = f"{'model':<18} {'task':<16} {'metric':<14} {'axis':<8} {'verdict':<13} {'worst group':<16} {'gap':>7}  {'simult. 95% CI':<17} {'p adj':>6}"
    lines = ["claims (family-wise error controlled; scores/headline.csv):", header, "-" * len(header)]
    for _, row in claims.head(max_rows).iterrows():
        gap = "—" if pd.isna(row["gap"]) else f"{row['gap']:.3f}"
        ci = "" if pd.isna(row["ci_low"]) else f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
        p = "" if pd.isna(row["p_adjusted"]) else f"{row['p_adjusted']:.3f}"
        lines.append(f"{str(row['model'])[:18]:<18} {str(row['task'])[:16]:<16} {str(row['metric'])[:14]:<14} {str(row['axis'])[:8]:<8} "
                     f"{row['verdict']:<13} {str(row['worst_group'])[:16]:<16} {gap:>7}  {ci:<17} {p:>6}"
                     + _dominant_text(row))
    if len(claims) > max_rows:
        lines.append(f"... {len(claims) - max_rows} more rows in scores/headline.csv")
    return "\n".join(lines)
