"""Reports: report.xlsx, CSV/Parquet tables, summary.md and plots per run; the leaderboard across runs."""

from biasbench.reports.extra import SheetProvider, register_sheet
from biasbench.reports.run_report import ReportPaths, write_run_report
from biasbench.reports.rundata import RunData, load_run
from biasbench.reports.sheet import Sheet
from biasbench.reports.workbook import write_workbook

__all__ = [
    "ReportPaths",
    "RunData",
    "Sheet",
    "SheetProvider",
    "load_run",
    "register_sheet",
    "write_run_report",
    "write_workbook",
]
