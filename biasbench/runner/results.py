"""Turn planned rows plus logged responses into the tidy result table."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from biasbench.core.files import atomic_write
from biasbench.core.details import JSON_PREFIX, as_json, detail_key, details_json, is_detail_column, typed_columns
from biasbench.core.hashing import canonical_json, stable_hash
from biasbench.core.item import Exclusion
from biasbench.core.response import Response
from biasbench.core.result import RESULT_COLUMNS, ResultRow
from biasbench.core.rundir import RunDir
from biasbench.runner.plan import PlannedRow
from biasbench.runner.store import LoggedResponse
from biasbench.tasks.base import Outcome, Task

RESULTS_PARQUET = RunDir.RESULTS_PARQUET
RESULTS_CSV = RunDir.RESULTS_CSV
EXCLUSIONS_CSV = RunDir.EXCLUSIONS_CSV
EXCLUSION_COLUMNS = ("task", "item_id", "reason", "item_group")

_ARROW_TYPES = {"permutation": pa.int64(), "repeat": pa.int64(), "score": pa.float64(), "latency_s": pa.float64(),
                "cached": pa.bool_(), "input_tokens": pa.int64(), "output_tokens": pa.int64(), "cost_usd": pa.float64()}
"""Arrow types of the non-string core.result columns."""

NOT_ANSWERED = "not answered yet (run the same command again to resume)"


def score_response(task: Task, row: PlannedRow, response: Response | None) -> Outcome:
    """The outcome of one row: 'error' without an answer, 'invalid' for an empty answer, else the task's parser."""
    if response is None or response.error is not None:
        return Outcome("error")
    if not response.text.strip():
        return Outcome("invalid", details={"reason": "empty response"})
    return task.score(row.item, row.rotation, response)


_HEX = frozenset("0123456789abcdef")


def score_key(key: str, task: Task) -> str:
    """``stable_hash(key, task.name, task.version, task.parser_version)[:16]``: which answer was scored by
    which parser. A hex response key needs no JSON escaping, so the text hashed is assembled directly
    around the task's constant tail (it runs once per row; equal to stable_hash, tested)."""
    if not _HEX.issuperset(key):
        return stable_hash(key, task.name, task.version, task.parser_version)[:16]
    tail = _score_key_tail(task.name, task.version, task.parser_version)
    return hashlib.sha256(f'["{key}"{tail}'.encode("utf-8")).hexdigest()[:16]


@lru_cache(maxsize=256)
def _score_key_tail(name: str, version: str, parser_version: str) -> str:
    return "," + canonical_json([name, version, parser_version])[1:]


def result_row(
    run_id: str,
    row: PlannedRow,
    task: Task,
    adapter_name: str,
    fingerprint: str,
    key: str,
    logged: LoggedResponse | None,
    invocation: int,
    axes: Sequence[str],
    voice_columns: dict[str, tuple[dict[str, str], str]] | None = None,
) -> ResultRow:
    """One tidy row. ``voice_columns`` (voice id -> label columns and cell), when given, is filled on first use
    and reused: a table computes them once per voice, not once per row."""
    response = logged.response if logged is not None else None
    outcome = score_response(task, row, response)
    voice = row.voice
    known = voice_columns.get(row.voice_id) if voice_columns is not None else None
    if known is None:
        known = (
            {axis: (voice.label(axis) or "") if voice is not None else "" for axis in ("gender", "race", "accent", "age_band")},
            "|".join(voice.cell(tuple(axes))) if voice is not None else "",
        )
        if voice_columns is not None:
            voice_columns[row.voice_id] = known
    labels, cell = known
    error = "" if response is not None and response.error is None else (response.error if response is not None else NOT_ANSWERED)
    return ResultRow(
        run_id=run_id,
        model=row.model,
        adapter=adapter_name,
        adapter_fingerprint=fingerprint,
        task=task.name,
        task_version=task.version,
        item_id=row.item.id,
        item_group=task.item_group(row.item),
        voice_id=row.voice_id,
        gender=labels["gender"],
        race=labels["race"],
        accent=labels["accent"],
        age_band=labels["age_band"],
        cell=cell,
        modality=row.modality,
        permutation=row.rotation,
        repeat=row.repeat,
        response_key=key,
        response=response.text if response is not None else "",
        parsed=outcome.parsed,
        target=task.target_label(row.item),
        outcome=outcome.outcome,
        score=outcome.score,
        latency_s=response.latency_s if response is not None else 0.0,
        cached=logged is not None and logged.invocation != invocation,
        error=error or "",
        finish_reason=response.finish_reason if response is not None else "",
        input_tokens=response.usage.input_tokens if response is not None else 0,
        output_tokens=response.usage.output_tokens if response is not None else 0,
        cost_usd=response.cost_usd if response is not None else 0.0,
        transcript=(response.transcript or "") if response is not None else "",
        parser_version=task.parser_version,
        score_key=score_key(key, task),
        details=details_json(dict(outcome.details)),
    )


PARTS_PREFIX = ".results-"
"""Hidden folder in the run directory holding the record batches while the table is written."""

BATCH_ROWS = 100_000
"""Rows per record batch when writing the tidy table (bounds the writer's memory)."""


@dataclass(frozen=True)
class TableSummary:
    """What the pipeline needs of a tidy table just written (counts, not the rows: the table can have millions)."""

    run_dir: Path
    """The run directory holding results.parquet."""
    rows: int
    """Rows written (one per planned row)."""
    unanswered: int
    """Rows whose outcome is 'error' (no answer yet, or the last attempt failed)."""
    cached: int
    """Rows whose answer an earlier invocation wrote to the log."""
    errors: tuple[tuple[str, int], ...] = ()
    """The error texts of the unanswered rows with their counts, most common first (ties in row order)."""

    def __len__(self) -> int:
        return self.rows

    @property
    def answered(self) -> int:
        return self.rows - self.unanswered

    def frame(self) -> pd.DataFrame:
        """The table's core.result columns, read from results.parquet (for the few callers that need rows)."""
        return pd.read_parquet(Path(self.run_dir) / RESULTS_PARQUET, columns=list(RESULT_COLUMNS))


class _Tally:
    """Counts of the rows streaming past the writer (see :class:`TableSummary`)."""

    def __init__(self) -> None:
        self.rows = self.unanswered = self.cached = 0
        self.errors: Counter[str] = Counter()

    def add(self, row: ResultRow) -> None:
        self.rows += 1
        self.cached += bool(row.cached)
        if row.outcome == "error":
            self.unanswered += 1
            self.errors[row.error] += 1

    def summary(self, run_dir: Path) -> TableSummary:
        return TableSummary(run_dir, self.rows, self.unanswered, self.cached, tuple(self.errors.most_common()))


def write_results(run_dir: Path, rows: Iterable[ResultRow]) -> TableSummary:
    """Write results.parquet (the core.result columns, then every details key as a typed column, see
    core.details) and results.csv (core.result columns), atomically, in record batches; return the
    table's counts (:meth:`TableSummary.frame` reads its rows)."""
    run_dir = Path(run_dir)
    for stale in run_dir.glob(f"{PARTS_PREFIX}*"):  # left by a writer killed mid-write (the run lock makes it stale)
        shutil.rmtree(stale, ignore_errors=True)
    tally = _Tally()
    with tempfile.TemporaryDirectory(prefix=PARTS_PREFIX, dir=run_dir) as tmp:
        parts = _write_parts(Path(tmp), rows, tally)
        schema = _final_schema(parts)
        _atomic(run_dir / RESULTS_PARQUET, lambda p: _merge_parts(parts, schema, p))
        _atomic(run_dir / RESULTS_CSV, lambda p: _csv_from_parts(parts, p))
    return tally.summary(run_dir)


_CORE_SCHEMA = pa.schema([(f.name, _ARROW_TYPES.get(f.name, pa.string())) for f in fields(ResultRow)])


def _write_parts(folder: Path, rows: Iterable[ResultRow], tally: _Tally) -> list[tuple[Path, pa.Schema]]:
    """One parquet file per batch of rows (core columns + that batch's typed detail columns)."""
    parts: list[tuple[Path, pa.Schema]] = []
    batch: list[ResultRow] = []

    def flush() -> None:
        records = {name: [getattr(row, name) for row in batch] for name in RESULT_COLUMNS}
        arrays = [pa.array(records[f.name], type=f.type) for f in _CORE_SCHEMA]
        details = typed_columns(records["details"])
        table = pa.Table.from_arrays([*arrays, *details.values()], names=[*RESULT_COLUMNS, *details])
        path = folder / f"part-{len(parts):05d}.parquet"
        pq.write_table(table, path)
        parts.append((path, table.schema))
        batch.clear()

    for row in rows:
        batch.append(row)
        tally.add(row)
        if len(batch) >= BATCH_ROWS:
            flush()
    if batch or not parts:
        flush()
    return parts


def _final_schema(parts: list[tuple[Path, pa.Schema]]) -> pa.Schema:
    """Core columns, then one column per details key: typed when every batch agrees on its type, JSON otherwise."""
    kinds: dict[str, set[tuple[str, pa.DataType]]] = {}
    for _, schema in parts:
        for f in schema:
            if is_detail_column(f.name):
                kinds.setdefault(detail_key(f.name), set()).add((f.name, f.type))
    fields_ = list(_CORE_SCHEMA)
    for key in sorted(kinds):
        seen = kinds[key]
        name, kind = next(iter(seen)) if len(seen) == 1 else (JSON_PREFIX + key, pa.string())
        fields_.append(pa.field(name, kind))
    return pa.schema(fields_)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A batch in the final schema: absent keys as nulls, keys whose type differs across batches as JSON."""
    by_key = {detail_key(n): n for n in table.column_names if is_detail_column(n)}
    columns = []
    for f in schema:
        if not is_detail_column(f.name):
            columns.append(table.column(f.name))
            continue
        have = by_key.get(detail_key(f.name))
        if have is None:
            columns.append(pa.nulls(table.num_rows, f.type))
        elif have == f.name:
            columns.append(table.column(have))
        else:  # typed in this batch, JSON in the table
            columns.append(as_json(table.column(have).combine_chunks()))
    return pa.Table.from_arrays(columns, schema=schema)


def _merge_parts(parts: list[tuple[Path, pa.Schema]], schema: pa.Schema, path: Path) -> None:
    with pq.ParquetWriter(path, schema) as writer:
        for part, _ in parts:
            writer.write_table(_conform(pq.read_table(part), schema))


def _csv_from_parts(parts: list[tuple[Path, pa.Schema]], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        for index, (part, _) in enumerate(parts):
            frame = pq.read_table(part, columns=list(RESULT_COLUMNS)).to_pandas()
            frame.to_csv(out, index=False, header=index == 0)


def write_exclusions(run_dir: Path, exclusions: Mapping[str, Sequence[Exclusion]]) -> int:
    """Write exclusions.csv (every excluded item with its reason) unless it already holds exactly that; returns
    the count."""
    records = [
        {"task": name, "item_id": e.item_id, "reason": e.reason, "item_group": str(e.metadata.get("group", e.metadata.get("subject", "")))}
        for name, excluded in exclusions.items()
        for e in excluded
    ]
    text = pd.DataFrame(records, columns=list(EXCLUSION_COLUMNS)).to_csv(index=False)
    path = run_dir / EXCLUSIONS_CSV
    if not (path.is_file() and path.read_bytes() == text.encode("utf-8")):  # a resume leaves it (and its mtime) alone
        _atomic(path, lambda p: p.write_bytes(text.encode("utf-8")))
    return len(records)


def _atomic(path: Path, write) -> None:
    atomic_write(path, write)
