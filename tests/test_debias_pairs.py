"""`biasbench debias pairs RUN_DIR`: voice-invariance preference pairs from a planted-bias run."""

from collections import Counter

import pytest
import yaml

pytest.importorskip("datasets", reason="datasets (biasbench[finetune]) is not installed")
pytest.importorskip("espeakng_loader", reason="espeak-ng (biasbench[tts]) is not installed")

from biasbench.cli import main
from biasbench.debias.preferences import read_preference_summary

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    # en-gb voices answer worse than the others; the text control is nearly always right
    config = {
        "name": "pairs-demo", "pool": "demo_espeak", "voice_split": "train",
        "tasks": [{"name": "demo_mc", "params": {"n_items": 10, "rotations": 2}}],
        "models": [{"name": "planted", "adapter": "simulated",
                    "params": {"axis": "accent", "planted": {"en-us": 0.97, "en-gb": 0.6, "en-029": 0.97},
                               "text_accuracy": 0.99, "seed": 3}}],
        "modalities": ["audio", "text"], "seed": 0, "report": False, "tts_workers": 1,
    }
    path = root / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["run", str(path), "--out", str(root / "run"), "--quiet", "--no-report"]) == 0
    assert main(["debias", "pairs", str(root / "run"), "--out", str(root / "pairs")]) == 0
    return root


def test_pairs_hold_only_items_whose_answers_differ_across_voices(planted_run):
    import datasets
    import pandas as pd

    results = pd.read_parquet(planted_run / "run" / "results.parquet")
    audio = results[(results["modality"] == "audio") & results["outcome"].isin(["correct", "incorrect"])]
    distinct = audio.groupby("item_id")["parsed"].nunique()
    dataset = datasets.load_from_disk(str(planted_run / "pairs" / "dataset"))
    items = set(dataset["item_id"])
    assert items, "the planted bias must produce voice-dependent items"
    assert all(distinct[item] >= 2 for item in items)
    # items whose voices all agree are left out (the planted accuracies leave some of them)
    assert (distinct == 1).any() and set(distinct[distinct == 1].index).isdisjoint(items)
    targets = audio.drop_duplicates("item_id").set_index("item_id")["target"]
    for row in dataset.remove_columns("audio"):
        assert row["source"] == "voice_invariance" and row["chosen"] != row["rejected"]
        # chosen names the correct option (in the clip's presented letters)
        chosen_letter = "ABCD"[(ord(targets[row["item_id"]]) - ord("A") - row["permutation"]) % 4]
        assert row["chosen"].startswith(f"{chosen_letter}. ")
        voice_answers = set(audio[audio["item_id"] == row["item_id"]]["parsed"])
        rejected_original = "ABCD"[(ord(row["rejected"][0]) - ord("A") + row["permutation"]) % 4]
        assert rejected_original in voice_answers  # the rejected answer is one a voice actually gave


def test_pairs_are_balanced_over_cells_and_recorded(planted_run):
    import datasets

    dataset = datasets.load_from_disk(str(planted_run / "pairs" / "dataset"))
    per_cell = Counter(dataset["cell"])
    assert len(per_cell) == 6 and len(set(per_cell.values())) == 1
    summary = read_preference_summary(planted_run / "pairs")
    assert summary is not None and summary.rows == len(dataset) and summary.sources == {"voice_invariance": len(dataset)}
    assert set(summary.train_items["demo_mc"]) == set(dataset["item_id"])
    assert set(summary.voices) <= {f"{g}-{a}-1" for g in "fm" for a in ("us", "gb", "029")}  # train voices only


def test_pairs_refuse_an_ambiguous_model_choice_in_one_line(planted_run, capsys):
    assert main(["debias", "pairs", str(planted_run / "run"), "--out", str(planted_run / "x"), "--model", "nope"]) != 0
    err = capsys.readouterr().err
    assert "model 'nope' is not in run" in err and "Traceback" not in err


def test_a_pairs_folder_trains_as_a_dpo_source_and_records_its_items(planted_run):
    import json
    import os

    for module in ("torch", "transformers", "peft", "tensorboard"):
        pytest.importorskip(module)
    import torch

    from biasbench.testing.tiny_models import build_tiny_qwen2_audio

    torch.set_num_threads(2)
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        model = build_tiny_qwen2_audio(planted_run / "tiny-qwen2-audio")
        config = {
            "base_model": str(model), "pool": "demo_espeak", "output": str(planted_run / "dpo"),
            "datasets": [{"name": "invariance", "kind": "preferences", "source": str(planted_run / "pairs")}],
            "data": {"voices_per_instruction": 2, "max_answer_tokens": 8},
            "lora": {"r": 2, "alpha": 4, "dropout": 0.0},
            "stages": [{"name": "dpo", "method": "dpo", "datasets": ["invariance"], "max_steps": 1, "learning_rate": 0.01}],
            "training": {"batch_size": 6, "grad_accum": 1},
        }
        (planted_run / "dpo.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        assert main(["debias", "train", str(planted_run / "dpo.yaml")]) == 0
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous
    manifest = json.loads((planted_run / "dpo" / "training.json").read_text(encoding="utf-8"))
    summary = read_preference_summary(planted_run / "pairs")
    assert manifest["train_items"] == summary.train_items and set(manifest["train_voices"]) == set(summary.voices)
    record = json.loads((planted_run / "dpo" / "train_log.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert record["method"] == "dpo" and record["pairs"] > 0
