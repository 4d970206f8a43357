"""Before/after outputs: CSV/Parquet tables, plots, and the "Debias" sheet of report.xlsx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from biasbench.reports.sheet import Sheet

GAPS_TABLE, CAPABILITY_TABLE, RATES_TABLE, VERDICTS_TABLE = "before_after_gaps", "capability", "answer_rates", "headline_verdicts"
EXPERIMENT_FILE = "experiment.json"
SHEET_NAME = "Debias"


def build_debias_sheet(gaps: pd.DataFrame, capability: pd.DataFrame, training: dict[str, Any], rates: pd.DataFrame | None = None) -> Sheet:
    """One table: gap rows (per grouping), capability rows (overall metric), with CIs, then the invalid /
    refusal rates of every model (a model that refuses everything must not look debiased)."""
    gap_rows = gaps.assign(kind="gap", before=gaps["gap_before"], after=gaps["gap_after"],
                           before_ci_low=gaps["gap_before_ci_low"], before_ci_high=gaps["gap_before_ci_high"],
                           after_ci_low=gaps["gap_after_ci_low"], after_ci_high=gaps["gap_after_ci_high"], retained=None)
    cap_rows = capability.assign(kind="capability", grouping="overall")
    columns = ["kind", "condition", "task", "modality", "grouping", "metric", "before_model", "after_model", "before",
               "before_ci_low", "before_ci_high", "after", "after_ci_low", "after_ci_high", "change", "change_ci_low",
               "change_ci_high", "retained", "verdict_before", "verdict_after", "invalid_rate", "refusal_rate",
               "n_items", "n_voices", "status"]
    parts = [gap_rows.reindex(columns=columns), cap_rows.reindex(columns=columns)]
    if rates is not None and not rates.empty:
        parts.append(rates.assign(kind="answer_rates", after_model=rates["model"], grouping="overall", metric="invalid/refusal").reindex(columns=columns))
    table = pd.concat(parts, ignore_index=True)
    voices = ", ".join(training.get("train_voices", []))
    return Sheet(
        name=SHEET_NAME,
        table=table,
        description=(
            "Before/after on held-out eval voices: 'gap' rows give the largest-minus-smallest group difference of the "
            "headline metric per grouping; 'capability' rows give the overall metric (text modality = the text control); "
            "'answer_rates' rows give each model's invalid and refusal shares. verdict_* come from the scorer's headline "
            "table when the runs have one. "
            f"change = after − before with a paired 95% CI (cluster bootstrap over items and voices). Trained on voices: {voices}."
        ),
        empty_reason="no comparable rows (the runs produced no audio rows for both models)",
        formats={"before": "decimal", "after": "decimal", "change": "decimal", "before_ci_low": "decimal",
                 "before_ci_high": "decimal", "after_ci_low": "decimal", "after_ci_high": "decimal",
                 "change_ci_low": "decimal", "change_ci_high": "decimal", "retained": "decimal",
                 "invalid_rate": "percent", "refusal_rate": "percent"},
        gap_columns=("change",),
        order=150,
    )


def write_debias_outputs(
    output: Path, run_dir: Path, gaps: pd.DataFrame, capability: pd.DataFrame, training: dict[str, Any], config: Any,
    *, rates: pd.DataFrame | None = None, verdicts: pd.DataFrame | None = None,
) -> tuple[Path, tuple[Path, ...]]:
    """Write the tables (``output/debias``), the plots (``output/plots``) and ``run_dir/report.xlsx``."""
    from biasbench.reports.run_report import write_run_report
    from biasbench.scoring.tables import write_table

    from biasbench.reports.extra import sheet_providers

    folder = output / "debias"
    write_table(folder, GAPS_TABLE, gaps)
    write_table(folder, CAPABILITY_TABLE, capability)
    if rates is not None:
        write_table(folder, RATES_TABLE, rates)
    if verdicts is not None and not verdicts.empty:
        write_table(folder, VERDICTS_TABLE, verdicts)
    info = {**training, "config": config.model_dump(mode="json")}
    (folder / EXPERIMENT_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
    plots = write_plots(output / "plots", gaps, capability) + (write_method_plot(output / "plots", gaps),)
    registered = SHEET_NAME in sheet_providers.names()  # an entry point already adds the sheet
    extra = [] if registered else [build_debias_sheet(gaps, capability, training, rates)]
    paths = write_run_report(run_dir, extra_sheets=extra, plots=config.report_plots)
    return paths.workbook, plots


def debias_sheet(run: Any) -> Sheet | None:
    """Report-sheet provider (entry point ``biasbench.report_sheets``: ``Debias``): the Debias sheet of a
    `debias run` experiment's finetune run, so `biasbench report DIR` keeps it; None for other runs."""
    folder = Path(run.run_dir).parent / "debias"
    if not (folder / f"{GAPS_TABLE}.parquet").is_file():
        return None
    info = json.loads((folder / EXPERIMENT_FILE).read_text(encoding="utf-8")) if (folder / EXPERIMENT_FILE).is_file() else {}
    rates = pd.read_parquet(folder / f"{RATES_TABLE}.parquet") if (folder / f"{RATES_TABLE}.parquet").is_file() else None
    return build_debias_sheet(pd.read_parquet(folder / f"{GAPS_TABLE}.parquet"), pd.read_parquet(folder / f"{CAPABILITY_TABLE}.parquet"), info, rates)


def write_plots(folder: Path, gaps: pd.DataFrame, capability: pd.DataFrame) -> tuple[Path, ...]:
    """Gap before vs after per grouping, and capability before vs after, with 95% CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table, value, labels in (
        ("debias_gaps.png", gaps, "gap", ["condition", "task", "grouping"]),
        ("debias_capability.png", capability, "", ["condition", "task", "modality"]),
    ):
        before, after = (f"{value}_before", f"{value}_after") if value else ("before", "after")
        rows = table.dropna(subset=[before, after]) if not table.empty else table
        fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * max(1, len(rows))), 3.6))
        if rows.empty:
            ax.text(0.5, 0.5, "no comparable rows", ha="center", va="center")
            ax.set_axis_off()
        else:
            x = range(len(rows))
            for offset, column, colour in ((-0.2, before, "#888888"), (0.2, after, "#1f77b4")):
                values = rows[column].astype(float)
                low = (values - rows[f"{column}_ci_low"].astype(float)).clip(lower=0).fillna(0)
                high = (rows[f"{column}_ci_high"].astype(float) - values).clip(lower=0).fillna(0)
                ax.bar([i + offset for i in x], values, width=0.4, color=colour, label=column.replace("_", " "),
                       yerr=[low, high], capsize=3)
            ax.set_xticks(list(x))
            ax.set_xticklabels([" / ".join(str(r[c]) for c in labels) for _, r in rows.iterrows()], rotation=30, ha="right", fontsize=7)
            ax.set_ylabel(f"{rows['metric'].iloc[0]} {'gap' if value else ''}".strip())
            ax.axhline(0, color="black", linewidth=0.6)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = folder / name
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return tuple(written)


def write_method_plot(folder: Path, gaps: pd.DataFrame) -> Path:
    """The methods side by side: change of the gap (after − before, paired 95% CI) per condition, one panel
    group per task × modality × grouping; below zero = the gap shrank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    rows = gaps.dropna(subset=["change"]) if not gaps.empty else gaps
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * max(1, len(rows)) + 2), 3.6))
    if rows.empty:
        ax.text(0.5, 0.5, "no comparable rows", ha="center", va="center")
        ax.set_axis_off()
    else:
        conditions = list(dict.fromkeys(rows["condition"]))
        keys = list(dict.fromkeys(zip(rows["task"], rows["modality"], rows["grouping"])))
        width = 0.8 / len(conditions)
        for c, condition in enumerate(conditions):
            part = rows[rows["condition"] == condition].set_index(["task", "modality", "grouping"])
            xs, values, low, high = [], [], [], []
            for k, key in enumerate(keys):
                if key not in part.index:
                    continue
                row = part.loc[key]
                row = row.iloc[0] if isinstance(row, pd.DataFrame) else row
                value = float(row["change"])
                xs.append(k - 0.4 + width * (c + 0.5))
                values.append(value)
                low.append(max(0.0, value - float(row["change_ci_low"])) if pd.notna(row["change_ci_low"]) else 0.0)
                high.append(max(0.0, float(row["change_ci_high"]) - value) if pd.notna(row["change_ci_high"]) else 0.0)
            ax.bar(xs, values, width=width, yerr=[low, high], capsize=2, label=condition)
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([" / ".join(map(str, key)) for key in keys], rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(f"change of {rows['metric'].iloc[0]} gap")
        ax.axhline(0, color="black", linewidth=0.6)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = folder / "debias_methods.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
