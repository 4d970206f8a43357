"""The lean plan and table paths (shared requests across repeats, a one-entry-per-key log read, a counted
table) give exactly what the straightforward builders give: the same keys, requests and table bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from biasbench.config import parse_config
from biasbench.core.messages import AudioPart
from biasbench.core.response import Response, Usage
from biasbench.runner.freshness import frame_digest, parquet_digest
from biasbench.runner.plan import load_plan
from biasbench.runner.requests import build_request, generation_params
from biasbench.runner.results import result_row, write_results
from biasbench.runner.run import plan_jobs, write_tidy_table
from biasbench.runner.store import LoggedResponse, ResponseLog

MODELS = [
    {"name": "oracle", "adapter": "simulated", "params": {"axis": "accent"}},  # gets the oracle context
    {"name": "plain", "adapter": "simulated", "params": {"axis": "accent", "seed": 3}},
]


@pytest.fixture(scope="module")
def planned():
    config = parse_config({
        "pool": "demo_espeak", "tasks": [{"name": "demo_mc", "params": {"n_items": 6}}], "models": MODELS,
        "modalities": ["audio", "text"], "repeats": 3, "seed": 0,
    })
    plan = load_plan(config, Path("."))
    clips = {  # requests reference clips by content hash only: no audio is needed to build them
        (row.voice.id, row.spoken_text): AudioPart(f"{row.voice.id}.wav", hashlib.sha256(f"{row.voice.id}|{row.spoken_text}".encode()).hexdigest(), 16000, 1.0)
        for row in plan.rows
        if row.voice is not None and row.spoken_text
    }
    return config, plan, clips


def test_plan_jobs_keys_and_requests_equal_one_request_built_per_row(planned):
    config, plan, clips = planned
    jobs, keys = plan_jobs(config, plan, clips)
    assert [row for row, _ in keys] == list(plan.rows) and max(row.repeat for row in plan.rows) == 2
    by_row = {id(job.row): job for model_jobs in jobs.values() for job in model_jobs}
    models = {m.name: m for m in config.models}
    for row, key in keys:
        clip = clips.get((row.voice.id, row.spoken_text)) if row.voice is not None else None
        oracle = plan.adapters[row.model].capabilities.oracle
        request = build_request(row, clip, generation_params(config, models[row.model]), config.system_prompt, oracle=oracle)
        assert key == request.key(plan.adapters[row.model].fingerprint())
        job = by_row[id(row)]
        assert job.key == key and job.request == request and job.request.context == request.context
    assert len({key for _, key in keys}) == len(keys)  # repeats differ in key


def _line(key: str, response: Response, invocation: int = 0) -> LoggedResponse:
    return LoggedResponse(key, {"model": "m", "item_id": key[:6]}, response, invocation)


def test_the_table_equals_the_one_built_from_the_whole_log_state(planned, tmp_path: Path):
    config, plan, clips = planned
    _, keys = plan_jobs(config, plan, clips)
    run_dir = tmp_path / "run"
    log = ResponseLog(run_dir)
    answer = lambda text, **kw: Response(text=text, usage=Usage(7, 1), latency_s=0.25, **kw)  # noqa: E731
    first = [_line(key, answer("B" if i % 3 else "Answer: C", finish_reason="length" if i % 5 == 0 else "stop"))
             for i, (_, key) in enumerate(keys[::2])]
    log.append(first)
    log.read()  # a read before more lines are appended: the table's read takes over its state (the asking phase's)
    odd = [key for _, key in keys[1::2]]
    more = [
        _line(keys[0][1], Response.failed("timeout")),  # an error after an answer: the answer stays
        _line(odd[0], Response.failed("rate limited")), _line(odd[0], answer("D"), 1),  # error, then an answer
        _line(odd[1], Response.failed("timeout")), _line(odd[1], Response(text="  ")),  # only failures: the last one
        _line(odd[2], answer("A", extra={"id": "x"}), 1), _line(odd[2], answer("C"), 1),  # two answers: the later one
    ]
    log.append(more)
    log.close()
    with open(log.path, "ab") as handle:
        handle.write(b"not json\n" + b'{"key": "' + odd[3].encode() + b'", "row": {}, "response": {"text": 5}}\n')
    summary = write_tidy_table(plan, run_dir, keys, log, invocation=1)

    state = ResponseLog(run_dir).read(repair=False)  # the reference: every line parsed, answers and last lines kept
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    task_of = {task.name: task for task in plan.tasks}
    write_results(reference_dir, (
        result_row(run_dir.name, row, task_of[row.task], plan.adapters[row.model].name, plan.adapters[row.model].fingerprint(), key,
                   state.answers.get(key) or state.last_seen.get(key), 1, plan.pool.axes)
        for row, key in keys
    ))
    for name in ("results.parquet", "results.csv"):
        assert (run_dir / name).read_bytes() == (reference_dir / name).read_bytes(), name

    frame = pd.read_parquet(run_dir / "results.parquet")
    errors = frame.loc[frame["outcome"] == "error", "error"]
    assert (summary.rows, summary.unanswered, summary.cached) == (len(frame), len(errors), int(frame["cached"].sum()))
    assert dict(summary.errors) == errors.value_counts().to_dict() and summary.errors[0][0] == errors.value_counts().index[0]
    by_key = frame.set_index("response_key")
    assert by_key.loc[keys[0][1], "response"] == "Answer: C" and by_key.loc[odd[0], "response"] == "D"
    assert by_key.loc[odd[1], "outcome"] == "invalid" and by_key.loc[odd[2], "response"] == "C"
    assert summary.unanswered == len(keys) - len(first) - 3 > 0  # odd[3] (an unreadable line) and the rest: unanswered
    pd.testing.assert_frame_equal(summary.frame(), frame[summary.frame().columns])
    # the table's content digest, taken one column at a time, is the whole frame's
    assert parquet_digest(run_dir / "results.parquet") == frame_digest(frame)


def test_count_work_counts_the_distinct_keys_plan_jobs_makes(planned, tmp_path: Path, monkeypatch):
    from biasbench.runner.work import count_work
    from biasbench.voices import synthesis

    config, plan, clips = planned
    monkeypatch.setattr(synthesis, "cached_clips", lambda *args, **kwargs: clips)  # every clip "in the cache"
    _, keys = plan_jobs(config, plan, clips)
    work = count_work(config, plan, tmp_path)
    assert {m.model: m.calls for m in work.models} == {
        name: len({key for row, key in keys if row.model == name}) for name in ("oracle", "plain")
    }
    assert all(m.answered == 0 for m in work.models) and work.rows == len(plan.rows)


def test_score_keys_equal_the_stable_hash_they_shortcut() -> None:
    """result_row assembles the score key's hashed text around a per-task tail: equal to stable_hash for hex
    response keys, and a key needing JSON escaping takes stable_hash itself."""
    from types import SimpleNamespace

    from biasbench.core.hashing import stable_hash
    from biasbench.runner.results import score_key

    for name, version, parser in (("mmlu", "1", "p-2"), ('odd "name"\\', "é", "")):
        task = SimpleNamespace(name=name, version=version, parser_version=parser)
        for key in (hashlib.sha256(b"x").hexdigest(), "abc", 'not "hex" é'):
            assert score_key(key, task) == stable_hash(key, name, version, parser)[:16]  # type: ignore[arg-type]


def test_exclusions_csv_is_rewritten_only_when_its_content_changes(tmp_path: Path) -> None:
    import os

    from biasbench.core.item import Exclusion
    from biasbench.runner.results import write_exclusions

    excluded = {"mmlu": [Exclusion("mmlu", "q7", "contains code", {"group": "cs"})]}
    assert write_exclusions(tmp_path, excluded) == 1
    path = tmp_path / "exclusions.csv"
    os.utime(path, ns=(1, 1))
    write_exclusions(tmp_path, excluded)  # a resume: same content, the file is left alone
    assert path.stat().st_mtime_ns == 1
    write_exclusions(tmp_path, {"mmlu": []})
    assert path.stat().st_mtime_ns != 1 and pd.read_csv(path).empty
    assert path.read_text().splitlines() == ["task,item_id,reason,item_group"]
