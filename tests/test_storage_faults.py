"""Filesystem faults during a run (a file where --out belongs, a full disk while synthesizing,
appending to the log or writing the tables) end in one line, and the finished work is kept."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from biasbench.cli import main


ITEMS = [
    {"id": f"q{i}", "question": f"Which number comes after {i}?", "choices": [str(i + 1), str(i + 2), str(i + 3), str(i + 4)], "answer": 0}
    for i in range(3)
]


def _config(tmp_path: Path, modalities: list[str], batch_size: int = 4) -> Path:
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8")
    (tmp_path / "tiny.yaml").write_text("kind: multiple_choice\npath: items.jsonl\nrotations: 1\n", encoding="utf-8")
    config = {
        "pool": "demo_espeak",
        "voice_split": "eval",
        "tasks": [str(tmp_path / "tiny.yaml")],
        "models": [{"name": "sim", "adapter": "simulated", "params": {"axis": "accent", "seed": 0}}],
        "modalities": modalities,
        "batch_size": batch_size,
        "tts_workers": 1,
        "report": False,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _run(capsys, config: Path, out: Path) -> tuple[int, list[str]]:
    code = main(["run", str(config), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, [line for line in err.splitlines() if line.strip()]


def _invocations(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["invocations"]


def _full_after(limit: int, marker: str):
    """An fsync that fails with ENOSPC once ``limit`` files whose name contains ``marker`` were synced."""
    from biasbench.core import files

    real, seen = files._fsync, []

    def fsync(path: Path) -> None:
        if marker in path.name:
            if len(seen) >= limit:
                raise OSError(errno.ENOSPC, "No space left on device")
            seen.append(path)
        real(path)

    return fsync


def test_out_pointing_at_a_file_is_one_line(capsys, tmp_path):
    (tmp_path / "taken").write_text("not a folder", encoding="utf-8")
    code, lines = _run(capsys, _config(tmp_path, ["text"]), tmp_path / "taken")
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"error: cannot write {tmp_path / 'taken'}: a file is in the way")


def test_disk_full_while_synthesizing_keeps_the_clips_already_made(capsys, tmp_path, monkeypatch):
    pytest.importorskip("espeakng_loader", reason="needs espeak-ng (biasbench[tts])")
    config, out = _config(tmp_path, ["audio"]), tmp_path / "run"
    real_write, written = Path.write_bytes, []

    def write_bytes(self: Path, data: bytes) -> int:  # the 6th clip finds the disk full
        if ".flac." in self.name:  # clips are stored as FLAC by default
            if len(written) >= 5:
                raise OSError(errno.ENOSPC, "No space left on device")
            written.append(self)
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    code, lines = _run(capsys, config, out)
    assert code == 2 and len(lines) == 1 and ": the disk is full (finished rows are kept;" in lines[0]
    assert len(list(out.rglob("*.flac"))) == 5
    assert not list(out.rglob("*.tmp"))  # no half-written clip left behind
    monkeypatch.undo()
    code, _ = _run(capsys, config, out)
    assert code == 0
    clips = len(list(out.rglob("*.flac")))
    assert _invocations(out)[-1]["tts_calls"] == clips - 5  # the 5 stored clips were reused


def test_disk_full_appending_to_the_log_keeps_the_answers_logged(capsys, tmp_path, monkeypatch):
    config, out = _config(tmp_path, ["text"], batch_size=1), tmp_path / "run"
    real, calls = os.fsync, []

    def fsync(fd: int) -> None:  # only the log's descriptor fails: the tables still get written
        if os.readlink(f"/proc/self/fd/{fd}").endswith("responses.jsonl"):
            calls.append(fd)
            if len(calls) > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr("biasbench.runner.store.os.fsync", fsync)
    code, lines = _run(capsys, config, out)
    assert code == 2 and len(lines) == 1 and "responses.jsonl: the disk is full" in lines[0]
    monkeypatch.undo()
    logged = [json.loads(line)["key"] for line in (out / "responses.jsonl").read_text(encoding="utf-8").splitlines()[:2]]
    assert len(set(logged)) == 2  # the two answers before the disk filled are on disk
    code, _ = _run(capsys, config, out)
    assert code == 0
    results = pd.read_parquet(out / "results.parquet")
    assert _invocations(out)[-1]["model_calls"] == len(results) - int(results["cached"].sum())
    assert int(results["cached"].sum()) >= 2 and (results["outcome"] != "error").all()


def test_disk_full_writing_the_tables_keeps_every_answer(capsys, tmp_path, monkeypatch):
    config, out = _config(tmp_path, ["text"]), tmp_path / "run"
    monkeypatch.setattr("biasbench.core.files._fsync", _full_after(0, ".parquet."))
    code, lines = _run(capsys, config, out)
    assert code == 2 and len(lines) == 1 and "results.parquet: the disk is full" in lines[0]
    assert not (out / "results.parquet").exists() and not list(out.glob(".*.tmp"))
    monkeypatch.undo()
    code, _ = _run(capsys, config, out)
    assert code == 0 and _invocations(out)[-1]["model_calls"] == 0  # every answer was already in the log
