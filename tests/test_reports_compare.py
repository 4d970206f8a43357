"""`biasbench compare` on the shipped engine config pair (espeak vs flite, whisper tiny.en, WER by gender),
shortened to three sentences so it runs in seconds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from biasbench.cli import main
from biasbench.core.deps import is_available

REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("flite") is None, reason="needs the flite program (apt-get install -y flite)"),
    pytest.mark.skipif(not is_available("espeakng_loader") or not is_available("faster_whisper"),
                       reason="needs biasbench[tts,asr] (espeak voices, faster-whisper)"),
]


def _run(engine: str, tmp: Path) -> Path:
    from biasbench.config import load_config
    from biasbench.pipeline import run_experiment

    sentences = tmp / "three.jsonl"
    lines = (REPO / "tasks" / "data" / "demo_transcription.jsonl").read_text().splitlines()[:3]
    sentences.write_text("\n".join(lines) + "\n")
    config = load_config(REPO / "configs" / f"engines_{engine}.yaml")
    task = REPO / "tasks" / "demo_transcription.yaml"
    config = config.model_copy(update={
        "tasks": [config.tasks[0].model_copy(update={"name": str(task), "params": {"path": str(sentences)}})],
        "report": False, "cache_dir": str(tmp / "audio"), "tts_workers": 1,
        "understanding": config.understanding.model_copy(update={"transcribe": False}),  # the task itself is a transcript
    })
    run_dir = tmp / engine
    run_experiment(config, run_dir, REPO, show_progress=False, echo=lambda _: None)
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("engines")
    return _run("espeak", tmp), _run("flite", tmp)


def test_compare_prints_the_agreement_table_and_writes_csv(runs, tmp_path, capsys):
    espeak, flite = runs
    assert main(["compare", str(espeak), str(flite), "--out", str(tmp_path / "cmp"), "--n-boot", "200"]) == 0
    printed = capsys.readouterr().out
    assert "pearson r" in printed and "item_x_group" in printed and "headline verdicts agreeing" in printed
    agreement = pd.read_csv(tmp_path / "cmp" / "agreement.csv")
    row = agreement[agreement["kind"] == "item_x_group"].iloc[0]
    assert row["n_pairs"] == 6 and -1 <= row["pearson_r"] <= 1
    estimates = pd.read_csv(tmp_path / "cmp" / "estimates.csv")
    groups = estimates[estimates["kind"] == "group"]
    assert set(groups["group"]) == {"female", "male"} and groups[["value_a", "value_b"]].notna().all().all()
    items = pd.read_csv(tmp_path / "cmp" / "items.csv")
    assert items.iloc[0]["quantity"] == "gap_sign_gender" and items.iloc[0]["n_items"] == 3


def test_verdicts_are_compared_when_both_runs_have_a_headline(runs, tmp_path):
    from biasbench.reports.compare import compare_runs

    espeak, flite = (Path(shutil.copytree(r, tmp_path / r.name)) for r in runs)
    base = {"model": "whisper-tiny.en", "task": "demo_transcription", "modality": "audio", "metric": "wer", "direction": "lower_better",
            "axis": "gender", "gap": 0.1, "ci_low": 0.0, "ci_high": 0.2, "p_adjusted": 0.04}
    pd.DataFrame([{**base, "worst_group": "male", "verdict": "clear gap"}]).to_csv(espeak / "scores" / "headline.csv", index=False)
    pd.DataFrame([{**base, "worst_group": "male", "verdict": "no clear gap"}]).to_csv(flite / "scores" / "headline.csv", index=False)
    result = compare_runs(espeak, flite, tmp_path / "out", n_boot=50)
    verdicts = result.tables["verdicts"]
    assert len(verdicts) == 1 and not verdicts.iloc[0]["verdict_agree"] and verdicts.iloc[0]["worst_group_agree"]
    assert "headline verdicts agreeing: 0 of 1" in result.format()


def test_missing_scores_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) != 0
    assert "biasbench score" in capsys.readouterr().err
