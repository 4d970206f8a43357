"""`biasbench export`: a run's items × voices as a Hugging Face dataset that round-trips with load_from_disk."""


import pytest
import yaml

pytest.importorskip("datasets", reason="datasets (biasbench[finetune]) is not installed")
pytest.importorskip("espeakng_loader", reason="espeak-ng (biasbench[tts]) is not installed")

from biasbench.cli import main
from biasbench.voices.spec import load_pool

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    config = {
        "name": "export-demo", "pool": "demo_espeak",
        "tasks": [{"name": "demo_mc", "params": {"n_items": 2, "rotations": 2}}],
        "models": [{"name": "planted", "adapter": "simulated",
                    "params": {"axis": "accent", "planted": {"en-us": 0.9, "en-gb": 0.8, "en-029": 0.7}, "seed": 0}}],
        "modalities": ["audio"], "seed": 0, "report": False, "tts_workers": 1,
    }
    path = root / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["run", str(path), "--out", str(root / "run"), "--quiet", "--no-report"]) == 0
    return root / "run"


@pytest.fixture(scope="module")
def exported(run_dir):
    out = run_dir.parent / "dataset"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    return out


def test_export_round_trips_with_audio_at_16khz_and_demographics(exported):
    import datasets

    from biasbench.debias.hf_audio import decode_clip, undecoded

    dataset = datasets.load_from_disk(str(exported))
    pool = load_pool("demo_espeak")
    # 2 items x 2 option rotations (latin counterbalance: one rotation per voice) x 12 voices
    assert len(dataset) == 2 * 12
    assert dataset.features["audio"].sampling_rate == 16_000
    assert set(dataset["voice_id"]) == {v.id for v in pool.voices}
    for row in undecoded(dataset):
        voice = pool.voice(row["voice_id"])
        assert (row["gender"], row["accent"]) == (voice.label("gender"), voice.label("accent"))
        assert row["label_source"] == "designed" and row["voice_license"].startswith("GPL")
        audio = decode_clip(row["audio"])
        assert audio.sample_rate == 16_000 and audio.duration_s > 1.0
        assert row["task"] == "demo_mc" and row["spoken_text"] and len(row["choices"]) == 4 and row["target"] in "ABCD"


def test_export_uses_the_runs_cached_clips_and_writes_a_card(exported, run_dir):
    import datasets

    from biasbench.core.audio import content_sha256

    card = (exported / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "## Pool composition" in card and "Demonstration pool" in card
    assert "## Sources and licenses" in card and "demo_mc" in card and "GPL-3.0-or-later" in card
    assert "## TTS engines" in card and "espeak" in card
    cached = {content_sha256(p) for pattern in ("*.flac", "*.wav") for p in run_dir.rglob(pattern)}
    assert set(datasets.load_from_disk(str(exported))["audio_sha256"]) <= cached


def test_export_of_a_folder_that_is_not_a_run_fails_cleanly(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "not a biasbench run directory" in capsys.readouterr().err


def test_the_card_carries_the_audit_summary_when_the_run_has_one(exported, run_dir):
    import json

    import pandas as pd

    from biasbench.debias.export import dataset_card

    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    rows = pd.DataFrame({"cell": ["female|en-us", "male|en-us"], "voice_id": ["f-us-2", "m-us-2"], "engine": ["espeak"] * 2,
                         "gender": ["female", "male"], "accent": ["en-us"] * 2, "label_source": ["designed"] * 2,
                         "voice_corpus": [""] * 2, "voice_license": ["GPL"] * 2, "split": ["eval"] * 2, "task": ["demo_mc"] * 2})
    audit = pd.DataFrame({"cell": ["female|en-us", "male|en-us"], "asr_wer": [0.05, 0.31]})
    card = dataset_card(load_pool("demo_espeak"), manifest, rows, audit)
    assert "| female/en-us | 0.05 |" in card and "| male/en-us | 0.31 |" in card
