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
from biasbench.scoring.schema import CALIBRATION, HEADLINE


def _with_ci(value: float | None, low: float | None, high: float | None, metric: str, *, points: bool = False) -> str:
    text = format_value(value, metric, points=points)
    ci = format_ci(low, high, metric, points=points)
    return f"{text} [{ci.replace(' to ', ', ')}]" if ci else text


def _opt(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if number != number else number


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
    claims = run.table(HEADLINE.name)
    if claims is not None and not claims.empty:
        lines += ["", "## Claims (family-wise error controlled)", "",
                  "Every verdict below controls its error rate over all axes and groups of its model × task × metric "
                  "(voice permutation max-t, Holm across axes, alpha 0.05); a group is named only when its test rejects.", "",
                  "| model | task | metric | direction | axis | verdict | worst group | gap [simultaneous 95% CI] | adjusted p | note |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for _, c in claims.iterrows():
            metric = str(c["metric"])
            gap = _with_ci(_opt(c["gap"]), _opt(c["ci_low"]), _opt(c["ci_high"]), metric, points=True) if _opt(c["gap"]) is not None else "–"
            p = "–" if _opt(c["p_adjusted"]) is None else f"{float(c['p_adjusted']):.3g}"
            lines.append(f"| {_escape(str(c['model']))} | {_escape(str(c['task']))} | {_escape(metric)} | {c['direction']} | {c['axis']} | "
                         f"**{c['verdict']}** | {_escape(label(str(c['worst_group']))) if str(c['worst_group']) not in ('', 'nan') else '–'} | "
                         f"{gap} | {p} | {_escape(str(c['note']) if str(c['note']) != 'nan' else '')} |")
    calibration = run.table(CALIBRATION.name)
    if calibration is not None and not calibration.empty:
        lines += ["", "## Calibration: planted vs recovered", "",
                  "| model | task | axis | group | planted (population) | recovered [95% CI] | covered |", "|---|---|---|---|---|---|---|"]
        for _, c in calibration.iterrows():
            lines.append(f"| {_escape(str(c['model']))} | {_escape(str(c['task']))} | {c['axis']} | {_escape(str(c['group']))} | "
                         f"{format_value(_opt(c['planted_population']), 'accuracy')} | "
                         f"{_with_ci(_opt(c['recovered']), _opt(c['ci_low']), _opt(c['ci_high']), 'accuracy')} | "
                         f"{'yes' if bool(c['covered']) else '**no**'} |")
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
