"""Ecosystem hooks on a real (small) run: MLflow with a local file store, W&B offline, and
`export --push-to-hub` against a fake Hub at the HTTP boundary (the real huggingface_hub client)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from biasbench.cli import main
from biasbench.testing.hub_server import FakeHub

FIXTURES = Path(__file__).parent / "fixtures" / "viewer"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("espeakng_loader", reason="espeak voices need biasbench[tts]")
    base = tmp_path_factory.mktemp("tracked")
    for name in ("mini.yaml", "mini_mc.yaml", "mini.jsonl"):
        shutil.copy(FIXTURES / name, base / name)
    out = base / "run"
    assert main(["run", str(base / "mini.yaml"), "--out", str(out), "--quiet"]) == 0
    return out


def test_mlflow_local_file_store_gets_params_metrics_tables_and_files(run_dir: Path, tmp_path: Path, monkeypatch) -> None:
    mlflow = pytest.importorskip("mlflow", reason="pip install 'biasbench[mlflow]'")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks for this to use a plain folder
    uri = (tmp_path / "mlruns").as_uri()
    assert main(["track", str(run_dir), "--mlflow", uri, "--experiment", "bb-test"]) == 0
    client = mlflow.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("bb-test").experiment_id])
    assert run.data.params["pool"] == "demo_espeak" and run.data.params["run_id"] == "run"
    summary = pd.read_csv(run_dir / "summary.csv")
    overall = summary[(summary.group == "__all__") & (summary.modality == "audio")].iloc[0]
    key = f"{overall.model}/{overall.task}/audio/overall/{overall.metric}"
    assert run.data.metrics[key] == pytest.approx(overall.value)
    assert run.data.metrics[f"{key}_ci_low"] == pytest.approx(overall.ci_low)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "run")}
    assert {"run/manifest.json", "run/summary.csv"} <= artifacts
    tables = {a.path for a in client.list_artifacts(run.info.run_id, "tables")}
    assert "tables/summary.json" in tables


def test_wandb_offline_run_holds_the_summary(run_dir: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("wandb", reason="pip install 'biasbench[wandb]'")
    assert main(["track", str(run_dir), "--wandb", "bb-test", "--wandb-dir", str(tmp_path)]) == 0
    (folder,) = (tmp_path / "wandb").glob("offline-run-*")
    assert capsys.readouterr().out.strip().endswith(str(folder))
    records = next(folder.glob("run-*.wandb")).read_bytes()
    summary = pd.read_csv(run_dir / "summary.csv")
    first = summary.iloc[0]
    assert f"{first.model}/{first.task}/{first.modality}/overall/{first.metric}".encode() in records
    tables = list(folder.glob("files/media/table/summary_*.table.json"))
    assert tables and len(json.loads(tables[0].read_text())["data"]) == len(summary)


def test_track_needs_a_target_and_a_scored_run(tmp_path: Path, capsys) -> None:
    assert main(["track", str(tmp_path), "--mlflow", "default"]) != 0
    assert main(["track", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert "not a scored biasbench run" in err[0] and "nothing to do" in err[1]


def test_export_push_to_hub_uploads_the_exported_files(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("datasets", reason="export needs biasbench[finetune]")
    pytest.importorskip("huggingface_hub", reason="pip install 'biasbench[hub]'")
    hub = FakeHub().start()
    try:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": hub.token, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1"}
        out = tmp_path / "ds"
        command = [sys.executable, "-m", "biasbench", "export", str(run_dir), "--out", str(out), "--push-to-hub", "me/voices"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "pushed to the Hub:" in done.stdout
        assert hub.repos["me/voices"]["type"] == "dataset" and hub.repos["me/voices"]["visibility"] == "private"
        exported = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert "README.md" in exported and hub.files["me/voices"] == exported
        # a wrong token is one line, not a traceback
        bad = subprocess.run([*command[:-1], "me/other"], env={**env, "HF_TOKEN": "hf_wrong"}, capture_output=True, text=True, timeout=180)
        assert bad.returncode != 0 and hub.unauthorized >= 1
        assert "Traceback" not in bad.stderr and bad.stderr.strip().splitlines()[-1].startswith("error: pushing to the Hub repo 'me/other' failed")
    finally:
        hub.stop()
