"""Perceived-attributes probe: runs on the offline demo pool with the simulated instrument and through a real
audio adapter (tiny random Qwen2-Audio); its metrics compare the chosen option with the speaker's label."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biasbench.core.deps import is_available
from biasbench.scoring.direction import HIGHER_BETTER, LOWER_BETTER, direction_of
from biasbench.tasks.perception import inference_rate, perception_rate, refusal_to_infer_rate

REPO = Path(__file__).resolve().parents[1]
needs_espeak = pytest.mark.skipif(not is_available("espeakng_loader"), reason="needs espeak clips (biasbench[tts])")


def _rows(choices: list[tuple[str, dict]], gender: str = "female") -> pd.DataFrame:
    records = []
    for outcome, association in choices:
        records.append({"outcome": outcome, "gender": gender, "race": "", "accent": "en-us",
                        "details": json.dumps({"domain": "gender", "association": association, "axes": ["gender"]})})
    records.append({"outcome": "incorrect", "gender": gender, "race": "", "accent": "",  # race item, no race label: not judged
                    "details": json.dumps({"domain": "race", "association": {"race": "Black"}, "axes": ["race"]})})
    return pd.DataFrame(records)


def test_metrics_compare_the_choice_with_the_speakers_label():
    rows = _rows([("incorrect", {"gender": "female"}), ("incorrect", {"gender": "male"}), ("correct", {}), ("correct", {})])
    assert perception_rate(rows) == 0.25 and inference_rate(rows) == 0.5 and refusal_to_infer_rate(rows) == 0.5
    assert direction_of(perception_rate) == LOWER_BETTER and direction_of(refusal_to_infer_rate) == HIGHER_BETTER


def _run(tmp_path: Path, models: list[dict], **extra) -> pd.DataFrame:
    from biasbench.config import parse_config
    from biasbench.pipeline import run_experiment

    config = parse_config({"pool": "demo_espeak", "tasks": [{"name": "perceived_attributes", **extra.pop("task", {})}],
                           "models": models, "modalities": ["audio"], "seed": 0, "report": False, "tts_workers": 1,
                           "cache_dir": str(tmp_path / "audio"), **extra})
    run_experiment(config, tmp_path / "run", REPO, show_progress=False, echo=lambda _: None)
    return pd.read_parquet(tmp_path / "run" / "scores" / "group_metrics.parquet")


@needs_espeak
def test_probe_runs_on_the_demo_pool_with_the_simulated_instrument(tmp_path):
    metrics = _run(tmp_path, [{"name": "sim", "adapter": "simulated", "params": {"default_accuracy": 0.3, "seed": 0}}],
                   voice_split="eval")
    perception = metrics[metrics["metric"] == "perception_rate"]
    assert {"overall", "gender", "accent"} <= set(perception["grouping"])
    assert perception["value"].between(0, 1).all()
    from biasbench.scoring.rundata import load_run
    from biasbench.tasks.perception import perception_table

    data = load_run(tmp_path / "run")
    table = perception_table(data.frame, data.axes)
    per_voice = table[(table["grouping"] == "voice") & (table["attribute"] == "gender")]
    assert len(per_voice) == 6 and per_voice["perception_rate"].between(0, 1).all()
    assert (table.loc[table["attribute"] == "race", "n_judged"] == 0).all()  # the demo pool has no race labels: nothing to judge
    refusal = metrics[(metrics["metric"] == "refusal_to_infer_rate") & (metrics["grouping"] == "overall")]["value"].iloc[0]
    assert 0.1 < refusal < 0.6  # the instrument picks "can't tell" (its 'correct' answer) about 30% of the time


@needs_espeak
@pytest.mark.skipif(not is_available("torch") or not is_available("transformers"), reason="needs biasbench[hf] (torch, transformers)")
def test_probe_runs_through_an_audio_adapter_on_the_tiny_model(tmp_path):
    from biasbench.testing.tiny_models import build_tiny_qwen2_audio

    model = build_tiny_qwen2_audio(tmp_path / "tiny-qwen2-audio")
    _run(tmp_path, [{"name": "tiny", "adapter": "qwen2-audio", "params": {"model": str(model), "batch_size": 16}}],
         task={"params": {"n_items": 3}}, voice_split="eval", generation={"max_new_tokens": 3},
         understanding={"transcribe": False})
    results = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert len(results) == 3 * 6 and (results["outcome"] != "error").all()
    assert results["response"].str.len().gt(0).all()  # the random tiny model answered every clip (parsed or invalid)


def test_perception_accuracy_and_gaps_correlate_across_models_with_cis():
    from biasbench.reports.perception_bias import correlation_table

    rng = np.random.default_rng(0)
    perception = np.linspace(0.1, 0.9, 8)
    pairs = pd.DataFrame({"model": [f"m{i}" for i in range(8)], "axis": "gender", "perception_rate": perception,
                          "max_abs_gap": 0.2 * perception + rng.normal(0, 0.01, 8)})
    unrelated = pairs.assign(axis="accent", max_abs_gap=rng.permutation(pairs["max_abs_gap"].to_numpy()))
    table = correlation_table(pd.concat([pairs, unrelated]), n_boot=500).set_index("axis")
    assert table.loc["gender", "pearson_r"] > 0.95 and table.loc["gender", "pearson_ci_low"] > 0.8
    assert table.loc["accent", "pearson_ci_low"] < table.loc["accent", "pearson_r"] < table.loc["accent", "pearson_ci_high"]
    few = correlation_table(pairs.head(2), n_boot=50)
    assert few.iloc[0]["note"].startswith("fewer than 3") and np.isnan(few.iloc[0]["pearson_r"])
