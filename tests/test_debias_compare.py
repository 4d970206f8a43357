"""Before/after statistics on planted behaviour: the simulated adapter's known gaps must be recovered."""

import json

import pytest
import yaml

pytest.importorskip("espeakng_loader", reason="espeak-ng (biasbench[tts]) is not installed")

from biasbench.cli import main
from biasbench.debias.compare import Comparison, before_after


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")

    def simulated(name, planted):
        return {"name": name, "adapter": "simulated", "params": {"axis": "accent", "planted": planted, "text_accuracy": 0.8, "seed": 0}}

    config = {
        "name": "planted", "pool": "demo_espeak", "voice_split": "eval",
        "tasks": [{"name": "demo_mc", "params": {"rotations": 1, "n_items": 20}}],
        "models": [simulated("before", {"en-us": 0.95, "en-gb": 0.9, "en-029": 0.4}),
                   simulated("after", {"en-us": 0.8, "en-gb": 0.8, "en-029": 0.8})],
        "modalities": ["audio", "text"], "seed": 0, "report": False, "tts_workers": 1,
    }
    (root / "run.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["run", str(root / "run.yaml"), "--out", str(root / "run"), "--quiet", "--no-report"]) == 0
    return root / "run"


def test_a_planted_gap_that_disappears_gives_a_negative_change_with_a_ci_below_zero(planted_run):
    import pandas as pd

    frame = pd.read_parquet(planted_run / "results.parquet")
    manifest = json.loads((planted_run / "manifest.json").read_text(encoding="utf-8"))
    gaps, capability = before_after(frame, manifest, [Comparison("finetune", "before", "after")], n_boot=400, seed=0)
    accent = gaps[(gaps["grouping"] == "accent")].iloc[0]
    assert accent["worst_before"] == "en-029"
    assert accent["gap_before"] > 0.3 and accent["gap_after"] < accent["gap_before"] - 0.2
    assert accent["change"] == pytest.approx(accent["gap_after"] - accent["gap_before"])
    assert accent["change_ci_high"] < 0 < accent["gap_before_ci_low"]
    audio = capability[capability["modality"] == "audio"].iloc[0]
    assert audio["retained"] == pytest.approx(audio["after"] / audio["before"])
    assert set(capability["modality"]) == {"audio", "text"}


def test_same_model_on_both_sides_changes_nothing(planted_run):
    import pandas as pd

    frame = pd.read_parquet(planted_run / "results.parquet")
    manifest = json.loads((planted_run / "manifest.json").read_text(encoding="utf-8"))
    gaps, capability = before_after(frame, manifest, [Comparison("noop", "before", "before")], n_boot=100, seed=0)
    assert (gaps["change"].abs() < 1e-12).all() and (gaps["change_ci_low"].abs() < 1e-12).all()
    assert (capability["retained"] == 1.0).all()
