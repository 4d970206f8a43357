"""The leaderboard's self-contained HTML page: sortable tables, embedded plots, per-model details, methodology."""

from __future__ import annotations

import base64
import html
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from biasbench.core.errors import DataError
from biasbench.reports.formatting import format_ci, format_value
from biasbench.reports.notes import SUMMARY_TERMS
from biasbench.reports.plotting import label, slug

if TYPE_CHECKING:
    from biasbench.reports.merged import MergedRuns

METHODOLOGY = (
    (
        "Voices",
        "Every item is spoken, word for word, by every voice of a demographically balanced pool of synthetic "
        "voices; only the voice changes. Each voice is one sample of its group.",
    ),
    (
        "Uncertainty",
        "95% confidence intervals come from a bootstrap that resamples items and voices together, so a "
        "gap driven by one unusual voice is not mistaken for a group difference.",
    ),
    (
        "Ranks",
        "Ranks are within each task. 'Worst-group rank' orders models by the score of their worst group "
        "(higher accuracy / lower WER is better); 'gap rank' orders them by the largest difference between "
        "groups (smaller is fairer). A model's rank is 1 + the number of models clearly better than it (whole "
        "95% CI on the better side of its whole CI), so models whose CIs overlap share a rank (marked '=').",
    ),
    (
        "Invalid answers",
        "Unparseable answers are never replaced by a guess; they count as not correct and their "
        "rate is compared across groups.",
    ),
    (
        "Text control",
        "The same items sent as text separate 'did not understand the audio' from 'treated the speaker differently'.",
    ),
    (
        "Voice audit",
        "Loudness, pitch, speaking rate and ASR round-trip WER of each voice are audited; a gap caused by "
        "an unintelligible synthetic voice is a TTS artifact, not model bias.",
    ),
    (
        "Merging",
        "Runs are merged only when every task has the same spec version and all runs used the same voice "
        "pool; otherwise the leaderboard is refused.",
    ),
)


def _e(value: Any) -> str:
    return html.escape("" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value))


def _num_cell(value: Any, text: str, low: Any = None, high: Any = None, metric: str = "", points: bool = False) -> str:
    data = "" if value is None or pd.isna(value) else f"{float(value):.10g}"
    ci = ""
    if low is not None and high is not None and not pd.isna(low) and not pd.isna(high):
        ci = f' <span class="ci">[{format_ci(low, high, metric, points=points).replace(" to ", ", ")}]</span>'
    return f'<td class="num" data-value="{data}">{_e(text)}{ci}</td>'


def _data_uri(path: Path) -> str:
    try:
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        raise DataError(f"cannot read plot {path}: {exc.strerror or exc}") from None
    return f"data:image/png;base64,{encoded}"


def _figure(path: Path | None, caption: str) -> str:
    if path is None:
        return ""
    return f'<figure><img src="{_data_uri(path)}" alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption></figure>'


HEADERS = (
    ("model", "model", "text"),
    ("rank_worst_group", "worst-group rank", "number"),
    ("rank_max_gap", "gap rank", "number"),
    ("overall", "overall [95% CI]", "number"),
    ("worst_group", "worst group", "text"),
    ("worst_value", "worst-group score", "number"),
    ("max_gap", "max gap [95% CI]", "number"),
    ("flip_excess", "flip excess", "number"),
    ("test_p_value", "test p", "number"),
    ("invalid_rate", "invalid", "number"),
    ("n_voices", "voices", "number"),
    ("verdict", "verdict", "text"),
    ("run", "run", "text"),
)


def _rank_cell(rank: Any, ranks: pd.Series) -> str:
    """The rank, marked '=' with a tooltip when other models share it (overlapping CIs)."""
    if rank is None or pd.isna(rank):
        return _num_cell(rank, format_value(rank, kind="int"))
    others = int((ranks == rank).sum()) - 1
    if others <= 0:
        return _num_cell(rank, format_value(rank, kind="int"))
    tip = f"shared with {others} other model(s): their 95% CIs overlap"
    return f'<td class="num tie" data-value="{int(rank)}" title="{_e(tip)}">={int(rank)}</td>'


def _board_row(row: pd.Series, rows: pd.DataFrame | None = None, colours: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> str:
    m = str(row.metric)
    rows = rows if rows is not None else row.to_frame().T
    swatch = f'<span class="swatch" style="background:{_e((colours or {}).get(str(row.model), "#999"))}"></span>'
    cells = [
        f'<td class="model" data-value="{_e(row.model)}">{swatch}<a href="#{_e(slug("model", row.model, row.task))}">'
        f"{_e(row.model)}</a></td>",
        _rank_cell(row.rank_worst_group, rows.rank_worst_group),
        _rank_cell(row.rank_max_gap, rows.rank_max_gap),
        _num_cell(row.overall, format_value(row.overall, m), row.overall_ci_low, row.overall_ci_high, m),
        f"<td>{_e(label(row.worst_group))}</td>",
        _num_cell(row.worst_value, format_value(row.worst_value, m)),
        _num_cell(
            row.max_gap, format_value(row.max_gap, m, points=True), row.max_gap_ci_low, row.max_gap_ci_high, m, True
        ),
        _num_cell(row.flip_excess, format_value(row.flip_excess, points=True, kind="percent")),
        _num_cell(row.test_p_value, format_value(row.test_p_value, kind="pvalue")),
        _num_cell(row.invalid_rate, format_value(row.invalid_rate, kind="percent")),
        _num_cell(row.n_voices, format_value(row.n_voices, kind="int")),
        f'<td title="{_e(row.verdict)}">{_e(str(row.verdict).split(":")[0])}</td>',
        f'<td><a href="{_e(Path(row.manifest).as_posix())}">{_e((labels or {}).get(str(row.run), row.run))}</a></td>',
    ]
    css = "calibration" if row.calibration else ""
    search = " ".join(str(v) for v in (row.model, row.run, (labels or {}).get(str(row.run), ""), row.verdict)).lower()
    return f'<tr class="{css}" data-model="{_e(row.model)}" data-search="{_e(search)}">' + "".join(cells) + "</tr>"


def run_labels(merged: "MergedRuns") -> dict[str, str]:
    """Run id -> label: the config's name beside the directory name when they differ ('quickstart · run-3')."""
    labels = {}
    for run in merged.runs:
        name = str(run.info.config.get("name") or "")
        labels[run.run_id] = f"{name} · {run.run_id}" if name and name != run.run_id else run.run_id
    return labels


def _board(task: str, rows: pd.DataFrame, scatter: Path | None, colours: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> str:
    metric = str(rows.metric.iloc[0])
    head = "".join(
        f'<th class="{"num" if kind == "number" else ""}" data-type="{kind}" data-key="{key}">{_e(title)}</th>'
        for key, title, kind in HEADERS
    )
    body = "".join(_board_row(row, rows, colours, labels) for _, row in rows.iterrows())
    version = _e(rows.task_version.iloc[0])
    grouping = _e(rows.grouping.iloc[0])
    return (
        f'<section class="task" id="{_e(slug("task", task))}"><h2>Task {_e(task)} '
        f"<small>(version {version}; metric {_e(metric)}; gaps across {grouping} groups)</small></h2>"
        f'<div class="scroll"><table class="board" id="{_e(slug("board", task))}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
        + _figure(scatter, f"{task}: overall {metric} vs the largest group gap, one point per model (95% CIs)")
        + "</section>"
    )


def row_warnings(merged: "MergedRuns", row: pd.Series) -> list[str]:
    """Every warning that applies to this model × task, each whole (a ';' inside a warning stays in it)."""
    found = [
        q.message
        for run_id, q in merged.qualifiers
        if run_id == row.run and q.applies_to(str(row.model), str(row.task)) and q.code not in ("demonstration_pool", "calibration_model")
    ]
    return list(dict.fromkeys(found))


def _details(row: pd.Series, groups: pd.DataFrame, bars: Path | None, warning_list: Sequence[str] | None = None, labels: dict[str, str] | None = None) -> str:
    m = str(row.metric)
    part = groups[(groups.model == row.model) & (groups.task == row.task)] if not groups.empty else groups
    lines = "".join(
        f"<tr><td>{_e(label(g.group))}</td><td class='num'>{format_value(g.value, m)} "
        f"<span class='ci'>[{format_ci(g.ci_low, g.ci_high, m).replace(' to ', ', ')}]</span></td>"
        f"<td class='num'>{_e(g.n_voices)}</td><td class='num'>{_e(g.n_items)}</td></tr>"
        for g in part.itertuples()
    )
    table = (
        f"<div class='scroll'><table><thead><tr><th>{_e(row.grouping)} group</th><th class='num'>{_e(m)} [95% CI]</th>"
        f"<th class='num'>voices</th><th class='num'>items</th></tr></thead><tbody>{lines}</tbody></table></div>"
        if lines
        else "<p>No group metrics.</p>"
    )
    if warning_list is None:
        warning_list = [w for w in str(row.warnings or "").split("; ") if w]
    warnings = "".join(f"<li>{_e(w)}</li>" for w in warning_list)
    notice = f'<div class="notice">{_e(row.notice)}</div>' if row.get("notice") else ""
    return (
        f'<details id="{_e(slug("model", row.model, row.task))}" class="model-details">'
        f"<summary>{_e(row.model)} · {_e(row.task)}</summary>{notice}"
        f"<p><b>Verdict:</b> {_e(row.verdict)}</p>"
        f"<p>Overall {_e(m)} {format_value(row.overall, m)}; text control {format_value(row.text_control, m)}; "
        f'test: {_e(row.test) or "–"}; items {_e(row.n_items)}; run <a href="{_e(Path(row.manifest).as_posix())}">'
        f"{_e((labels or {}).get(str(row.run), row.run))} manifest</a>.</p>{table}"
        + _figure(bars, f"{row.model} · {row.task}: {m} per group (95% CIs)")
        + (f"<ul class='warnings'>{warnings}</ul>" if warnings else "")
        + "</details>"
    )


def page_html(merged: "MergedRuns", plots: Sequence[Path], *, title: str) -> str:
    """The page's HTML text (plots embedded as data URIs)."""
    from biasbench import __version__

    from biasbench.reports.leaderboard_plots import model_colours

    png = {p.stem: p for p in plots if p.suffix == ".png"}
    table = merged.table
    colours = model_colours(table.model)
    labels = run_labels(merged)
    table = table.copy()
    notices = sorted({q.message for _, q in merged.qualifiers if q.code in ("demonstration_pool", "calibration_model")})
    sections = "".join(
        _board(task, rows, png.get(slug("scatter", task)), colours, labels) for task, rows in table.groupby("task", sort=True)
    )
    details = "".join(
        _details(row, merged.groups, png.get(slug("groups", row.model, row.task)), row_warnings(merged, row), labels)
        for _, row in table.iterrows()
    )
    messages = sorted({(run_id, q.message) for run_id, q in merged.qualifiers if q.message not in notices})
    warnings = (
        "<ul class='warnings'>" + "".join(f"<li><b>{_e(r)}</b>: {_e(m)}</li>" for r, m in messages) + "</ul>"
        if messages
        else "<p>None.</p>"
    )
    terms = list(METHODOLOGY) + [
        (k, v) for k, v in SUMMARY_TERMS.items() if k in ("max_gap", "flip_excess", "test_p_value", "verdict")
    ]
    methodology = "<dl class='method'>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in terms) + "</dl>"
    pools = sorted({f"{r.pool.get('name', '?')} ({' × '.join(r.axes)})" for r in merged.runs})
    subtitle = (
        f"{table.model.nunique()} model(s), {table.task.nunique()} task(s), voice pool {', '.join(pools)}. "
        "Click a column header to sort; type in the filter box to narrow the rows."
    )
    template = Template(resources.files("biasbench.reports").joinpath("templates/leaderboard.html").read_text("utf-8"))
    return template.substitute(
        title=_e(title),
        subtitle=_e(subtitle),
        version=_e(__version__),
        n_runs=len(merged.runs),
        notices="".join(f'<div class="notice">{_e(n)}</div>' for n in notices),
        sections=sections,
        details=details,
        warnings=warnings,
        methodology=methodology,
    )


def write_page(merged: "MergedRuns", plots: Sequence[Path], path: Path, *, title: str) -> Path:
    try:
        path.write_text(page_html(merged, plots, title=title), encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
