"""Write :class:`Sheet` tables to a formatted Excel workbook (openpyxl)."""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from biasbench.core.errors import DataError
from biasbench.reports.sheet import FORMATS, Sheet

HEADER_FILL = "1F4E79"
"""Header background (dark blue) with white bold text."""
GAP_SCALE = ("FFFFFF", "E69F00", "D55E00")
"""Colour scale for non-negative gaps: white (none) → orange → vermillion (Okabe–Ito, colour-blind safe)."""
SIGNED_GAP_SCALE = ("56B4E9", "FFFFFF", "D55E00")
"""Colour scale for signed differences: sky blue (below) → white (0) → vermillion (above)."""
BANNER_FILL = "FCE4D6"
"""Background of warning banners (light orange)."""
MAX_WIDTH = 60
MIN_WIDTH = 8


def _cell_value(value: Any) -> Any:
    """A value openpyxl can store: NaN/None → empty, numpy scalars → Python, containers → text."""
    if isinstance(value, (list, tuple, dict, set)):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _width(values: list[Any], header: str, number_format: str) -> float:
    longest = len(str(header))
    for value in values[:500]:
        if value is None:
            continue
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        longest = max(longest, len(text) + (1 if number_format.endswith("%") else 0))
    return float(min(MAX_WIDTH, max(MIN_WIDTH, longest + 2)))


def _gap_scale(values: pd.Series) -> Any:
    """White at 0 rising to vermillion; diverging (blue below 0) when the column has negative values."""
    from openpyxl.formatting.rule import ColorScaleRule

    numbers = pd.to_numeric(values, errors="coerce")
    if (numbers < 0).any():
        return ColorScaleRule(
            start_type="min",
            start_color=SIGNED_GAP_SCALE[0],
            mid_type="num",
            mid_value=0,
            mid_color=SIGNED_GAP_SCALE[1],
            end_type="max",
            end_color=SIGNED_GAP_SCALE[2],
        )
    return ColorScaleRule(
        start_type="num",
        start_value=0,
        start_color=GAP_SCALE[0],
        mid_type="percentile",
        mid_value=50,
        mid_color=GAP_SCALE[1],
        end_type="max",
        end_color=GAP_SCALE[2],
    )


def write_sheet(workbook: Any, sheet: Sheet) -> Any:
    """Add ``sheet`` as a formatted worksheet: bold header on row 1, frozen, filtered, formatted."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = workbook.create_sheet(title=sheet.name)
    frame = sheet.shown()
    columns = [str(c) for c in frame.columns]
    ws.append(columns)
    for row in frame.itertuples(index=False, name=None):
        ws.append([_cell_value(v) for v in row])
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    for cell in ws[1]:
        cell.font = header_font
        cell.fill = header_fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    n_rows = len(frame)
    records = frame.to_dict("records") if not sheet.is_empty else []
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        kind = "text" if sheet.is_empty else sheet.kind(column)
        values = []
        for offset, (cell,) in enumerate(ws.iter_rows(min_row=2, max_row=n_rows + 1, min_col=index, max_col=index)):
            is_number = isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool)
            if kind != "text" and is_number:
                cell.number_format = FORMATS[sheet.cell_kind(column, records[offset])]
            values.append(cell.value)
        width = _width(values, column, FORMATS.get(kind, "0.0%"))
        ws.column_dimensions[letter].width = width
        if width >= MAX_WIDTH and kind == "text":  # long text wraps inside the column instead of spilling over
            for (cell,) in ws.iter_rows(min_row=2, max_row=n_rows + 1, min_col=index, max_col=index):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        if column in sheet.gap_columns and n_rows > 0 and not sheet.is_empty:
            ws.conditional_formatting.add(f"{letter}2:{letter}{n_rows + 1}", _gap_scale(sheet.table[column]))
        if column in sheet.notice_columns and not sheet.is_empty:
            for (cell,) in ws.iter_rows(min_row=2, max_row=n_rows + 1, min_col=index, max_col=index):
                if cell.value:
                    cell.font = Font(bold=True, color="9C0006")
                    cell.fill = PatternFill("solid", fgColor=BANNER_FILL)
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
            ws.column_dimensions[letter].width = min(ws.column_dimensions[letter].width, MAX_WIDTH)
    if sheet.is_empty:
        ws["A2"].font = Font(italic=True)
        ws.column_dimensions["A"].width = min(120, max(40, len(sheet.empty_reason) + 2))
    ws.freeze_panes = "A2"
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(1, n_rows) + 1}"
    ws.row_dimensions[1].height = 30
    return ws


def write_workbook(path: Path, sheets: Sequence[Sheet]) -> Path:
    """Write ``sheets`` (in the given order) to ``path`` atomically; names must be unique."""
    from openpyxl import Workbook

    names = [sheet.name for sheet in sheets]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"report sheets share names: {', '.join(repeated)}")
    if not sheets:
        raise DataError(f"no sheets to write to {path}")
    workbook = Workbook()
    workbook.remove(workbook.active)
    for sheet in sheets:
        write_sheet(workbook, sheet)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")  # unique per writer
    try:
        workbook.save(partial)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
