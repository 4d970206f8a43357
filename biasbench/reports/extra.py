"""Sheets other areas add to report.xlsx without editing the reports package."""

from __future__ import annotations

from typing import Callable, Iterable, Union

from biasbench.core.errors import BiasbenchError, DataError
from biasbench.core.registry import Registry
from biasbench.reports.rundata import RunData
from biasbench.reports.sheet import Sheet

SheetProvider = Callable[[RunData], Union[Sheet, None]]
"""A function that builds one sheet from a run, or returns None when it does not apply to that run."""

sheet_providers: Registry[SheetProvider] = Registry(
    "report sheet", "biasbench.reports.catalog", "biasbench.report_sheets", "report-sheets"
)
"""Built-in sheets (reports.catalog) plus entry points in the group ``biasbench.report_sheets``."""


def register_sheet(name: str, target: str) -> None:
    """Add a sheet provider at run time: ``target`` is "module:function" (RunData -> Sheet | None)."""
    sheet_providers.register(name, target)


def build_sheets(run: RunData, extra: Iterable[Sheet | SheetProvider] = ()) -> list[Sheet]:
    """Every registered sheet plus ``extra`` (sheets or providers), sorted by ``Sheet.order`` then name."""
    sheets: list[Sheet] = []
    for name in sheet_providers.names():
        sheets.extend(_call(name, sheet_providers.get(name), run))
    for index, item in enumerate(extra):
        sheets.extend([item] if isinstance(item, Sheet) else _call(f"extra_sheets[{index}]", item, run))
    return sorted(sheets, key=lambda sheet: (sheet.order, sheet.name))


def _call(name: str, provider: SheetProvider, run: RunData) -> list[Sheet]:
    try:
        sheet = provider(run)
    except BiasbenchError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(
            f"report sheet '{name}' could not be built from {run.run_dir}: {type(exc).__name__}: {exc}"
        ) from None
    if sheet is not None and not isinstance(sheet, Sheet):
        raise DataError(f"report sheet provider '{name}' returned {type(sheet).__name__}, not a Sheet or None")
    return [] if sheet is None else [sheet]
