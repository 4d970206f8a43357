"""DPO on a tiny random Qwen2-Audio: probe preference pairs, loss and statistics, resume, held-out
items/categories, SFT -> DPO curriculum, and the five-way `debias run` comparison."""

import json
import math
import os
from pathlib import Path

import pytest
import yaml

for module, reason in (("torch", "torch"), ("transformers", "transformers"), ("peft", "peft"), ("datasets", "datasets"),
                       ("tensorboard", "tensorboard (biasbench[finetune])"), ("espeakng_loader", "espeak-ng (biasbench[tts])")):
    pytest.importorskip(module, reason=f"{reason} is not installed")

import torch

from biasbench.cli import main
from biasbench.core.errors import ConfigError
from biasbench.debias.dpo import dpo_statistics, sequence_logprobs
from biasbench.debias.train_config import load_train_config
from biasbench.debias.trainer import train
from biasbench.testing.tiny_models import build_tiny_qwen2_audio

torch.set_num_threads(2)
LIMA = Path(__file__).resolve().parents[2] / "shared" / "data" / "lima" / "lima_llamafactory_alpaca_format.json"
BBQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbq"
TRAIN_VOICES = {"f-us-1", "m-us-1", "f-gb-1", "m-gb-1", "f-029-1", "m-029-1"}


def test_dpo_loss_is_log2_when_policy_equals_reference_and_falls_with_the_margin():
    zeros = torch.zeros(4)
    stats = dpo_statistics(zeros, zeros, zeros, zeros, beta=0.1)
    assert math.isclose(float(stats.loss), math.log(2), rel_tol=1e-6)
    assert stats.preference_accuracy == 0.0 and stats.reward_margin == 0.0
    better = dpo_statistics(torch.tensor([1.0, 2.0]), torch.tensor([-1.0, 3.0]), torch.zeros(2), torch.zeros(2), beta=0.5)
    assert better.preference_accuracy == 0.5  # second pair: rejected gained more than chosen
    assert math.isclose(better.reward_margin, (0.5 * 2 + 0.5 * -1) / 2, rel_tol=1e-6)
    assert math.isclose(float(better.loss), (-math.log(1 / (1 + math.exp(-1.0))) - math.log(1 / (1 + math.exp(0.5)))) / 2, rel_tol=1e-5)


def test_sequence_logprobs_count_answer_tokens_only():
    logits = torch.randn(1, 5, 7)
    labels = torch.tensor([[-100, -100, -100, 3, 4]])
    expected = torch.log_softmax(logits[0, 2], -1)[3] + torch.log_softmax(logits[0, 3], -1)[4]
    assert torch.allclose(sequence_logprobs(logits, labels), expected.unsqueeze(0))
    other_prompt = logits.clone()
    other_prompt[0, 0] += 5.0  # a prompt position's prediction does not count
    assert torch.allclose(sequence_logprobs(other_prompt, labels), expected.unsqueeze(0))


def test_a_dpo_stage_needs_preference_data(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({
        "base_model": "x", "pool": "demo_espeak", "datasets": [{"name": "lima", "source": "lima.json"}],
        "stages": [{"name": "d", "method": "dpo", "datasets": ["lima"]}],
    }), encoding="utf-8")
    with pytest.raises(ConfigError, match="needs preferences datasets"):
        load_train_config(bad)


needs_data = pytest.mark.skipif(not (LIMA.is_file() and BBQ.is_dir()), reason=f"LIMA/BBQ data not found under {LIMA.parents[1]}")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    root = tmp_path_factory.mktemp("debias-dpo")
    yield root, build_tiny_qwen2_audio(root / "tiny-qwen2-audio")
    if previous is None:
        os.environ.pop("HF_HUB_OFFLINE", None)
    else:
        os.environ["HF_HUB_OFFLINE"] = previous


PROBES = {"name": "probes", "kind": "preferences", "probes": {
    "tasks": [{"name": "bbq", "params": {"path": str(BBQ), "categories": ["Age"], "n_per_category": 6, "rotations": 3}},
              {"name": "voice_only_ambiguous", "params": {"n_items": 4}}],
    "eval_fraction": 0.3, "eval_categories": ["Nationality"], "seed": 1}}
LIMA_SOURCE = {"name": "lima", "source": str(LIMA), "limit": 3}


def write_config(root: Path, model: Path, output: str, stages: list[dict], datasets: list[dict], **training) -> Path:
    config = {
        "base_model": str(model), "pool": "demo_espeak", "output": str(root / output), "cache_dir": str(root / "cache"),
        "datasets": datasets, "data": {"voices_per_instruction": 2, "max_answer_tokens": 20, "tts_workers": 1},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "stages": stages,
        "training": {"batch_size": 6, "grad_accum": 1, "save_every": 1, "seed": 0, **training},
    }
    path = root / f"{output}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


DPO_STAGE = {"name": "dpo", "method": "dpo", "beta": 0.1, "datasets": ["probes"], "epochs": 3, "learning_rate": 0.02}


@pytest.fixture(scope="module")
def dpo(workspace):
    root, model = workspace
    path = write_config(root, model, "dpo", [DPO_STAGE], [PROBES])
    assert main(["debias", "train", str(path)]) == 0
    return root / "dpo"


def log(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "train_log.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
@needs_data
def test_dpo_raises_preference_accuracy_and_margin_above_the_first_step(dpo):
    records = log(dpo)
    assert [r["method"] for r in records] == ["dpo"] * len(records) and len(records) >= 3
    first, last = records[0], records[-1]
    # step 1: LoRA B is zero, so the policy equals the reference: margin 0, loss log 2, accuracy 0
    assert abs(first["reward_margin"]) < 1e-6 and math.isclose(first["dpo_loss"], math.log(2), rel_tol=1e-4)
    assert last["preference_accuracy"] > first["preference_accuracy"] and last["reward_margin"] > 0.05
    assert last["dpo_loss"] < first["dpo_loss"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(dpo / "tensorboard"))
    events.Reload()
    assert {"train/reward_margin", "train/preference_accuracy"} <= set(events.Tags()["scalars"])


@pytest.mark.slow
@needs_data
def test_dpo_trains_only_lora_and_records_its_train_split(dpo):
    from safetensors.torch import load_file

    manifest = json.loads((dpo / "training.json").read_text(encoding="utf-8"))
    assert manifest["frozen_changed"] == [] and manifest["methods"] == ["dpo"]
    weights = load_file(str(dpo / "adapter" / "adapter_model.safetensors"))
    assert weights and all("lora_" in name for name in weights)
    assert set(manifest["train_voices"]) <= TRAIN_VOICES
    assert manifest["train_categories"] == {"bbq": ["Age"]}
    summary = json.loads((dpo / "data" / "probes" / "preferences.json").read_text(encoding="utf-8"))
    for task, items in summary["eval_items"].items():
        assert not set(items) & set(manifest["train_items"].get(task, []))  # held-out items never trained on
    assert len(set(summary["rows_per_cell"].values())) == 1 and len(summary["rows_per_cell"]) == 6


@pytest.mark.slow
@needs_data
def test_dpo_resumes_to_the_weights_of_an_uninterrupted_run(dpo, workspace):
    from safetensors.torch import load_file

    root, model = workspace
    config = load_train_config(write_config(root, model, "dpo-resumed", [DPO_STAGE], [PROBES]))
    first = train(config, root, stop_after=1, echo=lambda _: None)
    assert first.adapter_path is None and first.steps_done == 1
    second = train(config, root, echo=lambda _: None)
    assert second.resumed_from == 1 and second.adapter_path is not None and second.steps_done == 3
    resumed = load_file(str(second.adapter_path / "adapter_model.safetensors"))
    full = load_file(str(dpo / "adapter" / "adapter_model.safetensors"))
    assert resumed.keys() == full.keys()
    assert max((resumed[name] - full[name]).abs().max().item() for name in full) < 1e-5


@pytest.fixture(scope="module")
def five_way(dpo, workspace):
    root, model = workspace
    sft = write_config(root, model, "sft", [{"name": "sft", "datasets": ["lima"], "max_steps": 1, "learning_rate": 0.02}], [LIMA_SOURCE])
    sft_dpo = write_config(root, model, "sft-dpo", [
        {"name": "sft", "datasets": ["lima"], "max_steps": 1, "learning_rate": 0.02},
        {**DPO_STAGE, "max_steps": 1}], [LIMA_SOURCE, PROBES])
    for path in (sft, sft_dpo):
        assert main(["debias", "train", str(path)]) == 0
    eval_config = {
        "name": "five", "pool": "demo_espeak",
        "tasks": [{"name": "demo_mc", "params": {"n_items": 2, "rotations": 1}},
                  {"name": "bbq", "params": {"path": str(BBQ), "categories": ["Nationality"], "n_per_category": 1, "rotations": 1}}],
        "modalities": ["audio", "text"],
        "model": {"name": "qwen2-audio", "adapter": "qwen2-audio", "params": {"model": str(model), "batch_size": 32}},
        "finetunes": {"sft": str(root / "sft"), "dpo": str(dpo), "sft-dpo": str(root / "sft-dpo")},
        "output": str(root / "eval"), "cache_dir": str(root / "cache"), "n_boot": 30,
        "generation": {"max_new_tokens": 3}, "tts_workers": 1, "batch_size": 32, "report_plots": False,
    }
    (root / "eval.yaml").write_text(yaml.safe_dump(eval_config), encoding="utf-8")
    assert main(["debias", "run", str(root / "eval.yaml"), "--quiet"]) == 0
    return root


@pytest.mark.slow
@needs_data
def test_sft_then_dpo_is_one_curriculum(five_way):
    records = log(five_way / "sft-dpo")
    assert [(r["stage"], r["method"]) for r in records] == [("sft", "sft"), ("dpo", "dpo")]
    assert "ce" in records[0] and "preference_accuracy" in records[1]


@pytest.mark.slow
@needs_data
def test_debias_run_compares_all_five_conditions_with_cis(five_way):
    import pandas as pd
    from openpyxl import load_workbook

    folder = five_way / "eval" / "debias"
    gaps = pd.read_csv(folder / "before_after_gaps.csv")
    capability = pd.read_csv(folder / "capability.csv")
    rates = pd.read_csv(folder / "answer_rates.csv")
    assert set(gaps["condition"]) == {"sft", "dpo", "sft-dpo", "prompt"} and set(gaps["before_model"]) == {"base"}
    assert set(rates["condition"]) == {"base", "sft", "dpo", "sft-dpo", "prompt"}
    assert set(capability["modality"]) == {"audio", "text"}
    rows = gaps[gaps["status"] == "ok"]
    assert set(rows["condition"]) == {"sft", "dpo", "sft-dpo", "prompt"}
    assert rows["change_ci_low"].notna().all() and (rows["change_ci_low"] <= rows["change_ci_high"]).all()
    assert ((rates["invalid_rate"] >= 0) & (rates["invalid_rate"] <= 1)).all()
    assert (five_way / "eval" / "plots" / "debias_methods.png").stat().st_size > 1000
    workbook = load_workbook(five_way / "eval" / "finetune" / "report.xlsx", read_only=True)
    kinds = {row[0] for row in workbook["Debias"].iter_rows(min_row=2, values_only=True)}
    assert {"gap", "capability", "answer_rates"} <= kinds


@pytest.mark.slow
@needs_data
def test_eval_on_trained_categories_or_items_is_refused_in_one_line(five_way, capsys):
    config = yaml.safe_load((five_way / "eval.yaml").read_text(encoding="utf-8"))
    config["tasks"] = [{"name": "bbq", "params": {"path": str(BBQ), "categories": ["Age"], "n_per_category": 1}}]
    config["output"] = str(five_way / "refused")
    (five_way / "refused.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["debias", "run", str(five_way / "refused.yaml"), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "BBQ categories the finetune trained on (Age)" in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
    trained = json.loads((five_way / "dpo" / "training.json").read_text(encoding="utf-8"))["train_items"]["voice_only_ambiguous"]
    config["tasks"] = [{"name": "voice_only_ambiguous"}]
    (five_way / "refused.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["debias", "run", str(five_way / "refused.yaml"), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "shares" in err and "item(s) with the preference data" in err and trained
    assert not (five_way / "refused").exists()
