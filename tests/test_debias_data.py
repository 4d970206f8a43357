"""Spoken instruction data: Alpaca records, speakability exclusions, cell balance, the saved dataset."""

from pathlib import Path

import pytest

from biasbench.core.errors import DataError
from biasbench.debias.balance import balanced_assignments
from biasbench.debias.instructions import read_alpaca, to_instructions
from biasbench.debias.train_config import DataConfig, DataSource
from biasbench.voices.spec import load_pool

LIMA = Path(__file__).resolve().parents[2] / "shared" / "data" / "lima" / "lima_llamafactory_alpaca_format.json"
needs_lima = pytest.mark.skipif(not LIMA.is_file(), reason=f"LIMA data not found at {LIMA}")


def test_records_without_answer_or_with_history_are_excluded_with_reasons():
    kept, excluded = to_instructions(
        [
            {"Instruction": "Name a planet.", "input": "", "output": "Mars."},
            {"instruction": "Summarise.", "input": "A long text.", "output": "Short."},
            {"instruction": "No answer here.", "input": "", "output": ""},
            {"instruction": "Follow-up?", "output": "Yes.", "history": [["hi", "hello"]]},
        ],
        dataset="toy",
        license="CC0",
    )
    assert [k.id for k in kept] == ["toy/0", "toy/1"]
    assert kept[1].request_text == "Summarise.\n\nA long text."
    reasons = {e.item_id: e.reason for e in excluded}
    assert "no answer" in reasons["toy/2"] and "multi-turn" in reasons["toy/3"]


def test_bad_files_give_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_alpaca(str(tmp_path / "missing.json"), dataset="x")
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON"):
        read_alpaca(str(broken), dataset="x")


@needs_lima
def test_lima_reads_with_multi_turn_records_excluded():
    kept, excluded = read_alpaca(str(LIMA), dataset="lima", license="CC BY-NC-SA")
    assert len(kept) + len(excluded) == 1029
    assert sum("multi-turn" in e.reason for e in excluded) == 29
    assert all(item.output and item.license == "CC BY-NC-SA" for item in kept)


def test_every_cell_speaks_equally_and_pairs_cross_cells():
    pool = load_pool("demo_espeak")
    kept, _ = to_instructions([{"instruction": f"Question {i}?", "output": f"Answer {i}."} for i in range(8)], dataset="toy")
    assignments, dropped = balanced_assignments(kept, pool, pool.split("train"), voices_per_instruction=2, seed=0)
    # 6 cells, 2 voices each instruction: instructions must come in multiples of 3 -> 6 kept, 2 dropped with reasons
    assert len(assignments) == 12 and len(dropped) == 2 and "same number" in dropped[0].reason
    per_cell = {}
    for a in assignments:
        per_cell[a.cell] = per_cell.get(a.cell, 0) + 1
        assert a.voice.split == "train"
    assert len(per_cell) == 6 and set(per_cell.values()) == {2}
    by_instruction = {}
    for a in assignments:
        by_instruction.setdefault(a.instruction.id, []).append(a.cell)
    assert all(len(set(cells)) == 2 for cells in by_instruction.values())
    again, _ = balanced_assignments(kept, pool, pool.split("train"), voices_per_instruction=2, seed=0)
    assert [(a.instruction.id, a.voice.id) for a in again] == [(a.instruction.id, a.voice.id) for a in assignments]


@needs_lima
def test_spoken_dataset_from_lima_is_balanced_and_saved_with_16khz_audio(tmp_path):
    pytest.importorskip("datasets", reason="datasets (biasbench[finetune]) is not installed")
    pytest.importorskip("espeakng_loader", reason="espeak-ng (biasbench[tts]) is not installed")
    from biasbench.debias.hf_audio import decode_clip
    from biasbench.debias.spoken_data import build_spoken_dataset, load_spoken_dataset

    pool = load_pool("demo_espeak")
    source = DataSource(name="lima", source=str(LIMA), limit=3, license="CC BY-NC-SA")
    data = DataConfig(voices_per_instruction=2, tts_workers=1)
    summary = build_spoken_dataset(source, pool, tmp_path / "lima", data=data, cache_root=tmp_path / "cache", echo=lambda _: None)
    assert summary.rows == 6 and summary.instructions == 3
    assert set(summary.rows_per_cell.values()) == {1} and len(summary.rows_per_cell) == 6
    assert set(summary.voices) <= {v.id for v in pool.split("train")}
    exclusions = (tmp_path / "lima" / "exclusions.csv").read_text(encoding="utf-8")
    assert "multi-turn" in exclusions and "beyond limit=3" in exclusions
    dataset = load_spoken_dataset(summary)
    assert dataset.features["audio"].sampling_rate == 16_000
    row = dataset[0]
    audio = decode_clip(row["audio"])
    assert audio.sample_rate == 16_000 and audio.duration_s > 0.3
    assert row["target"] and row["gender"] in ("female", "male") and row["accent"] and row["license"] == "CC BY-NC-SA"
    reused = build_spoken_dataset(source, pool, tmp_path / "lima", data=data, cache_root=tmp_path / "cache", echo=lambda _: None)
    assert reused == summary


def test_a_datasets_source_loads_through_load_dataset(tmp_path):
    pytest.importorskip("datasets", reason="datasets (biasbench[finetune]) is not installed")
    folder = tmp_path / "alpaca_repo"
    folder.mkdir()
    (folder / "train.jsonl").write_text(
        '{"instruction": "Name a colour.", "input": "", "output": "Blue."}\n'
        '{"instruction": "Count to three.", "input": "", "output": "One, two, three."}\n',
        encoding="utf-8",
    )
    kept, excluded = read_alpaca(str(folder), dataset="hub", split="train")
    assert [k.output for k in kept] == ["Blue.", "One, two, three."] and not excluded
    with pytest.raises(DataError, match="cannot load instruction dataset"):
        read_alpaca(str(tmp_path / "no-such-dataset"), dataset="hub")
