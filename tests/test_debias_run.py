"""`biasbench debias run` on a tiny Qwen2-Audio + the espeak demo pool: before/after tables, plots, Debias sheet."""

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

for module, reason in (("torch", "torch"), ("transformers", "transformers"), ("peft", "peft"), ("datasets", "datasets"),
                       ("espeakng_loader", "espeak-ng (biasbench[tts])")):
    pytest.importorskip(module, reason=f"{reason} is not installed")

from biasbench.cli import main
from biasbench.core.errors import ConfigError
from biasbench.debias.experiment import check_disjoint, run_debias
from biasbench.debias.run_config import load_run_config
from biasbench.testing.tiny_models import build_tiny_qwen2_audio
from biasbench.voices.spec import load_pool

LIMA = Path(__file__).resolve().parents[2] / "shared" / "data" / "lima" / "lima_llamafactory_alpaca_format.json"
pytestmark = [pytest.mark.skipif(not LIMA.is_file(), reason=f"LIMA data not found at {LIMA}"), pytest.mark.slow]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    root = tmp_path_factory.mktemp("debias-run")
    model = build_tiny_qwen2_audio(root / "tiny-qwen2-audio")
    train_config = {
        "base_model": str(model), "pool": "demo_espeak", "output": str(root / "finetune"), "cache_dir": str(root / "cache"),
        "datasets": [{"name": "lima", "source": str(LIMA), "limit": 3}],
        "data": {"voices_per_instruction": 2, "max_answer_tokens": 8, "tts_workers": 1},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "stages": [{"name": "sft", "datasets": ["lima"], "epochs": 2, "learning_rate": 0.05}],
        "training": {"batch_size": 6, "grad_accum": 1},
    }
    eval_config = {
        "name": "tiny-eval", "pool": "demo_espeak",
        "tasks": [{"name": "demo_mc", "params": {"n_items": 2, "rotations": 1}}],
        "modalities": ["audio", "text"],
        "model": {"name": "qwen2-audio", "adapter": "qwen2-audio", "params": {"model": str(model), "batch_size": 32}},
        "finetune": str(root / "finetune"), "output": str(root / "eval"), "cache_dir": str(root / "cache"),
        "n_boot": 50, "generation": {"max_new_tokens": 3}, "tts_workers": 1, "batch_size": 32, "report_plots": False,
    }
    (root / "train.yaml").write_text(yaml.safe_dump(train_config), encoding="utf-8")
    (root / "eval.yaml").write_text(yaml.safe_dump(eval_config), encoding="utf-8")
    assert main(["debias", "train", str(root / "train.yaml")]) == 0
    assert main(["debias", "run", str(root / "eval.yaml"), "--quiet"]) == 0
    yield root
    if previous is None:
        os.environ.pop("HF_HUB_OFFLINE", None)
    else:
        os.environ["HF_HUB_OFFLINE"] = previous


def test_before_after_tables_cover_both_mitigations(experiment):
    import pandas as pd

    gaps = pd.read_csv(experiment / "eval" / "debias" / "before_after_gaps.csv")
    capability = pd.read_csv(experiment / "eval" / "debias" / "capability.csv")
    assert set(gaps["condition"]) == {"finetune", "prompt"}
    assert set(gaps["grouping"]) == {"gender", "accent", "cell"}
    assert set(gaps["after_model"]) == {"finetuned", "base+prompt"}
    assert set(capability["modality"]) == {"audio", "text"}  # text modality = the text control
    rows = gaps[gaps["status"] != "not_applicable"]
    assert not rows.empty
    assert (rows["change"] - (rows["gap_after"] - rows["gap_before"])).abs().max() < 1e-9
    assert rows["change_ci_low"].notna().all() and (rows["change_ci_low"] <= rows["change_ci_high"]).all()
    for name in ("debias_gaps.png", "debias_capability.png"):
        assert (experiment / "eval" / "plots" / name).stat().st_size > 1000


def test_report_has_the_debias_sheet(experiment):
    from openpyxl import load_workbook

    workbook = load_workbook(experiment / "eval" / "finetune" / "report.xlsx", read_only=True)
    assert "Debias" in workbook.sheetnames
    header = next(workbook["Debias"].iter_rows(max_row=1, values_only=True))
    assert {"kind", "condition", "before", "after", "change", "change_ci_low", "change_ci_high"} <= set(header)


def test_only_eval_voices_answer_and_they_are_disjoint_from_training(experiment):
    import pandas as pd

    pool = load_pool("demo_espeak")
    eval_voices = {v.id for v in pool.split("eval")}
    train_voices = set(json.loads((experiment / "finetune" / "training.json").read_text(encoding="utf-8"))["train_voices"])
    for run in ("finetune", "prompt"):
        results = pd.read_parquet(experiment / "eval" / run / "results.parquet")
        used = set(results.loc[results["modality"] == "audio", "voice_id"])
        assert used == eval_voices
        assert not used & train_voices
    manifest = json.loads((experiment / "eval" / "prompt" / "manifest.json").read_text(encoding="utf-8"))
    assert "speaker" in manifest["config"]["system_prompt"]


def test_overlapping_train_and_eval_voices_are_refused(experiment, tmp_path):
    with pytest.raises(ConfigError, match="overlap"):
        check_disjoint({"f-us-1", "f-us-2"}, {"f-us-2", "m-us-2"})
    leaked = tmp_path / "finetune"
    shutil.copytree(experiment / "finetune" / "adapter", leaked / "adapter")
    manifest = json.loads((experiment / "finetune" / "training.json").read_text(encoding="utf-8"))
    manifest["train_voices"].append("f-us-2")
    (leaked / "training.json").write_text(json.dumps(manifest), encoding="utf-8")
    config = load_run_config(experiment / "eval.yaml", finetune=str(leaked), output=str(tmp_path / "eval"))
    with pytest.raises(ConfigError, match="f-us-2"):
        run_debias(config, experiment, show_progress=False, echo=lambda _: None)
    assert not (tmp_path / "eval").exists()


def test_an_adapter_without_lora_support_is_refused_in_one_line(experiment, tmp_path):
    from biasbench.debias.experiment import eval_run_configs

    config = load_run_config(experiment / "eval.yaml", model={"name": "api", "adapter": "openai-compatible", "params": {"model": "x"}})
    with pytest.raises(ConfigError, match="cannot load a LoRA adapter"):
        eval_run_configs(config, tmp_path)
    explicit = load_run_config(
        experiment / "eval.yaml",
        finetuned_model={"name": "served", "adapter": "openai-compatible", "params": {"model": "debiased", "base_url": "http://localhost:8000/v1"}},
    )
    runs = eval_run_configs(explicit, tmp_path)
    models = {m.name: m for m in runs["finetune"].models}
    assert set(models) == {"base", "finetuned"} and models["finetuned"].params["model"] == "debiased"
    assert [m.name for m in runs["prompt"].models] == ["base"] and runs["prompt"].voice_split == "eval"


def test_the_debias_sheet_provider_rebuilds_the_sheet_from_the_experiment_folder(experiment):
    from types import SimpleNamespace

    from biasbench.debias.report import debias_sheet

    sheet = debias_sheet(SimpleNamespace(run_dir=experiment / "eval" / "finetune"))
    assert sheet is not None and sheet.name == "Debias" and set(sheet.table["kind"]) == {"gap", "capability", "answer_rates"}
    assert "f-us-1" in sheet.description
    assert debias_sheet(SimpleNamespace(run_dir=experiment / "finetune")) is None
