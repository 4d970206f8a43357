"""Before/after outputs: CSV/Parquet tables, plots, and the "Debias" sheet of report.xlsx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from biasbench.reports.sheet import Sheet

GAPS_TABLE, CAPABILITY_TABLE = "before_after_gaps", "capability"
EXPERIMENT_FILE = "experiment.json"
SHEET_NAME = "Debias"


def build_debias_sheet(gaps: pd.DataFrame, capability: pd.DataFrame, training: dict[str, Any]) -> Sheet:
    """One table: gap rows (per grouping) then capability rows (overall metric), with CIs."""
    gap_rows = gaps.assign(kind="gap", before=gaps["gap_before"], after=gaps["gap_after"],
                           before_ci_low=gaps["gap_before_ci_low"], before_ci_high=gaps["gap_before_ci_high"],
                           after_ci_low=gaps["gap_after_ci_low"], after_ci_high=gaps["gap_after_ci_high"], retained=None)
    cap_rows = capability.assign(kind="capability", grouping="overall")
    columns = ["kind", "condition", "task", "modality", "grouping", "metric", "before_model", "after_model", "before",
               "before_ci_low", "before_ci_high", "after", "after_ci_low", "after_ci_high", "change", "change_ci_low",
               "change_ci_high", "retained", "n_items", "n_voices", "status"]
    table = pd.concat([gap_rows.reindex(columns=columns), cap_rows.reindex(columns=columns)], ignore_index=True)
    voices = ", ".join(training.get("train_voices", []))
    return Sheet(
        name=SHEET_NAME,
        table=table,
        description=(
            "Before/after on held-out eval voices: 'gap' rows give the largest-minus-smallest group difference of the "
            "headline metric per grouping; 'capability' rows give the overall metric (text modality = the text control). "
            f"change = after − before with a paired 95% CI (cluster bootstrap over items and voices). Trained on voices: {voices}."
        ),
        empty_reason="no comparable rows (the runs produced no audio rows for both models)",
        formats={"before": "decimal", "after": "decimal", "change": "decimal", "before_ci_low": "decimal",
                 "before_ci_high": "decimal", "after_ci_low": "decimal", "after_ci_high": "decimal",
                 "change_ci_low": "decimal", "change_ci_high": "decimal", "retained": "decimal"},
        gap_columns=("change",),
        order=150,
    )


def write_debias_outputs(
    output: Path, run_dir: Path, gaps: pd.DataFrame, capability: pd.DataFrame, training: dict[str, Any], config: Any
) -> tuple[Path, tuple[Path, ...]]:
    """Write the tables (``output/debias``), the plots (``output/plots``) and ``run_dir/report.xlsx``."""
    from biasbench.reports.run_report import write_run_report
    from biasbench.scoring.tables import write_table

    from biasbench.reports.extra import sheet_providers

    folder = output / "debias"
    write_table(folder, GAPS_TABLE, gaps)
    write_table(folder, CAPABILITY_TABLE, capability)
    info = {"train_voices": training.get("train_voices", []), "base_model": training.get("base_model"), "config": config.model_dump(mode="json")}
    (folder / EXPERIMENT_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
    plots = write_plots(output / "plots", gaps, capability)
    registered = SHEET_NAME in sheet_providers.names()  # an entry point already adds the sheet
    extra = [] if registered else [build_debias_sheet(gaps, capability, training)]
    paths = write_run_report(run_dir, extra_sheets=extra, plots=config.report_plots)
    return paths.workbook, plots


def debias_sheet(run: Any) -> Sheet | None:
    """Report-sheet provider (entry point ``biasbench.report_sheets``: ``Debias``): the Debias sheet of a
    `debias run` experiment's finetune run, so `biasbench report DIR` keeps it; None for other runs."""
    folder = Path(run.run_dir).parent / "debias"
    if not (folder / f"{GAPS_TABLE}.parquet").is_file():
        return None
    info = json.loads((folder / EXPERIMENT_FILE).read_text(encoding="utf-8")) if (folder / EXPERIMENT_FILE).is_file() else {}
    return build_debias_sheet(pd.read_parquet(folder / f"{GAPS_TABLE}.parquet"), pd.read_parquet(folder / f"{CAPABILITY_TABLE}.parquet"), info)


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
