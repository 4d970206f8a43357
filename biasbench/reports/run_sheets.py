"""The built-in sheets of report.xlsx, each a function ``RunData -> Sheet`` (see reports.catalog)."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any, Iterable, Mapping

import pandas as pd

from biasbench.core.rundir import Manifest
from biasbench.reports.headline import Headline, headline_formats, headlines
from biasbench.reports.qualifiers import notice
from biasbench.reports.rundata import RunData
from biasbench.reports.sheet import BY_METRIC, VALUE_CI_FORMATS, Sheet

_NO_SCORES = "run `biasbench score {dir}` first (no scores/{table} table in this run directory)"


def _missing(run: RunData, table: str) -> str:
    return _NO_SCORES.format(dir=run.run_dir, table=table)


def _with_notice(run: RunData, frame: pd.DataFrame) -> pd.DataFrame:
    """Prepend a 'notice' column when the pool is a demonstration pool or a model is a calibration instrument."""
    if frame.empty or "model" not in frame.columns:
        return frame
    labels = frame["model"].map(lambda model: notice(run, str(model), short=True))
    if not labels.astype(bool).any():
        return frame
    return pd.concat([labels.rename("notice"), frame], axis=1)


def _rows(frame: pd.DataFrame | None, column: str, values: Iterable[str]) -> pd.DataFrame | None:
    if frame is None:
        return None
    return frame[frame[column].isin(list(values))].reset_index(drop=True)


def _scored_sheet(
    run: RunData,
    name: str,
    table: str,
    frame: pd.DataFrame | None,
    description: str,
    empty: str,
    order: int,
    **kwargs: Any,
) -> Sheet:
    if frame is None:
        return Sheet.empty(name, _missing(run, table), description=description, order=order)
    if frame.empty:
        return Sheet.empty(name, empty, description=description, order=order)
    frame = _with_notice(run, frame.reset_index(drop=True))
    formats = {c: k for c, k in {**VALUE_CI_FORMATS, **kwargs.pop("formats", {})}.items() if c in frame.columns}
    return Sheet(
        name,
        frame,
        description=description,
        formats=formats,
        notice_columns=("notice",) if "notice" in frame.columns else (),
        order=order,
        **kwargs,
    )


def summary_sheet(run: RunData) -> Sheet:
    """Summary: one row per model × task with the headline numbers, verdict and warnings."""
    rows, _ = headlines(run)
    description = (
        "one row per model × task (audio), formatted from scores/headline: overall score, the clearest family-wise claim "
        "(worst group named only when its adjusted test rejects), gap with its simultaneous 95% CI, "
        "answer-flip excess, test p-value, invalid rate and a verdict"
    )
    if not rows:
        reason = _missing(run, "summary") if run.table("summary") is None else "the summary has no overall audio rows"
        return Sheet.empty("Summary", reason, description=description, order=10)
    frame = pd.DataFrame([asdict(r) for r in rows], columns=[f.name for f in fields(Headline)])
    if not frame["notice"].astype(bool).any():
        frame = frame.drop(columns="notice")
    formats = headline_formats(frame)
    notices = tuple(c for c in ("notice", "warnings") if c in frame.columns)
    return Sheet(
        "Summary",
        frame,
        description=description,
        formats=formats,
        gap_columns=("max_gap",),
        notice_columns=notices,
        order=10,
    )


def warnings_sheet(run: RunData) -> Sheet:
    """Every warning that qualifies a number, with the model × task it concerns."""
    _, found = headlines(run)
    description = "every caveat that qualifies a number: model/task empty = the whole run"
    if not found:
        return Sheet.empty(
            "Warnings", "no warnings: nothing found that qualifies the numbers", description=description, order=20
        )
    frame = pd.DataFrame([asdict(q) for q in found])[["model", "task", "code", "message"]].drop_duplicates()
    return Sheet("Warnings", frame.reset_index(drop=True), description=description, order=20)


def by_group_sheet(run: RunData) -> Sheet:
    """ByGroup: every metric per group on each pool axis, overall and for the text control."""
    metrics = run.table("group_metrics")
    groupings = ("overall", *run.axes, "text")
    return _scored_sheet(
        run,
        "ByGroup",
        "group_metrics",
        _rows(metrics, "grouping", groupings),
        "every metric per group of each pool axis (plus overall and the text control), with 95% CIs",
        "no group metrics were computed",
        30,
    )


def by_cell_sheet(run: RunData) -> Sheet:
    """ByCell: the headline metric as a matrix, first pool axis down, the other axes across."""
    description = (
        "headline metric per intersectional cell: rows = first pool axis, columns = the other axes "
        "(one block per model × task × modality)"
    )
    metrics = run.table("group_metrics")
    if metrics is None:
        return Sheet.empty("ByCell", _missing(run, "group_metrics"), description=description, order=40)
    summary = run.table("summary")
    headline_metric = {}
    if summary is not None:
        for row in summary[summary.grouping == "overall"].itertuples(index=False):
            headline_metric[(row.model, row.task)] = row.metric
    cells = metrics[metrics.grouping == "cell"]
    cells = cells[
        [
            headline_metric.get((m, t), "accuracy") == metric
            for m, t, metric in zip(cells.model, cells.task, cells.metric)
        ]
    ]
    if cells.empty or not run.axes:
        return Sheet.empty(
            "ByCell",
            "no intersectional cell metrics (grouping 'cell') in group_metrics",
            description=description,
            order=40,
        )
    down = run.axes[0]
    across = " × ".join(run.axes[1:]) or "value"
    parts = cells["group"].astype(str).str.split("|", n=1, expand=True)
    cells = cells.assign(**{down: parts[0], "_across": parts[1] if parts.shape[1] > 1 else "value"})
    matrix = cells.pivot_table(
        index=["model", "task", "modality", "metric", down],
        columns="_across",
        values="value",
        aggfunc="first",
        sort=True,
    ).reset_index()
    matrix.columns.name = None
    value_columns = [c for c in matrix.columns if c not in ("model", "task", "modality", "metric", down)]
    if matrix.empty or not value_columns:
        return Sheet.empty(
            "ByCell",
            "no cell has a value: every row of every cell is an error or invalid (see the headline's not_estimable rows)",
            description=description,
            order=40,
        )
    matrix = _with_cell_cis(matrix, cells, down, value_columns)
    matrix = _with_notice(run, matrix)
    formats = {c: BY_METRIC for c in value_columns}
    return Sheet(
        "ByCell",
        matrix,
        description=description + f"; across = {across}",
        formats=formats,
        notice_columns=("notice",) if "notice" in matrix.columns else (),
        order=40,
    )


def _with_cell_cis(matrix: pd.DataFrame, cells: pd.DataFrame, down: str, value_columns: list[str]) -> pd.DataFrame:
    """A '<value> 95% CI' text column after each value column of the ByCell matrix ('62.4% to 93.8%')."""
    from biasbench.reports.formatting import format_ci

    keys = ["model", "task", "modality", "metric", down]
    lookup = {
        (*(row[k] for k in keys), row["_across"]): format_ci(row["ci_low"], row["ci_high"], str(row["metric"]))
        for row in cells.to_dict("records")
    }
    ordered = [c for c in matrix.columns if c not in value_columns]
    out = matrix[ordered].copy()
    for column in value_columns:
        out[column] = matrix[column]
        out[f"{column} 95% CI"] = [lookup.get((*(row[k] for k in keys), column), "") for row in matrix.to_dict("records")]
    return out


def by_voice_sheet(run: RunData) -> Sheet:
    return _scored_sheet(
        run,
        "ByVoice",
        "group_metrics",
        _rows(run.table("group_metrics"), "grouping", ["voice"]),
        "every metric per voice (CI over items only): spots a single voice driving a group",
        "no per-voice metrics were computed",
        50,
    )


DIFFERENCE_KINDS = ("max_minus_min", "vs_rest", "pair")
"""Gap kinds that are differences (coloured on a scale centred at 0); the others are ratios and worst values."""


def _gap_kinds(run: RunData, difference: bool) -> pd.DataFrame | None:
    gaps = run.table("gaps")
    if gaps is None:
        return None
    mask = gaps.kind.isin(DIFFERENCE_KINDS)
    return gaps[mask if difference else ~mask]


def gaps_sheet(run: RunData) -> Sheet:
    return _scored_sheet(
        run,
        "Gaps",
        "gaps",
        _gap_kinds(run, difference=True),
        "differences between groups (largest − smallest, group − all other voices, group − group) "
        "with 95% CIs; coloured from blue (below) through white (0) to vermillion (above)",
        "no gaps were computed (a single group?)",
        60,
        gap_columns=("value",),
        formats={"p_boot": "pvalue"},
    )


def ratios_sheet(run: RunData) -> Sheet:
    return _scored_sheet(
        run,
        "Ratios",
        "gaps",
        _gap_kinds(run, difference=False),
        "smallest ÷ largest group value (1 = parity) and the worst group's own value, with 95% CIs",
        "no ratios or worst-group values were computed",
        65,
        formats={"p_boot": "pvalue"},
    )


def flips_sheet(run: RunData) -> Sheet:
    return _scored_sheet(
        run,
        "Flips",
        "flips",
        run.table("flips"),
        "answer flips between voices on the same item: within a group (noise floor), across groups, "
        "and the excess (the bias signal)",
        "no flips were computed (needs two or more voices answering the same item)",
        70,
        formats={"value": "percent", "ci_low": "percent", "ci_high": "percent"},
        gap_columns=("value",),
    )


def tests_sheet(run: RunData) -> Sheet:
    return _scored_sheet(
        run,
        "Tests",
        "significance",
        run.table("significance"),
        "single tests of 'no difference between groups' (permutation, Cochran's Q), each at its own level; "
        "the family-wise claims are in scores/headline (Summary)",
        "no significance tests were run",
        80,
        formats={"statistic": "decimal", "estimate": "decimal", "p_value": "pvalue", "df": "decimal"},
    )


def text_control_sheet(run: RunData) -> Sheet:
    return _scored_sheet(
        run,
        "TextControl",
        "text_control",
        run.table("text_control"),
        "audio vs the text-only control per group: a gap here that the text control lacks comes from hearing the voice",
        "the run had no text-control modality",
        90,
        formats={"audio_value": BY_METRIC, "text_value": BY_METRIC, "gap": BY_METRIC},
        gap_columns=("gap",),
    )


def per_subject_sheet(run: RunData) -> Sheet:
    return _scored_sheet(
        run,
        "PerSubject",
        "group_metrics",
        _rows(run.table("group_metrics"), "grouping", ["item_group"]),
        "every metric per item stratum (MMLU subject, BBQ category)",
        "no item strata (MMLU subjects, BBQ categories) in this run",
        100,
    )


def stereotype_sheet(run: RunData) -> Sheet:
    """Task-specific bias scores (BBQ, StereoSet, dream job, voice-only ambiguous) from group_metrics."""
    from biasbench.scoring.schema import METRICS

    metrics = run.table("group_metrics")
    frame = None if metrics is None else metrics[~metrics.metric.isin(list(METRICS))]
    return _scored_sheet(
        run,
        "Stereotype",
        "group_metrics",
        frame,
        "task-specific bias scores (BBQ, StereoSet, dream job, voice-only ambiguous) per group",
        "no stereotype tasks (BBQ, StereoSet, dream job, voice-only ambiguous) in this run",
        110,
        formats={"value": "decimal", "ci_low": "decimal", "ci_high": "decimal"},
    )


def voice_audit_sheet(run: RunData) -> Sheet:
    description = "voice audit per voice (loudness, pitch, speaking rate, ASR round-trip WER)"
    table = run.audit.get("voice_audit_voices")
    if table is None:
        table = run.audit.get("voice_audit")
    if table is None:
        return Sheet.empty(
            "VoiceAudit",
            "the voice audit did not run (set audit.enabled: true in the config, or run `biasbench voices audit`)",
            description=description,
            order=120,
        )
    if table.empty:
        return Sheet.empty("VoiceAudit", "the voice audit wrote no rows", description=description, order=120)
    return Sheet("VoiceAudit", table.reset_index(drop=True), description=description, order=120)


def voice_audit_cells_sheet(run: RunData) -> Sheet:
    description = "voice audit per cell, with the parity checks between cells"
    table = run.audit.get("voice_audit_cells")
    if table is None or table.empty:
        return Sheet.empty("VoiceAuditCells", "no per-cell voice audit in this run", description=description, order=125)
    return Sheet("VoiceAuditCells", table.reset_index(drop=True), description=description, order=125)


def exclusions_sheet(run: RunData) -> Sheet:
    description = "items left out of the run and why (reported, never silent)"
    if run.exclusions is None:
        return Sheet.empty("Exclusions", "the run wrote no exclusions.csv", description=description, order=130)
    if run.exclusions.empty:
        return Sheet.empty("Exclusions", "no items were excluded", description=description, order=130)
    return Sheet(
        "Exclusions",
        run.exclusions.reset_index(drop=True),
        description=description,
        formats={c: "text" for c in run.exclusions.columns},
        order=130,
    )


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def manifest_rows(manifest: Manifest) -> list[tuple[str, str]]:
    """The typed manifest flattened to (key, value) lines a person can read; unknown keys are kept as JSON."""
    out: list[tuple[str, str]] = [("git_sha", manifest.git_sha)]
    if manifest.git.get("dirty"):
        out.append(("git_dirty", "True: the working tree had uncommitted changes; the sha alone does not reproduce it"))
    out += [(f"pool.{key}", _plain(manifest.pool.get(key, ""))) for key in ("name", "purpose", "axes", "description", "source")]
    out.append(("pool.voices", str(len(manifest.pool.get("voices") or ()))))
    out.append(("voices_used", ", ".join(manifest.voices_used)))
    for task in manifest.tasks:
        detail = (f"version {task.version}, kind {task.kind}, answer_type {task.answer_type}, parser_version "
                  f"{task.parser_version}, n_items {task.n_items}, n_excluded {task.n_excluded}")
        out.append((f"task.{task.name}", detail))
    for model in manifest.models:
        out.append((f"model.{model.name}", f"adapter {model.adapter}, fingerprint {model.fingerprint}"
                    + (" (calibration instrument)" if model.calibration else "")))
    out += [(f"package.{name}", str(version)) for name, version in sorted(manifest.packages.items())]
    out.append(("invocations", str(len(manifest.invocations))))
    shown = {"git", "pool", "voices_used", "tasks", "models", "packages", "invocations", "config", "output_config"}
    out += [(key, _plain(value)) for key, value in manifest.to_json().items() if key not in shown]
    out.append(("config", _plain(manifest.config)))
    return out


def manifest_sheet(run: RunData) -> Sheet:
    frame = pd.DataFrame(manifest_rows(run.info), columns=["key", "value"])
    return Sheet(
        "Manifest",
        frame,
        description="what ran: config, seed, pool, tasks, models, versions, platform",
        formats={"key": "text", "value": "text"},
        order=980,
    )


def equivalence_sheet(run: RunData) -> Sheet:
    return _scored_sheet(
        run,
        "Equivalence",
        "equivalence",
        run.table("equivalence"),
        "TOST equivalence: is each group within ±delta of the rest (passes = a fairness certificate at this margin)",
        "no equivalence tests were run",
        92,
        formats={
            "delta": BY_METRIC,
            "difference": BY_METRIC,
            "ci90_low": BY_METRIC,
            "ci90_high": BY_METRIC,
            "p_value": "pvalue",
        },
    )


def power_sheet(run: RunData) -> Sheet:
    return _scored_sheet(
        run,
        "Power",
        "power",
        run.table("power"),
        "smallest gap between two groups this pool and item set detect with 80% power (smaller true gaps are missed)",
        "no power analysis was run",
        94,
        formats={"se": BY_METRIC, "mde": BY_METRIC},
    )


def position_bias_sheet(run: RunData) -> Sheet:
    return _scored_sheet(
        run,
        "PositionBias",
        "position_bias",
        run.table("position_bias"),
        "option-position effects: accuracy by where the correct option was presented, and answer share per position",
        "no option-position analysis (no multiple-choice rotations)",
        96,
        formats={"value": "percent", "expected": "percent", "position": "int"},
    )


def scoring_sheet(run: RunData) -> Sheet:
    table = run.table("scoring")
    description = "how the score tables were made (scorer version, seed, bootstrap replicates, methods)"
    if table is None or table.empty:
        return Sheet.empty("Scoring", _missing(run, "scoring"), description=description, order=985)
    return Sheet(
        "Scoring", table.astype(str), description=description, formats={c: "text" for c in table.columns}, order=985
    )
