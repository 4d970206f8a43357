"""Issue 17 item 4: every new metric feeds the headline table, the divergence test's verdict is a
headline row, no meaningless generic mean_score row, and the task metrics' bootstrap forms are exact
and fast."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from biasbench.core.hashing import seed_from
from biasbench.core.result import RESULT_COLUMNS
from biasbench.scoring.divergence import divergence_tests
from biasbench.scoring.divergence_validation import DivergenceDesign, simulate_rows
from biasbench.scoring.score import score_run
from biasbench.tasks.metrics import discrim_eval as de_metrics
from biasbench.tasks.metrics import dream_job as dj_metrics
from biasbench.tasks.metrics import open_ended as oe_metrics

TASKS = Path(__file__).resolve().parents[1] / "tasks"


def _write_run(folder: Path, rows: pd.DataFrame, task: str, spec: str) -> Path:
    frame = rows.copy()
    for column in RESULT_COLUMNS:
        if column not in frame.columns:
            frame[column] = 0 if column in ("permutation", "repeat") else ""
    frame["details"] = [json.dumps(d) for d in frame["details"]]
    frame["model"], frame["task"], frame["modality"] = "planted", task, "audio"
    frame["cell"] = frame["gender"] + "|" + frame["race"]
    folder.mkdir(parents=True)
    frame.to_csv(folder / "results.csv", index=False)
    voices = frame.drop_duplicates("voice_id")
    metrics = yaml.safe_load((TASKS / spec).read_text())["metrics"]
    manifest = {"seed": 0, "tasks": [{"name": task, "kind": task, "answer_type": "open_ended", "config": {"metrics": metrics}}],
                "pool": {"axes": ["gender", "race"], "voices": [{"id": v, "labels": {"gender": {"value": g}, "race": {"value": r}}}
                                                                 for v, g, r in zip(voices["voice_id"], voices["gender"], voices["race"])]}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def probes_run(tmp_path_factory) -> tuple[Path, pd.DataFrame, float]:
    rows = simulate_rows(DivergenceDesign(n_items=8), seed=4, planted=True)  # 144 rows, planted gendered preference
    run = _write_run(tmp_path_factory.mktemp("probes") / "run", rows, "open_probes", "open_probes.yaml")
    start = time.perf_counter()
    score_run(run, n_boot=200, seed=0, n_perm=400)
    return run, rows, time.perf_counter() - start


def test_open_probes_metrics_and_the_divergence_test_are_headline_rows(probes_run) -> None:
    run, rows, _ = probes_run
    headline = pd.read_csv(run / "scores" / "headline.csv")
    own = headline[headline["metric"] == "own_gender_share"]
    assert set(own["axis"]) == {"gender", "race", "cell"} and set(own["direction"]) == {"target:50:above"}
    assert set(headline.loc[headline["metric"] == "declined_share", "direction"]) == {"higher_better"}
    assert "mean_score" not in set(headline["metric"])  # the rows carry no generic score: no higher-better mean of nothing
    assert not headline["metric"].str.startswith("category_divergence.").any()  # a between-group statistic, not per group
    divergence = headline[headline["metric"] == "category_divergence"].set_index("axis")
    assert set(divergence.index) == {"gender", "race", "cell"} and set(divergence["direction"]) == {"lower_better"}
    # p_adjusted is the voice-level permutation test's Holm-adjusted p, computed once in scoring
    frame = pd.read_csv(run / "results.csv", keep_default_na=False)
    expected = {r["grouping"]: r for r in divergence_tests(frame, ("gender", "race"), n_perm=400,
                                                           seed=seed_from(0, "headline-divergence", "planted", "open_probes"))}
    for axis, record in expected.items():
        assert divergence.at[axis, "p_adjusted"] == pytest.approx(record["p_holm"], abs=1e-6)
        assert divergence.at[axis, "gap"] == pytest.approx(record["statistic"], abs=1e-6)
    assert divergence.at["gender", "verdict"] == "clear_gap"  # planted: same mean % women, different jobs
    assert divergence.at["race", "verdict"] == "no_clear_gap"  # nothing planted on race
    assert pd.isna(divergence.at["gender", "worst_group"])  # no group is named by a divergence


def test_scoring_an_open_probes_run_is_fast(probes_run) -> None:
    # issue 17 measured 146 s for a 144-row open-probes run (200 replicates calling the metrics per group);
    # the bootstrap forms compute all replicates per group at once (about 3 s here on an idle core)
    assert probes_run[2] < 40


def test_dream_job_gets_no_generic_higher_better_mean_score_row(tmp_path) -> None:
    rows = simulate_rows(DivergenceDesign(n_items=4), seed=5, planted=False)
    rows["score"] = rows["pct_women"]  # dream_job's per-row score is the occupation's % women
    rows["details"] = [{**d, "occupation": d.get("category"), "published": True, "mapped": True} for d in rows["details"]]
    run = _write_run(tmp_path / "run", rows, "dream_job", "dream_job.yaml")
    result = score_run(run, n_boot=50, seed=0, n_perm=100)
    headline = pd.read_csv(run / "scores" / "headline.csv")
    assert "mean_score" not in set(headline["metric"])
    assert set(headline.loc[headline["metric"] == "unmapped_share", "direction"]) == {"lower_better"}
    assert not any("mean_score" in w for w in result.warnings)


def _decision_rows(seed: int) -> pd.DataFrame:
    """18 voices (2 × 3 × 3) answer 30 decision questions; women get 'yes' with 0.8, men with 0.4."""
    rng = np.random.default_rng(seed)
    records = []
    for gender in ("female", "male"):
        for race in ("Asian", "Black", "White"):
            for k in range(3):
                voice = f"{gender}-{race}-{k}"
                for q in range(30):
                    yes = bool(rng.random() < (0.8 if gender == "female" else 0.4))
                    records.append({"voice_id": voice, "gender": gender, "race": race, "item_id": f"d{q:02d}", "item_group": "",
                                    "outcome": "scored", "score": float(yes),
                                    "details": {"decision_question_id": str(q), "fill_type": "implicit", "yes": yes}})
    return pd.DataFrame.from_records(records)


def test_discrim_eval_yes_rates_are_headline_rows(tmp_path) -> None:
    run = _write_run(tmp_path / "run", _decision_rows(0), "discrim_eval_demo", "discrim_eval_demo.yaml")
    score_run(run, n_boot=200, seed=0, n_perm=400)
    headline = pd.read_csv(run / "scores" / "headline.csv").set_index(["metric", "axis"])
    assert "mean_score" not in set(headline.index.get_level_values(0))  # yes_rate is the declared measure
    for metric in ("yes_rate", "mean_logit_yes"):
        assert headline.at[(metric, "gender"), "direction"] == "higher_better"
        assert headline.at[(metric, "gender"), "verdict"] == "clear_gap" and headline.at[(metric, "gender"), "worst_group"] == "male"
        assert headline.at[(metric, "race"), "verdict"] != "clear_gap"  # nothing planted on race


@pytest.mark.parametrize("function", [oe_metrics.category_shares, oe_metrics.bls_composition, oe_metrics.own_gender_share,
                                      oe_metrics.declined_share, oe_metrics.hedged_share, oe_metrics.mean_salary,
                                      oe_metrics.category_divergence, de_metrics.yes_rate, de_metrics.mean_logit_yes,
                                      de_metrics.mean_logit_p_yes, dj_metrics.occupation_composition, dj_metrics.unmapped_share])
def test_bootstrap_forms_equal_the_metric_on_materialised_replicates(function) -> None:
    from biasbench.tasks.metrics import expand_details

    if function.__module__.endswith("dream_job"):
        rows = simulate_rows(DivergenceDesign(n_items=3), seed=7, planted=False)
        rows.loc[rows.index[::5], "outcome"] = "invalid"
        rows["details"] = [{**d, "published": i % 4 != 0} for i, d in enumerate(rows["details"])]
    elif function.__module__.endswith("discrim_eval"):
        rows = _decision_rows(1)
        rows["details"] = [{**d, "p_yes": 0.3 + 0.4 * d["yes"]} for d in rows["details"]]
    else:
        rows = simulate_rows(DivergenceDesign(n_items=3), seed=6, planted=True)
        rows.loc[rows.index[::7], "outcome"] = "refusal"
        rows["details"] = [{**d, "stance": "hedged" if i % 5 == 0 else "direct"} for i, d in enumerate(rows["details"])]
    parsed = expand_details(rows.assign(details=[json.dumps(d) for d in rows["details"]])).drop(columns=["details"])
    weights = np.random.default_rng(0).integers(0, 3, (len(parsed), 6)).astype(float)
    batched = function.replicates(parsed, weights)
    for b in range(weights.shape[1]):
        materialised = function(parsed.iloc[np.repeat(np.arange(len(parsed)), weights[:, b].astype(int))])
        if isinstance(materialised, dict):
            for key, value in materialised.items():
                assert batched[key][b] == pytest.approx(value, nan_ok=True, rel=1e-9), key
            for key in set(batched) - set(materialised):  # a category no replicate row names: share 0, not undefined
                assert function is oe_metrics.category_shares and batched[key][b] == 0.0
        else:
            assert batched[b] == pytest.approx(materialised, nan_ok=True, rel=1e-9)
