"""Turn planned rows plus logged responses into the tidy result table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from biasbench.core.files import atomic_write
from biasbench.core.hashing import stable_hash
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

NOT_ANSWERED = "not answered yet (run the same command again to resume)"


def score_response(task: Task, row: PlannedRow, response: Response | None) -> Outcome:
    """The outcome of one row: 'error' without an answer, 'invalid' for an empty answer, else the task's parser."""
    if response is None or response.error is not None:
        return Outcome("error")
    if not response.text.strip():
        return Outcome("invalid", details={"reason": "empty response"})
    return task.score(row.item, row.rotation, response)


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
) -> ResultRow:
    """One tidy row."""
    response = logged.response if logged is not None else None
    outcome = score_response(task, row, response)
    voice = row.voice
    labels = {axis: (voice.label(axis) or "") if voice is not None else "" for axis in ("gender", "race", "accent", "age_band")}
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
        cell="|".join(voice.cell(tuple(axes))) if voice is not None else "",
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
        score_key=stable_hash(key, task.name, task.version, task.parser_version)[:16],
        details=json.dumps(dict(outcome.details), sort_keys=True, ensure_ascii=False, default=str),
    )


def write_results(run_dir: Path, rows: Sequence[ResultRow]) -> pd.DataFrame:
    """Write results.parquet and results.csv (atomically) and return the table."""
    frame = pd.DataFrame([row.to_record() for row in rows], columns=list(RESULT_COLUMNS))
    frame["score"] = frame["score"].astype("float64")
    _atomic(run_dir / RESULTS_PARQUET, lambda p: frame.to_parquet(p, index=False))
    _atomic(run_dir / RESULTS_CSV, lambda p: frame.to_csv(p, index=False))
    return frame


def write_exclusions(run_dir: Path, exclusions: Mapping[str, Sequence[Exclusion]]) -> int:
    """Write exclusions.csv (every excluded item with its reason); returns the count."""
    records = [
        {"task": name, "item_id": e.item_id, "reason": e.reason, "item_group": str(e.metadata.get("group", e.metadata.get("subject", "")))}
        for name, excluded in exclusions.items()
        for e in excluded
    ]
    frame = pd.DataFrame(records, columns=list(EXCLUSION_COLUMNS))
    _atomic(run_dir / EXCLUSIONS_CSV, lambda p: frame.to_csv(p, index=False))
    return len(records)


def _atomic(path: Path, write) -> None:
    atomic_write(path, write)
