"""Issue 14: the debias comparison's "headline verdicts before/after" columns read a real
``scores/headline.csv`` written by the scorer (a simulated 2 × 3 × 3 run with a planted race gap
before and none after), not only the no-table fallback."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from biasbench.debias.compare import Comparison, before_after
from biasbench.debias.experiment import FINETUNE_RUN, headline_verdicts, with_verdicts
from biasbench.scoring.score import score_run
from biasbench.scoring.simulation import PlantedDesign, simulate_rows

BEFORE = PlantedDesign(axis="race", planted={"Asian": 0.85, "Black": 0.45, "White": 0.85}, voices_per_cell=3, n_items=150, voice_sd=0.1)
AFTER = PlantedDesign(axis="race", planted={"Asian": 0.8, "Black": 0.8, "White": 0.8}, voices_per_cell=3, n_items=150, voice_sd=0.1)


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory) -> Path:
    frame = pd.concat([simulate_rows(BEFORE, seed=1).assign(model="before"), simulate_rows(AFTER, seed=2).assign(model="after")],
                      ignore_index=True)
    folder = tmp_path_factory.mktemp("verdicts") / "run"
    folder.mkdir()
    frame.to_parquet(folder / "results.parquet", index=False)
    manifest = BEFORE.manifest()
    manifest["seed"] = 0
    (folder / "manifest.json").write_text(json.dumps(manifest))
    score_run(folder, n_boot=200, seed=0, n_perm=400)
    return folder


def test_verdict_columns_come_from_the_scorers_headline(scored_run, tmp_path):
    headline = pd.read_csv(scored_run / "scores" / "headline.csv")
    output = tmp_path / "experiment"
    (output / FINETUNE_RUN / "scores").mkdir(parents=True)
    shutil.copy(scored_run / "scores" / "headline.csv", output / FINETUNE_RUN / "scores" / "headline.csv")
    verdicts = headline_verdicts(output, {FINETUNE_RUN: None})
    assert len(verdicts) == len(headline) and set(verdicts["run"]) == {FINETUNE_RUN}

    frame = pd.read_parquet(scored_run / "results.parquet")
    manifest = json.loads((scored_run / "manifest.json").read_text(encoding="utf-8"))
    gaps, _ = before_after(frame, manifest, [Comparison("finetune", "before", "after")], n_boot=100, seed=0)
    joined = with_verdicts(gaps, verdicts)
    expected = headline.set_index(["model", "task", "modality", "axis"])["verdict"]
    race = joined[(joined["grouping"] == "race") & (joined["modality"] == "audio")].iloc[0]
    assert race["verdict_before"] == expected[("before", race["task"], "audio", "race")] == "clear_gap"  # planted 0.85 / 0.45 / 0.85
    assert race["verdict_after"] == expected[("after", race["task"], "audio", "race")]
    assert race["verdict_after"] in ("no_clear_gap", "equivalent")  # nothing planted after
    for row in joined[joined["modality"] == "audio"].itertuples(index=False):  # every axis the headline decides is joined
        if ("before", row.task, "audio", row.grouping) in expected.index:
            assert row.verdict_before == expected[("before", row.task, "audio", row.grouping)]
            assert row.verdict_after == expected[("after", row.task, "audio", row.grouping)]
    assert with_verdicts(gaps, pd.DataFrame())["verdict_before"].isna().all()  # the fallback when no run has the table
