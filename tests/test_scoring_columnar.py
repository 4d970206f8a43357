"""Columnar scoring (issue 13 item 5): typed detail columns written once, old tables score identically,
the scorer reads only the columns it needs, and the numbers equal those of the scorer before the change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biasbench.core.details import JSON_PREFIX, TYPED_PREFIX, expanded, is_detail_column, table_to_frame, typed_columns
from biasbench.core.result import RESULT_COLUMNS, ResultRow
from biasbench.runner import results as results_module
from biasbench.scoring import rundata
from biasbench.scoring.score import SCORES_DIR, score_run
from biasbench.tasks.metrics import expand_details

REFERENCE = Path(__file__).parent / "fixtures" / "scoring_reference"
"""A realistic 2,500-row run (MMLU-like + BBQ rows, written before typed detail columns existed) and its
score tables as the scorer before the columnar change wrote them (n_boot 20, n_perm 50)."""

DETAILS = [
    {"evidence": "letter", "n_choices": 4, "parse": "declared letter", "presented": "B", "rotation": 1, "span": "Answer: B"},
    {"n_choices": 4, "parse": "no option letter", "rotation": 2},
    {"answer_role": "unknown", "biased": None, "condition": "ambig", "n_choices": 3, "presented": "C", "rotation": 0},
    {"answer_role": "target", "biased": True, "condition": "disambig", "n_choices": 3, "presented": "A", "rotation": 0},
    {"domain": "gender", "association": {"gender": "female"}, "score": 0.25},
    {"reason": "empty response"},
    {},
    {"n_choices": "4", "odd": [1, 2]},  # a key whose type changes between rows (JSON column)
]


def _row(i: int, details: dict) -> ResultRow:
    outcome = ("correct", "incorrect", "invalid", "refusal", "error")[i % 5]
    return ResultRow(
        run_id="r", model=f"m{i % 2}", adapter="simulated", adapter_fingerprint="f", task="t", task_version="1",
        item_id=f"q{i % 7}", item_group=f"s{i % 3}", voice_id=f"v{i % 4}", gender=("female", "male")[i % 2], race="", accent="",
        age_band="", cell="", modality="audio", permutation=i % 3, repeat=0, response_key=f"k{i}", response="Answer: B",
        parsed="B" if outcome in ("correct", "incorrect") else "", target="B", outcome=outcome,
        score={"correct": 1.0, "incorrect": 0.0}.get(outcome), latency_s=0.5, cached=False, error="", finish_reason="stop",
        input_tokens=3, output_tokens=2, cost_usd=0.0, transcript="", parser_version="1", score_key=f"s{i}",
        details=json.dumps(details, sort_keys=True),
    )


def test_typed_detail_columns_are_written_in_batches_and_equal_the_json(tmp_path, monkeypatch):
    monkeypatch.setattr(results_module, "BATCH_ROWS", 5)  # keys appear, vanish and change type across batches
    rows = [_row(i, DETAILS[i % len(DETAILS)]) for i in range(23)]
    returned = results_module.write_results(tmp_path, (row for row in rows))  # any iterable, consumed once

    old = pd.DataFrame([row.to_record() for row in rows], columns=list(RESULT_COLUMNS))
    old["score"] = old["score"].astype("float64")
    pd.testing.assert_frame_equal(returned, old)
    csv = pd.read_csv(tmp_path / "results.csv", keep_default_na=False, na_values={"score": [""]})
    assert list(csv.columns) == list(RESULT_COLUMNS) and len(csv) == len(rows)
    assert csv["details"].tolist() == old["details"].tolist()

    table = pq.read_table(tmp_path / "results.parquet")
    typed = [n for n in table.column_names if is_detail_column(n)]
    assert TYPED_PREFIX + "presented" in typed and TYPED_PREFIX + "rotation" in typed
    assert JSON_PREFIX + "n_choices" in typed and JSON_PREFIX + "biased" in typed and JSON_PREFIX + "association" in typed
    assert table.schema.field(TYPED_PREFIX + "rotation").type == pa.int64()
    for name in typed:  # every value equals the JSON's, row by row
        key = name.split(".", 1)[1]
        for value, raw in zip(table.column(name).to_pylist(), old["details"]):
            parsed = json.loads(raw)
            if key not in parsed:
                assert value is None
            else:
                assert (json.loads(value) if name.startswith(JSON_PREFIX) else value) == parsed[key]
    frame = table_to_frame(table, categorical=["outcome"])
    for part in (frame, frame.iloc[:5], frame.iloc[6:13], frame.iloc[[1, 9, 17]]):  # any subset expands as its JSON does
        want = expand_details(old.loc[part.index]).drop(columns=list(RESULT_COLUMNS))
        keys = expanded(part)
        pd.testing.assert_frame_equal(keys.drop(columns=[c for c in keys.columns if c in RESULT_COLUMNS]), want, check_like=True)  # core columns win
        got = expand_details(part.drop(columns=["details"]))
        pd.testing.assert_frame_equal(got[want.columns], want)


def test_batches_left_by_a_killed_writer_are_removed_on_the_next_write(tmp_path):
    stale = tmp_path / f"{results_module.PARTS_PREFIX}killed"
    stale.mkdir()
    (stale / "part-00000.parquet").write_bytes(b"half a batch")
    results_module.write_results(tmp_path, [_row(0, DETAILS[0])])
    assert not stale.exists() and not list(tmp_path.glob(f"{results_module.PARTS_PREFIX}*"))
    assert len(pd.read_parquet(tmp_path / "results.parquet")) == 1


def _copy_reference(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(REFERENCE / "results.parquet", folder / "results.parquet")
    shutil.copy(REFERENCE / "manifest.json", folder / "manifest.json")
    return folder


def _assert_reference_tables(run_dir: Path) -> None:
    names = sorted(p.name for p in (REFERENCE / "scores").glob("*.parquet"))
    assert len(names) >= 12
    for name in names:
        want = pd.read_parquet(REFERENCE / "scores" / name)
        got = pd.read_parquet(run_dir / SCORES_DIR / name)
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, atol=1e-12, obj=name)


@pytest.fixture(scope="module")
def typed_run(tmp_path_factory) -> Path:
    """The reference rows with the typed detail columns the runner writes now."""
    folder = _copy_reference(tmp_path_factory.mktemp("typed") / "run")
    table = pq.read_table(folder / "results.parquet")
    codes, uniques = pd.factorize(table.column("details").to_pandas())
    for name, array in typed_columns(list(uniques)).items():
        table = table.append_column(name, array.take(pa.array(codes)))
    pq.write_table(table, folder / "results.parquet")
    score_run(folder, n_boot=20, n_perm=50)
    return folder


def test_reference_numbers_are_unchanged_on_typed_tables(typed_run):
    """The scorer on typed detail columns gives the tables the pre-columnar scorer gave (1e-12)."""
    assert (REFERENCE / "scores" / "position_bias.parquet").is_file()
    position = pd.read_parquet(typed_run / SCORES_DIR / "position_bias.parquet")
    assert set(position["task"]) == {"mmlu", "bbq"} and not position["note"].str.contains("option count").any()  # n_choices read
    assert pd.read_parquet(typed_run / SCORES_DIR / "group_metrics.parquet")["metric"].str.startswith("bbq_").any()
    _assert_reference_tables(typed_run)


def test_old_tables_without_typed_columns_score_identically(typed_run, tmp_path):
    old = _copy_reference(tmp_path / "old")
    assert not any(is_detail_column(n) for n in pq.read_schema(old / "results.parquet").names)
    score_run(old, n_boot=20, n_perm=50)
    _assert_reference_tables(old)
    for path in sorted((typed_run / SCORES_DIR).glob("*.parquet")):
        assert path.read_bytes() == (old / SCORES_DIR / path.name).read_bytes(), path.name


def test_the_scorer_reads_only_the_columns_it_needs(typed_run, monkeypatch):
    read: list[list[str]] = []
    real = pq.read_table

    def spy(path, columns=None, **kwargs):
        read.append(list(columns) if columns is not None else ["<every column>"])
        return real(path, columns=columns, **kwargs)

    monkeypatch.setattr(rundata.pq, "read_table", spy)
    data = rundata.load_run(typed_run, scoring=True)
    typed = {n for n in pq.read_schema(typed_run / "results.parquet").names if is_detail_column(n)}
    assert len(read) == 1 and set(read[0]) == set(rundata.REQUIRED_COLUMNS) | typed
    assert not {"response", "details", "response_key", "score_key", "transcript"} & set(data.frame.columns)
    strings = [c for c in rundata.REQUIRED_COLUMNS if c not in rundata.NUMERIC_COLUMNS]
    assert all(isinstance(data.frame[c].dtype, pd.CategoricalDtype) for c in strings)  # a small code per row
    for column in strings:  # categories sorted, so group-bys keep the order of the strings
        categories = list(data.frame[column].cat.categories)
        assert categories == sorted(categories)
    assert data.frame["score"].dtype == np.float64


def test_bounded_memory_helpers_give_the_same_numbers():
    """Item counts built a replicate at a time and flip pair sums built a chunk of keys at a time equal the
    whole-array forms they replaced, bit for bit."""
    from biasbench.scoring.bootstrap import item_counts
    from biasbench.scoring.flips import pair_sums, pair_tables

    for n_items in (2, 37, 500):
        draws = np.random.default_rng(5).integers(0, n_items, size=(300, n_items))
        flat = draws + (np.arange(300) * n_items)[:, None]
        whole = np.bincount(flat.ravel(), minlength=300 * n_items).reshape(300, n_items).T.astype(np.float32)
        got = item_counts(n_items, 300, np.random.default_rng(5))
        assert got.dtype == np.float32 and got.flags.c_contiguous and np.array_equal(got, whole)
    rng = np.random.default_rng(1)
    codes = rng.integers(-1, 3, size=(50, 6))
    pairs = pair_tables(codes)
    weights = item_counts(20, 40, rng)
    item_of_key = rng.integers(0, 20, size=50)
    gathered = weights[item_of_key]
    want = (gathered.T @ pairs.reshape(50, -1).astype(np.float32)).astype(np.float64).reshape(-1, 2, 6, 6)
    for chunk in (1, 7, 4096):
        assert np.array_equal(pair_sums(pairs, weights, item_of_key, chunk=chunk), want)
    assert np.array_equal(pair_sums(pairs, gathered), want)
