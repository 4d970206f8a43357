"""`biasbench voices ...` through biasbench.cli.main: exit codes, one-line errors, notes, 0 calls on rebuild."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from biasbench.cli import main


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(err: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err


def test_shipped_pools_validate(capsys):
    code, out, _ = _run(capsys, "voices", "validate", "demo_espeak")
    assert code == 0 and "valid demonstration pool 'demo_espeak'" in out and "train 6 / eval 6" in out
    code, out, _ = _run(capsys, "voices", "validate", "balanced_gender_race", "--structure-only")
    assert code == 0 and "24 voices, 6 cells × 4" in out


def test_template_without_its_clips_lists_each_missing_clip(capsys):
    code, _, err = _run(capsys, "voices", "validate", "balanced_gender_race")
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 25 and all(line.startswith("error: ") for line in lines)
    assert sum("audio file not found" in line for line in lines) == 24
    assert "tts backend 'maskgct': the maskgct backend needs 'python'" in lines[-1]  # engine checked too
    # elsewhere (a run, a build) the same pool fails in one line that names the first few and the count
    code, _, err = _run(capsys, "voices", "build", "balanced_gender_race", "--texts", "/dev/null")
    assert code == 2
    _one_line_error(err)
    assert "has 24 problem(s)" in err and "and 21 more" in err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("voices:\n  - {id: a, engine: espeak, preset: en-us, labels: {gender: female}, label_source: designed}\n"
         "  - {id: b, engine: espeak, preset: en-us+m3, labels: {gender: male}, label_source: designed}\n"
         "  - {id: c, engine: espeak, preset: en-us+m4, labels: {gender: male}, label_source: designed}\n"
         "axes: [gender]\nmin_per_cell: 1\n", "cells have different sizes (female=1, male=2)"),
        ("axes: [gender]\nmin_per_cell: 1\nvoices:\n  - {id: a, engine: festival, preset: x, labels: {gender: female}, "
         "label_source: designed}\n", "unknown tts backend 'festival'"),
        ("axes: [gender\n", "is not valid YAML"),
    ],
)
def test_bad_pools_exit_2_with_one_line(capsys, tmp_path, body, message):
    path = tmp_path / "pool.yaml"
    path.write_text(body, encoding="utf-8")
    code, _, err = _run(capsys, "voices", "validate", str(path))
    assert code == 2 and message in err
    _one_line_error(err)


@pytest.mark.parametrize(("content", "message"), [(None, "audio file not found"), (b"", "audio file is empty"),
                                                  (b"RIFF....not a wav", "not a readable audio file")])
def test_bad_reference_clip_exits_2(capsys, tmp_path, content, message):
    if content is not None:
        (tmp_path / "ref.wav").write_bytes(content)
    (tmp_path / "pool.yaml").write_text(
        "axes: [gender]\nmin_per_cell: 1\nengine: maskgct\nlabel_source: self-reported\nvoices:\n"
        "  - {id: a, reference: {path: ref.wav, transcript: hello}, labels: {gender: female}}\n", encoding="utf-8")
    code, _, err = _run(capsys, "voices", "validate", str(tmp_path / "pool.yaml"), "--tts", f"maskgct.python={sys.executable}")
    assert code == 2 and message in err and "voice 'a' reference clip" in err
    _one_line_error(err)


def test_build_then_rebuild_makes_zero_backend_calls_and_audit_reads_the_folder(capsys, tmp_path):
    pytest.importorskip("espeakng_loader", reason="needs espeak-ng (biasbench[tts])")
    texts = tmp_path / "texts.txt"
    texts.write_text("# comment\nThe sky is blue.\n\nWater boils at one hundred degrees.\n", encoding="utf-8")
    out = tmp_path / "built"
    args = ["voices", "build", "demo_espeak", "--texts", str(texts), "--out", str(out), "--split", "eval"]
    code, stdout, _ = _run(capsys, *args)
    assert code == 0 and "12 clips (12 synthesized, 0 cached)" in stdout
    code, stdout, _ = _run(capsys, *args)
    assert code == 0 and "12 clips (0 synthesized, 12 cached)" in stdout
    code, stdout, _ = _run(capsys, "voices", "audit", str(out), "--no-asr")
    assert code == 0 and "voice audit of 12 clips" in stdout and "skipped: wer" in stdout
    assert (out / "audit" / "voice_audit.csv").is_file() and (out / "audit" / "parity.json").is_file()


def test_build_input_errors_exit_2(capsys, tmp_path):
    code, _, err = _run(capsys, "voices", "build", "demo_espeak", "--texts", str(tmp_path / "none.txt"))
    assert code == 2 and "texts file not found" in err
    code, _, err = _run(capsys, "voices", "build", "demo_espeak")
    assert code == 2 and "give --texts FILE or --task NAME" in err
    code, _, err = _run(capsys, "voices", "build", "demo_espeak", "--texts", "x", "--task", "demo_mc")
    assert code == 2 and "not both" in err
    code, _, err = _run(capsys, "voices", "build", "demo_espek", "--texts", "x")
    assert code == 2 and "did you mean 'demo_espeak'" in err
    code, _, err = _run(capsys, "voices", "audit", "demo_espeak")
    assert code == 2 and "needs texts" in err


def test_wrong_rate_stereo_reference_is_converted_with_a_note(capsys, tmp_path):
    from test_voices_cloning import STAND_IN

    worker = tmp_path / "worker.py"
    worker.write_text(STAND_IN, encoding="utf-8")
    t = np.arange(48_000 * 2) / 48_000
    sf.write(tmp_path / "ref.wav", np.stack([np.sin(2 * np.pi * 200 * t)] * 2, axis=1) * 0.3, 48_000)
    (tmp_path / "pool.yaml").write_text(textwrap.dedent("""\
        axes: [gender]
        min_per_cell: 1
        engine: maskgct
        label_source: self-reported
        voices:
          - {id: a, reference: {path: ref.wav, transcript: hello there}, labels: {gender: female}}
        """), encoding="utf-8")
    (tmp_path / "texts.txt").write_text("Good morning.\n", encoding="utf-8")
    code, out, err = _run(
        capsys, "voices", "build", str(tmp_path / "pool.yaml"), "--texts", str(tmp_path / "texts.txt"), "--out",
        str(tmp_path / "out"), "--tts", f"maskgct.python={sys.executable}", "--tts", f"maskgct.worker={worker}",
        "--tts", "maskgct.worker_args=[ok]")
    assert code == 0, err
    assert "note: voice 'a' reference clip: downmixed 2 channels to mono" in out
    assert "note: voice 'a' reference clip: resampled 48000 Hz -> 16000 Hz" in out


def test_build_from_a_task_speaks_its_items(capsys, tmp_path):
    pytest.importorskip("espeakng_loader", reason="needs espeak-ng (biasbench[tts])")
    from biasbench.voices.build import texts_from_tasks

    texts = texts_from_tasks(["demo_transcription"])
    assert len(texts) == 12
    code, out, err = _run(capsys, "voices", "build", "demo_espeak", "--task", "demo_transcription", "--split", "train",
                          "--out", str(tmp_path / "b"), "--workers", "2")
    assert code == 0, err
    assert f"{6 * len(texts)} clips ({6 * len(texts)} synthesized, 0 cached)" in out
