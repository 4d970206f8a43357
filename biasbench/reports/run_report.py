"""`biasbench report DIR`: report.xlsx, the same tables as CSV + Parquet, summary.md and plots."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from biasbench.core.errors import DataError
from biasbench.core.rundir import RunDir
from biasbench.reports.extra import SheetProvider, build_sheets
from biasbench.reports.notes import notes_sheet
from biasbench.reports.rundata import load_run
from biasbench.reports.sheet import Sheet
from biasbench.reports.workbook import write_workbook

TABLES_DIR = "report"
"""Subfolder of the run directory holding one CSV and one Parquet per non-empty sheet."""


@dataclass(frozen=True)
class ReportPaths:
    """Files one report wrote."""

    workbook: Path
    """report.xlsx."""
    tables: tuple[Path, ...]
    """report/<Sheet>.csv and report/<Sheet>.parquet for every sheet with rows."""
    summary_md: Path
    """summary.md (terminal / GitHub readable)."""
    plots: tuple[Path, ...]
    """plots/*.png and plots/*.svg."""
    sheets: tuple[str, ...]
    """Sheet names in workbook order."""
    warnings: tuple[str, ...]
    """Every warning that qualifies a number (also in the Warnings sheet and summary.md)."""


def write_tables(folder: Path, sheets: Iterable[Sheet]) -> tuple[Path, ...]:
    """One CSV and one Parquet per non-empty sheet (file stem = sheet name)."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for sheet in sheets:
        if sheet.is_empty:
            for suffix in (".csv", ".parquet"):
                (folder / f"{sheet.name}{suffix}").unlink(missing_ok=True)
            continue
        table = sheet.table.copy()
        table.columns = [str(c) for c in table.columns]
        csv, parquet = folder / f"{sheet.name}.csv", folder / f"{sheet.name}.parquet"
        try:
            table.to_csv(csv, index=False)
            table.to_parquet(parquet, index=False)
        except OSError as exc:
            raise DataError(f"cannot write report tables to {folder}: {exc.strerror or exc}") from None
        written += [csv, parquet]
    return tuple(written)


def write_run_report(
    run_dir: str | Path, *, extra_sheets: Iterable[Sheet | SheetProvider] = (), plots: bool = True
) -> ReportPaths:
    """Build every sheet from the run's score tables and write report.xlsx, report/*.csv|parquet, summary.md, plots/."""
    from biasbench.reports.headline import headlines
    from biasbench.reports.summary_md import write_summary_md

    run = load_run(run_dir)
    sheets = build_sheets(run, extra_sheets)
    sheets.append(notes_sheet(sheets))
    workbook = write_workbook(RunDir(run.run_dir).report_xlsx, sheets)
    tables = write_tables(run.run_dir / TABLES_DIR, sheets)
    rows, qualifiers = headlines(run)
    summary_md = write_summary_md(run, rows, qualifiers, sheets)
    plot_paths: tuple[Path, ...] = ()
    if plots:
        from biasbench.reports.run_plots import write_run_plots

        plot_paths = write_run_plots(run)
        from biasbench.reports.decomposition import write_decomposition_plots

        plot_paths += write_decomposition_plots(run.run_dir)
    return ReportPaths(
        workbook=workbook,
        tables=tables,
        summary_md=summary_md,
        plots=plot_paths,
        sheets=tuple(s.name for s in sheets),
        warnings=tuple(dict.fromkeys(q.message for q in qualifiers)),
    )
