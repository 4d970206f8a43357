"""Is the tidy table up to date? Digests of what it was built from and marks of the files involved.

A resume of a finished run must not rebuild what it already has: when the plan's inputs (config identity,
items, clips, adapters, code) and the response log are what they were when results.parquet and results.csv
were written, and both files are still as written, the table stands (see :class:`TableStamp`). Every check
here is cheap (a stat, the log's last bytes, hashes of the plan's distinct items and clips): no request key
is computed and no log line is parsed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import pandas as pd

from biasbench.core.files import tail_sha256
from biasbench.core.hashing import stable_hash
from biasbench.core.messages import AudioPart
from biasbench.core.rundir import FileMark, RunDir, TableStamp
from biasbench.runner.plan import Plan

if TYPE_CHECKING:
    from biasbench.runner.results import TableSummary

TABLE_SCHEME = 1
"""Bumped when the tidy table's rows change meaning for the same inputs (every stamp goes stale once)."""


def file_mark(path: Path, *, tail: bool = False) -> FileMark:
    """Size and modification time of ``path`` (and a hash of its last bytes with ``tail``); size -1 when absent."""
    try:
        info = os.stat(path)
    except OSError:
        return FileMark()
    tail_sha = ""
    if tail:
        with open(path, "rb") as handle:
            tail_sha = tail_sha256(handle, info.st_size)
    return FileMark(size=info.st_size, mtime_ns=info.st_mtime_ns, tail_sha256=tail_sha)


def table_inputs_digest(run: RunDir, identity: Mapping[str, Any], plan: Plan, clips: Mapping[tuple[str, str], AudioPart]) -> str:
    """Digest of everything the table's rows depend on besides the log: the output identity (config, pool,
    tasks' prompts, versions and parser versions, adapters), every asked item in full (targets and metadata
    too: a corrected answer key re-parses), the clips' content, the adapters' fingerprints, the run id and
    the code version."""
    from biasbench import __version__
    from biasbench.core.result import RESULT_COLUMNS

    items: dict[tuple[str, str], Any] = {}
    for row in plan.rows:
        key = (row.task, row.item.id)
        if key not in items:
            item = row.item
            items[key] = (item.text, list(item.choices), item.target, dict(item.metadata))
    items_json = json.dumps(sorted(items.items()), sort_keys=True, ensure_ascii=False, default=str)
    return stable_hash(
        TABLE_SCHEME,
        __version__,
        list(RESULT_COLUMNS),
        run.run_id,
        dict(identity),
        {name: adapter.fingerprint() for name, adapter in plan.adapters.items()},
        hashlib.sha256(items_json.encode("utf-8")).hexdigest(),
        sorted((voice, text, part.sha256) for (voice, text), part in clips.items()),
        len(plan.rows),
    )


def table_files_unchanged(run: RunDir, stamp: TableStamp) -> bool:
    """True when the log, results.parquet and results.csv are as they were when ``stamp`` was taken."""
    return (
        file_mark(run.results_parquet) == stamp.parquet
        and file_mark(run.results_csv) == stamp.csv
        and stamp.parquet.size > 0
        and stamp.csv.size > 0
        and file_mark(run.log, tail=True) == stamp.log
    )


def stamp_table(run: RunDir, inputs: str, results: "TableSummary", *, calls: int, clips: int, invocation: int) -> TableStamp:
    """The stamp of a table just written (call after the log is closed and both files are written)."""
    return TableStamp(
        inputs=inputs,
        log=file_mark(run.log, tail=True),
        parquet=file_mark(run.results_parquet),
        csv=file_mark(run.results_csv),
        rows=results.rows,
        unanswered=results.unanswered,
        calls=calls,
        clips=clips,
        invocation=invocation,
    )


def frame_digest(frame: pd.DataFrame) -> str:
    """Digest of a results table's answers and outcomes, not of where they came from (`cached` left out)."""
    frame = frame.drop(columns=["cached"], errors="ignore")
    return stable_hash(pd.util.hash_pandas_object(frame, index=False).sum().item(), list(frame.columns))


def results_content_digest(run: RunDir, stamp: TableStamp | None = None) -> str:
    """:func:`frame_digest` of results.parquet; taken from ``stamp`` (the manifest's, by default) when the file
    is still the one it describes, else read from the file."""
    if stamp is None:
        manifest = run.read_manifest()
        stamp = manifest.results_table if manifest is not None else None
    if stamp is not None and stamp.content and file_mark(run.results_parquet) == stamp.parquet:
        return stamp.content
    return parquet_digest(run.results_parquet)


def parquet_digest(path: Path) -> str:
    """:func:`frame_digest` of ``pd.read_parquet(path)``, one column at a time: pandas combines a row's hash
    column by column (``combine_hash_arrays``, CPython's tuple hash), so only one column and one uint64 per row
    are held, not the whole table (GBs at millions of rows). A test checks it equals :func:`frame_digest`."""
    import numpy as np
    import pyarrow.parquet as pq

    names = [name for name in pq.read_schema(path).names if name != "cached"]
    combined = np.full(pq.read_metadata(path).num_rows, 0x345678, dtype=np.uint64)
    multiplier = np.uint64(1000003)
    for index, name in enumerate(names):
        column = pd.read_parquet(path, columns=[name])[name]
        combined ^= pd.util.hash_pandas_object(column, index=False).to_numpy(dtype=np.uint64)
        del column
        combined *= multiplier
        multiplier += np.uint64(82520 + 2 * (len(names) - index))
    combined += np.uint64(97531)
    return stable_hash(combined.sum().item(), names)
