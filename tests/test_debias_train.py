"""LoRA finetune of a tiny random Qwen2-Audio on spoken LIMA items: loss, frozen weights, adapter, resume, CLI."""

import json
import os
from pathlib import Path

import pytest
import yaml

for module, reason in (("torch", "torch"), ("transformers", "transformers"), ("peft", "peft"), ("datasets", "datasets"),
                       ("espeakng_loader", "espeak-ng (biasbench[tts])")):
    pytest.importorskip(module, reason=f"{reason} is not installed")

from biasbench.cli import main
from biasbench.core.errors import ConfigError
from biasbench.debias.train_config import load_train_config
from biasbench.debias.trainer import train
from biasbench.testing.tiny_models import build_tiny_qwen2_audio

LIMA = Path(__file__).resolve().parents[2] / "shared" / "data" / "lima" / "lima_llamafactory_alpaca_format.json"
pytestmark = [pytest.mark.skipif(not LIMA.is_file(), reason=f"LIMA data not found at {LIMA}"), pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def offline():
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield
    if previous is None:
        os.environ.pop("HF_HUB_OFFLINE", None)
    else:
        os.environ["HF_HUB_OFFLINE"] = previous


def write_config(folder: Path, model: Path, output: Path, cache: Path, **training) -> Path:
    config = {
        "name": "tiny",
        "base_model": str(model),
        "pool": "demo_espeak",
        "output": str(output),
        "cache_dir": str(cache),
        "datasets": [{"name": "lima", "source": str(LIMA), "limit": 3, "license": "CC BY-NC-SA"}],
        "data": {"voices_per_instruction": 2, "max_answer_tokens": 16, "tts_workers": 1},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "stages": [{"name": "sft", "train": "lora", "datasets": ["lima"], "epochs": 4, "learning_rate": 0.03}],
        "training": {"batch_size": 6, "grad_accum": 1, "consistency_weight": 0.5, "save_every": 2, "seed": 0, **training},
    }
    path = folder / f"{output.name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("debias-train")
    return root, build_tiny_qwen2_audio(root / "tiny-qwen2-audio")


@pytest.fixture(scope="module")
def trained(workspace):
    root, model = workspace
    config = write_config(root, model, root / "full", root / "cache")
    assert main(["debias", "train", str(config)]) == 0
    return root / "full"


def log(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "train_log.jsonl").read_text(encoding="utf-8").splitlines()]


def test_answer_loss_decreases_on_the_same_batch(trained):
    records = log(trained)
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    # one micro-batch holds all 6 rows, so every step sees the same examples
    assert records[-1]["ce"] < records[0]["ce"] - 0.2
    assert all(r["pairs"] == 3 and r["consistency"] > 0 for r in records)
    assert all(r["answer_tokens"] > 0 for r in records)
    assert list((trained / "tensorboard").glob("events.out.tfevents.*"))


def test_only_lora_weights_change(trained):
    from safetensors.torch import load_file

    manifest = json.loads((trained / "training.json").read_text(encoding="utf-8"))
    assert manifest["frozen_changed"] == []  # LLM, audio encoder and projector bit-identical
    weights = load_file(str(trained / "adapter" / "adapter_model.safetensors"))
    assert weights and all("lora_" in name for name in weights)
    assert not any("audio_tower" in name or "multi_modal_projector" in name for name in weights)
    assert any(name.endswith("lora_B.weight") and tensor.abs().sum() > 0 for name, tensor in weights.items())
    assert set(manifest["train_voices"]) == {"f-us-1", "m-us-1", "f-gb-1", "m-gb-1", "f-029-1", "m-029-1"}


def test_adapter_loads_through_qwen2_audio_and_changes_its_outputs(trained, workspace):
    import torch

    from biasbench.adapters.qwen2_audio import Qwen2AudioAdapter
    from biasbench.core.messages import GenerationParams
    from biasbench.testing.requests import make_request
    from biasbench.testing.speech import audio_part, speak

    root, model = workspace
    clip = audio_part(speak("What is the capital of France?", "en-us+f4"), root, "probe")
    request = make_request("Respond to the spoken request.", clip, params=GenerationParams(max_new_tokens=6))
    logits, texts = {}, {}
    for label, params in (("base", {"model": str(model)}), ("tuned", {"model": str(model), "lora_path": str(trained / "adapter")})):
        adapter = Qwen2AudioAdapter.from_params(params)
        inputs = adapter.encode_requests([request])
        with torch.inference_mode():
            logits[label] = adapter.model(**inputs).logits
        texts[label] = adapter.generate([request])[0]
        adapter.close()
    assert not torch.allclose(logits["base"], logits["tuned"])
    assert texts["base"].error is None and texts["tuned"].error is None
    assert Qwen2AudioAdapter.from_params({"model": str(model), "lora_path": str(trained / "adapter")}).fingerprint() != \
        Qwen2AudioAdapter.from_params({"model": str(model)}).fingerprint()


def test_merged_checkpoint_equals_base_plus_adapter(trained, workspace):
    import torch

    from biasbench.adapters.qwen2_audio import Qwen2AudioAdapter
    from biasbench.testing.requests import make_request
    from biasbench.testing.speech import audio_part, speak

    root, model = workspace
    assert main(["debias", "merge", str(trained), "--out", str(root / "merged")]) == 0
    clip = audio_part(speak("Name a planet.", "en-gb+m7"), root, "merge-probe")
    request = make_request("Respond to the spoken request.", clip)
    logits = []
    for params in ({"model": str(model), "lora_path": str(trained / "adapter")}, {"model": str(root / "merged")}):
        adapter = Qwen2AudioAdapter.from_params(params)
        inputs = adapter.encode_requests([request])  # loads the model
        with torch.inference_mode():
            logits.append(adapter.model(**inputs).logits)
        adapter.close()
    assert torch.allclose(logits[0], logits[1], atol=1e-4)


def test_resume_continues_at_the_next_step_and_matches_an_uninterrupted_run(trained, workspace):
    from safetensors.torch import load_file

    root, model = workspace
    config = load_train_config(write_config(root, model, root / "resumed", root / "cache"))
    first = train(config, root, stop_after=2, echo=lambda _: None)
    assert first.adapter_path is None and first.steps_done == 2
    assert [r["step"] for r in log(root / "resumed")] == [1, 2]
    second = train(config, root, echo=lambda _: None)
    assert second.resumed_from == 2 and second.steps_done == 4 and second.frozen_changed == ()
    assert [r["step"] for r in log(root / "resumed")] == [1, 2, 3, 4]
    resumed = load_file(str(root / "resumed" / "adapter" / "adapter_model.safetensors"))
    full = load_file(str(trained / "adapter" / "adapter_model.safetensors"))
    assert resumed.keys() == full.keys()
    for name in full:
        assert (resumed[name] - full[name]).abs().max().item() < 1e-5, name


def test_checkpoints_from_another_config_are_refused(workspace, trained):
    root, model = workspace
    changed = write_config(root, model, trained, root / "cache", consistency_weight=0.1)
    with pytest.raises(ConfigError, match="different config"):
        train(load_train_config(changed), root, echo=lambda _: None)


def test_bad_configs_exit_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base_model: x\npool: demo_espeak\ndatasets: []\nstages: [{name: s, datasets: [nope]}]\n", encoding="utf-8")
    assert main(["debias", "train", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown datasets" in err and "Traceback" not in err
    assert main(["debias", "train", str(tmp_path / "missing.yaml")]) == 2


def test_encoder_projector_stage_trains_only_the_audio_side(workspace):
    import yaml as yaml_module
    from safetensors.torch import load_file

    root, model = workspace
    path = write_config(root, model, root / "two-stage", root / "cache")
    config = yaml_module.safe_load(path.read_text(encoding="utf-8"))
    config["stages"] = [
        {"name": "sft", "train": "lora", "datasets": ["lima"], "max_steps": 1, "learning_rate": 0.02},
        {"name": "audio", "train": "encoder_projector", "datasets": ["lima"], "max_steps": 1, "learning_rate": 0.01},
    ]
    path.write_text(yaml_module.safe_dump(config), encoding="utf-8")
    outcome = train(load_train_config(path), root, echo=lambda _: None)
    assert outcome.steps_done == 2 and outcome.frozen_changed == ()  # the original encoder/projector/LLM untouched
    weights = load_file(str(outcome.adapter_path / "adapter_model.safetensors"))
    assert any("audio_tower" in name for name in weights) and any("multi_modal_projector" in name for name in weights)
    base = load_file(str(model / "model.safetensors"))
    trained_copy = weights["base_model.model.model.multi_modal_projector.linear.weight"]
    assert not (trained_copy == base["multi_modal_projector.linear.weight"]).all()  # the stage did train the copy
    assert [r["stage"] for r in log(root / "two-stage")] == ["sft", "audio"]
