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
LINE_HEIGHT = 15.0
"""Points per wrapped text line (Calibri 11)."""
MAX_ROW_LINES = 4
"""Wrapped text shows at most this many lines per row; the whole text stays in the cell (and in the CSV)."""
VERDICT_FILLS = (("clear gap", "F4C7B0"), ("no clear gap", "FFFFFF"))
"""Fill of a gap cell by the row's verdict (prefix): a clear gap stands out, 'no clear gap' stays white,
whatever the gap's size or metric (a large but uncertain gap is not painted as a finding)."""


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


def _verdict_rules(ws: Any, gap_range: str, verdict_letter: str, first_row: int) -> None:
    """Colour the gap cells by the row's verdict instead of by the raw gap (accuracy and WER never share
    one scale, and a 'no clear gap' row is never painted darkest)."""
    from openpyxl.formatting.rule import FormulaRule
    from openpyxl.styles import Font, PatternFill

    for prefix, colour in VERDICT_FILLS:
        formula = f'LEFT(${verdict_letter}{first_row},{len(prefix)})="{prefix}"'
        font = Font(bold=True) if prefix == "clear gap" else None
        ws.conditional_formatting.add(
            gap_range, FormulaRule(formula=[formula], fill=PatternFill("solid", fgColor=colour, bgColor=colour), font=font, stopIfTrue=True)
        )


LINK_KEYS = ("model", "task", "modality", "grouping", "group", "n_rows")
"""Columns that make a group row linkable to the viewer (`biasbench view RUN_DIR` on its default port)."""


def _link_rows(ws: Any, frame: pd.DataFrame, columns: list[str], first: int) -> None:
    """Each group's row count links to the viewer rows behind it (open `biasbench view RUN_DIR` first)."""
    if not all(key in columns for key in LINK_KEYS):
        return
    from biasbench.viewer.links import rows_link

    column = columns.index("n_rows") + 1
    for offset, record in enumerate(frame[list(LINK_KEYS)].to_dict("records")):
        cell = ws.cell(row=first + offset, column=column)
        cell.hyperlink = rows_link(*(str(record[k]) for k in LINK_KEYS[:5]))
        cell.style = "Hyperlink"
        cell.number_format = FORMATS["int"]


def _cap_row_heights(ws: Any, wrapped: dict[int, float], first: int, last: int) -> None:
    """Rows with wrapped text get a fixed height of at most :data:`MAX_ROW_LINES` lines (Excel would
    otherwise grow a row to fit every warning of a model)."""
    for row in range(first, last + 1):
        lines = 1
        for column, width in wrapped.items():
            value = ws.cell(row=row, column=column).value
            if value:
                lines = max(lines, math.ceil(len(str(value)) / max(width - 2, 1)))
        if lines > 1:
            ws.row_dimensions[row].height = LINE_HEIGHT * min(lines, MAX_ROW_LINES)


GROUP_COLUMNS = frozenset({"group", "worst_group", "reference", "cell"})
"""Columns holding group keys: shown as 'female × en-029' (the one label style of every report), while the
CSV/Parquet copies keep the raw key 'female|en-029'."""


def _display(column: str, value: Any) -> Any:
    value = _cell_value(value)
    if column in GROUP_COLUMNS and isinstance(value, str):
        return value.replace("|", " × ")
    return value


BANNER_COLUMN = "notice"
"""A notice column (demonstration pool, calibration instrument) shown once, as a banner row above the header."""


def banner_text(sheet: Sheet) -> str:
    """The sheet's notice as one banner line ('' when none): the notice itself when every row shares it,
    else each distinct notice with the models it concerns."""
    if sheet.is_empty or BANNER_COLUMN not in sheet.notice_columns or BANNER_COLUMN not in sheet.table.columns:
        return ""
    notices = sheet.table[BANNER_COLUMN].fillna("").astype(str)
    distinct = [n for n in dict.fromkeys(notices) if n]
    if not distinct:
        return ""
    if len(distinct) == 1 and notices.astype(bool).all():
        return distinct[0]
    parts = []
    for text in distinct:
        models = sheet.table.loc[notices == text, "model"] if "model" in sheet.table.columns else pd.Series(dtype=str)
        which = ", ".join(dict.fromkeys(str(m) for m in models))
        parts.append(f"{text}: {which}" if which else text)
    return " | ".join(parts)


def header_row(ws: Any) -> int:
    """The worksheet row holding the column names: 2 under a banner, else 1 (see :func:`read_sheet`)."""
    return 2 if ws.freeze_panes == "A3" else 1


def read_sheet(path: Path, name: str) -> pd.DataFrame:
    """A report sheet back as its table (the banner row, when there is one, skipped)."""
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=False)
    try:
        skip = header_row(book[name]) - 1
    finally:
        book.close()
    return pd.read_excel(path, sheet_name=name, header=skip)


def write_sheet(workbook: Any, sheet: Sheet) -> Any:
    """Add ``sheet`` as a formatted worksheet: a notice banner on row 1 when the sheet has one, then a
    bold header row, frozen, filtered, formatted."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = workbook.create_sheet(title=sheet.name)
    banner = banner_text(sheet)
    frame = sheet.shown()
    if banner:
        frame = frame.drop(columns=[BANNER_COLUMN])
    columns = [str(c) for c in frame.columns]
    top = 2 if banner else 1
    if banner:
        ws.append([banner])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(1, len(columns)))
        cell = ws.cell(row=1, column=1)
        cell.font = Font(bold=True, color="9C0006", size=12)
        cell.fill = PatternFill("solid", fgColor=BANNER_FILL)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        ws.row_dimensions[1].height = 36
    ws.append(columns)
    for row in frame.itertuples(index=False, name=None):
        ws.append([_display(column, v) for column, v in zip(columns, row)])
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    for cell in ws[top]:
        cell.font = header_font
        cell.fill = header_fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    n_rows = len(frame)
    first, last = top + 1, top + n_rows
    records = frame.to_dict("records") if not sheet.is_empty else []
    wrapped: dict[int, float] = {}
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        kind = "text" if sheet.is_empty else sheet.kind(column)
        values = []
        for offset, (cell,) in enumerate(ws.iter_rows(min_row=first, max_row=last, min_col=index, max_col=index)):
            is_number = isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool)
            if kind != "text" and is_number:
                cell.number_format = FORMATS[sheet.cell_kind(column, records[offset])]
            values.append(cell.value)
        width = _width(values, column, FORMATS.get(kind, "0.0%"))
        ws.column_dimensions[letter].width = width
        if width >= MAX_WIDTH and kind == "text":  # long text wraps inside the column instead of spilling over
            wrapped[index] = width
            for (cell,) in ws.iter_rows(min_row=first, max_row=last, min_col=index, max_col=index):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        if column in sheet.gap_columns and n_rows > 0 and not sheet.is_empty:
            if "verdict" in columns:
                _verdict_rules(ws, f"{letter}{first}:{letter}{last}", get_column_letter(columns.index("verdict") + 1), first)
            else:
                ws.conditional_formatting.add(f"{letter}{first}:{letter}{last}", _gap_scale(sheet.table[column]))
        if column in sheet.notice_columns and not sheet.is_empty:
            for (cell,) in ws.iter_rows(min_row=first, max_row=last, min_col=index, max_col=index):
                if cell.value:
                    cell.font = Font(bold=True, color="9C0006")
                    cell.fill = PatternFill("solid", fgColor=BANNER_FILL)
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
            ws.column_dimensions[letter].width = min(ws.column_dimensions[letter].width, MAX_WIDTH)
            wrapped[index] = ws.column_dimensions[letter].width
    if not sheet.is_empty:
        _cap_row_heights(ws, wrapped, first, last)
        _link_rows(ws, frame, columns, first)
    if sheet.is_empty:
        ws["A2"].font = Font(italic=True)
        ws.column_dimensions["A"].width = min(120, max(40, len(sheet.empty_reason) + 2))
    ws.freeze_panes = f"A{top + 1}"
    if columns:
        ws.auto_filter.ref = f"A{top}:{get_column_letter(len(columns))}{max(top, last)}"
    ws.row_dimensions[top].height = 30
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
