"""Method one from local files: the LIMA -> WizardLM two-stage SFT curriculum, ShareGPT answers, and a one-line
error for the shared WizardLM file (prompts only)."""

import json
import os
from pathlib import Path

import pytest
import yaml

from biasbench.cli import main
from biasbench.core.errors import DataError
from biasbench.debias.instructions import from_sharegpt, read_alpaca

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LIMA = SHARED / "lima" / "lima_llamafactory_alpaca_format.json"
WIZARDLM_PROMPTS = SHARED / "wizardlm" / "WizardLM_testset.jsonl"


def sharegpt_file(path: Path, prompts: list[str]) -> Path:
    """A small local WizardLM-style file in ShareGPT format with answers (written for the test)."""
    records = [{"idx": i, "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": f"Here is a short answer number {i}."}]}
               for i, prompt in enumerate(prompts)]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_sharegpt_records_become_instructions_and_multi_turn_is_excluded(tmp_path):
    path = sharegpt_file(tmp_path / "wiz.jsonl", ["What is rain?", "Name a colour."])
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"},
                                                   {"from": "human", "value": "c"}, {"from": "gpt", "value": "d"}]}) + "\n")
    kept, excluded = read_alpaca(str(path), dataset="wizardlm")
    assert [(i.instruction, i.output) for i in kept] == [("What is rain?", "Here is a short answer number 0."),
                                                         ("Name a colour.", "Here is a short answer number 1.")]
    assert len(excluded) == 1 and "multi-turn" in excluded[0].reason
    assert from_sharegpt({"instruction": "x", "output": "y"}) == {"instruction": "x", "output": "y"}


@pytest.mark.skipif(not WIZARDLM_PROMPTS.is_file(), reason=f"WizardLM test set not found at {WIZARDLM_PROMPTS}")
def test_the_shared_wizardlm_file_has_prompts_only_and_says_so_in_one_line(tmp_path, capsys):
    with pytest.raises(DataError, match="prompts only"):
        read_alpaca(str(WIZARDLM_PROMPTS), dataset="wizardlm")
    config = {"base_model": "x", "pool": "demo_espeak", "output": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache"),
              "datasets": [{"name": "wizardlm", "source": str(WIZARDLM_PROMPTS)}],
              "stages": [{"name": "wizardlm", "datasets": ["wizardlm"]}]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["debias", "train", str(tmp_path / "c.yaml")]) != 0
    err = capsys.readouterr().err
    assert "prompts only" in err and "WizardLM_evol_instruct_70k" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


@pytest.mark.slow
@pytest.mark.skipif(not (LIMA.is_file() and WIZARDLM_PROMPTS.is_file()), reason="LIMA or WizardLM data not found")
def test_lima_then_wizardlm_two_stage_curriculum_from_local_files(tmp_path):
    for module in ("torch", "transformers", "peft", "datasets", "espeakng_loader"):
        pytest.importorskip(module)
    import torch

    from biasbench.testing.tiny_models import build_tiny_qwen2_audio

    torch.set_num_threads(2)
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        model = build_tiny_qwen2_audio(tmp_path / "tiny-qwen2-audio")
        prompts = [json.loads(line)["Instruction"] for line in WIZARDLM_PROMPTS.read_text(encoding="utf-8").splitlines()[:12]]
        wizardlm = sharegpt_file(tmp_path / "wizardlm_with_answers.jsonl", prompts)
        config = {
            "base_model": str(model), "pool": "demo_espeak", "output": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache"),
            "datasets": [{"name": "lima", "source": str(LIMA), "limit": 3},
                         {"name": "wizardlm", "source": str(wizardlm), "limit": 3}],
            "data": {"voices_per_instruction": 2, "max_answer_tokens": 8, "tts_workers": 1},
            "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
            "stages": [{"name": "lima", "datasets": ["lima"], "max_steps": 1, "learning_rate": 0.02},
                       {"name": "wizardlm", "datasets": ["wizardlm"], "max_steps": 1, "learning_rate": 0.01}],
            "training": {"batch_size": 6, "grad_accum": 1},
        }
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        assert main(["debias", "train", str(tmp_path / "c.yaml")]) == 0
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous
    records = [json.loads(line) for line in (tmp_path / "out" / "train_log.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["stage"] for r in records] == ["lima", "wizardlm"] and all(r["answer_tokens"] > 0 for r in records)
    manifest = json.loads((tmp_path / "out" / "training.json").read_text(encoding="utf-8"))
    assert manifest["data"]["lima"]["instructions"] == 3 and manifest["data"]["wizardlm"]["instructions"] == 3
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").is_file()
