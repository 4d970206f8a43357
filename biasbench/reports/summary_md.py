"""summary.md: the headline table and its warnings, readable in a terminal or on GitHub."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from biasbench.core.errors import DataError
from biasbench.reports.formatting import format_ci, format_value
from biasbench.reports.headline import Headline
from biasbench.reports.plotting import label
from biasbench.reports.qualifiers import (
    Qualifier,
    calibration_notice,
    demonstration_notice,
)
from biasbench.reports.rundata import RunData
from biasbench.reports.sheet import Sheet


def _with_ci(value: float | None, low: float | None, high: float | None, metric: str, *, points: bool = False) -> str:
    text = format_value(value, metric, points=points)
    ci = format_ci(low, high, metric, points=points)
    return f"{text} [{ci.replace(' to ', ', ')}]" if ci else text


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_markdown(
    run: RunData, rows: Sequence[Headline], qualifiers: Sequence[Qualifier], sheets: Sequence[Sheet]
) -> str:
    """The text of summary.md."""
    lines = [f"# biasbench report: {run.run_id}", ""]
    pool = run.pool
    lines.append(
        f"Pool **{pool.get('name', '?')}** ({' × '.join(run.axes)}), purpose {pool.get('purpose', '?')}; "
        f"seed {run.info.seed}; git {run.git_sha[:10] or '?'}."
    )
    lines.append("")
    if run.info.status in ("incomplete", "failed", "interrupted") and run.info.missing_reason:
        lines += [f"> **Incomplete run — {run.info.missing_reason}.** Scores cover the answered rows only.", ""]
    if run.is_demonstration:
        lines += [f"> **{demonstration_notice(run)}**", ""]
    for model in run.calibration_models:
        lines += [f"> **{calibration_notice(model)}**", ""]
    if rows:
        lines.append(
            "| model | task | metric | overall [95% CI] | text control | worst group | max gap [95% CI] | verdict |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in rows:
            lines.append(
                f"| {_escape(r.model)} | {_escape(r.task)} | {r.metric} | "
                f"{_with_ci(r.overall, r.overall_ci_low, r.overall_ci_high, r.metric)} | "
                f"{format_value(r.text_control, r.metric)} | {_escape(label(r.worst_group)) or '–'} ({r.grouping}) | "
                f"{_with_ci(r.max_gap, r.max_gap_ci_low, r.max_gap_ci_high, r.metric, points=True)} | "
                f"{_escape(r.verdict)} |"
            )
    else:
        lines.append("_No scores yet: run `biasbench score DIR`, then `biasbench report DIR`._")
    messages = list(
        dict.fromkeys(
            (f"{q.model}/{q.task}: " if q.model or q.task else "") + q.message
            for q in qualifiers
            if q.code not in ("demonstration_pool", "calibration_model")
        )
    )
    if messages:
        lines += ["", "## Warnings", ""] + [f"- {_escape(m)}" for m in messages]
    lines += [
        "",
        f"Full tables: `report.xlsx` (sheets: {', '.join(s.name for s in sheets)}), `report/*.csv`, "
        "`plots/`. Metrics are explained in the Notes sheet.",
        "",
    ]
    return "\n".join(lines)


def write_summary_md(
    run: RunData, rows: Sequence[Headline], qualifiers: Sequence[Qualifier], sheets: Sequence[Sheet]
) -> Path:
    path = run.run_dir / "summary.md"
    try:
        path.write_text(summary_markdown(run, rows, qualifiers, sheets), encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
