"""`biasbench validate` and `biasbench voices validate` catch what a run would hit, every problem at once."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from biasbench.cli import main
from biasbench.core.item import Item

SIM = [{"name": "sim", "adapter": "simulated", "params": {"axis": "gender"}}]


def _validate(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, [line for line in captured.err.splitlines() if line.strip()]


def _config(tmp_path: Path, **values) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"pool": "demo_espeak", "tasks": ["demo_mc"], "models": SIM, **values}), encoding="utf-8")
    return path


def _pool(tmp_path: Path, engine: str, clips: dict[str, np.ndarray | None]) -> Path:
    voices = []
    for index, (voice_id, samples) in enumerate(clips.items()):
        if samples is not None:
            sf.write(tmp_path / f"{voice_id}.wav", samples, 16_000)
        gender = "female" if index % 2 == 0 else "male"
        voices.append({"id": voice_id, "reference": {"path": f"{voice_id}.wav", "transcript": "hello"}, "labels": {"gender": gender}})
    spec = {"axes": ["gender"], "min_per_cell": 1, "engine": engine, "label_source": "self-reported", "voices": voices}
    path = tmp_path / "pool.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _tone(seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(16_000 * seconds)) / 16_000
    return (amplitude * np.sin(2 * np.pi * 180 * t)).astype(np.float32)


def test_short_and_silent_reference_clips_are_reported_together(capsys, tmp_path):
    pool = _pool(tmp_path, "maskgct", {"ok": _tone(1.5), "short": _tone(0.1), "silent": np.zeros(32_000, np.float32), "fine": _tone(1.0)})
    code, lines = _validate(capsys, "voices", "validate", str(pool), "--tts", f"maskgct.python={sys.executable}")
    assert code == 2 and len(lines) == 2
    assert "voice 'short' reference clip: 0.10 s is too short to clone a voice (needs >= 1 s)" in lines[0]
    assert "voice 'silent' reference clip: silent (peak below -60 dBFS)" in lines[1]


def test_maskgct_without_its_python_is_reported_by_both_validators(capsys, tmp_path):
    pool = _pool(tmp_path, "maskgct", {"a": _tone(1.2), "b": _tone(1.2)})
    code, lines = _validate(capsys, "voices", "validate", str(pool))
    assert code == 2 and lines == [
        "error: tts backend 'maskgct': the maskgct backend needs 'python': the interpreter of its own environment "
        "(tts: {maskgct: {python: /path/to/maskgct-env/bin/python}}; see docs/voices.md)"
    ]
    code, lines = _validate(capsys, "validate", str(_config(tmp_path, pool=str(pool))))
    assert code == 2 and len(lines) == 1 and "tts backend 'maskgct'" in lines[0]
    missing = tmp_path / "no-such-env" / "python"
    code, lines = _validate(capsys, "validate", str(_config(tmp_path, pool=str(pool), tts={"maskgct": {"python": str(missing)}})))
    assert code == 2 and lines == [f"error: tts backend 'maskgct': maskgct python interpreter not found: {missing}"]
    code, _ = _validate(capsys, "validate", str(_config(tmp_path, pool=str(pool), tts={"maskgct": {"python": sys.executable}})))
    assert code == 0
    # a text-only run synthesizes nothing, so the engine does not matter
    assert _validate(capsys, "validate", str(_config(tmp_path, pool=str(pool), modalities=["text"])))[0] == 0


@pytest.mark.skipif(importlib.util.find_spec("TTS") is not None, reason="coqui-tts is installed here")
def test_xtts_without_coqui_tts_is_reported(capsys, tmp_path):
    pool = _pool(tmp_path, "xtts", {"a": _tone(1.2), "b": _tone(1.2)})
    code, lines = _validate(capsys, "validate", str(_config(tmp_path, pool=str(pool))))
    assert code == 2 and lines == [
        "error: tts backend 'xtts': the optional package 'coqui-tts' is needed for the xtts backend but is not installed "
        "(pip install 'biasbench[xtts]')"
    ]


def test_identical_options_are_reported(capsys, tmp_path):
    rows = [
        {"id": "ok", "question": "Which is a planet?", "choices": ["Mars", "Moon", "Sun", "Comet"], "answer": 0},
        {"id": "same4", "question": "Pick one.", "choices": ["Paris"] * 4, "answer": 1},
        {"id": "two", "question": "How many?", "choices": ["687", "687 ", "1,493", "1,695"], "answer": 2},
        {"id": "case", "question": "Genotype?", "choices": ["BB", "Bb", "bb", "none"], "answer": 0},
    ]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    task = {"name": "mine", "params": {"path": str(tmp_path / "items.jsonl")}}
    spec = tmp_path / "mine.yaml"
    spec.write_text("kind: multiple_choice\n", encoding="utf-8")
    code, lines = _validate(capsys, "validate", str(_config(tmp_path, tasks=[{"name": str(spec), "params": task["params"]}])))
    assert code == 2 and lines == [
        "error: tasks[0] '" + str(spec) + "': item 'same4' has identical options A, B, C, D ('Paris')",
        "error: tasks[0] '" + str(spec) + "': item 'two' has identical options A, B ('687')",
    ]


def test_duplicate_choices_ignore_spacing_but_not_case():
    item = Item("q", "t", "Which?", ("a  b", "a b", "A b", "c"), 0)
    assert item.duplicate_choices() == [(0, 1)]
    assert Item("q", "t", "Which?", ("x", "y"), 0).duplicate_choices() == []


def test_a_misspelled_mmlu_param_is_not_hidden_behind_the_path_error(capsys, tmp_path):
    config = _config(tmp_path, tasks=[{"name": "mmlu", "params": {"path": str(tmp_path / "nowhere"), "fracton": 0.1}}])
    code, lines = _validate(capsys, "validate", str(config))
    assert code == 2 and len(lines) == 1
    assert "task 'mmlu' has 2 problem(s)" in lines[0]
    assert "task 'mmlu'.fracton: Extra inputs are not permitted; did you mean 'fraction'?" in lines[0]
    assert f"data path '{tmp_path / 'nowhere'}' not found" in lines[0]


def test_a_duplicate_key_in_a_config_is_one_line(capsys, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("pool: demo_espeak\nseed: 1\ntasks: [demo_mc]\nseed: 2\nmodels: []\n", encoding="utf-8")
    code, lines = _validate(capsys, "validate", str(path))
    assert code == 2 and lines == [f"error: config {path} is not valid YAML at line 4, column 1: duplicate key 'seed' (first at line 2)"]
