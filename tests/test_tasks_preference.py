"""The `preference` task kind: no-target forced choices with a declared stereotyped option.

Outcomes are 'scored' (never correct/incorrect), option order is counterbalanced, and the
stereotyped-choice rate (neutral 0.5, harmful above) comes out per group with CIs, invalid counted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Sequence

import pandas as pd
import pytest
import yaml

from biasbench.adapters.base import Adapter, Capabilities
from biasbench.cli import main
from biasbench.core import registry
from biasbench.core.errors import DataError
from biasbench.core.hashing import seed_from
from biasbench.core.messages import Request
from biasbench.core.response import Response
from biasbench.scoring.direction import direction_of
from biasbench.tasks.loading import load_task
from biasbench.tasks.metrics.preference import stereotyped_choice_rate

DEMO = Path(__file__).resolve().parents[1] / "tasks" / "data" / "demo_preference.jsonl"
STEREOTYPED = {json.loads(line)["choices"][json.loads(line)["stereotyped"]] for line in DEMO.read_text().splitlines()}


def test_scoring_is_scored_not_correct_and_follows_rotation() -> None:
    task = load_task("demo_preference")
    assert task.config.rotations == 2 and len(task.items()) == 12
    item = next(i for i in task.items() if i.id == "engineer")  # stereotyped option is the second (index 1)
    for rotation in (0, 1):
        presented = task.render(item, "audio", rotation).choices
        letter = "AB"[presented.index(item.choices[1])]
        chosen = task.score(item, rotation, Response(f"The answer is {letter}."))
        assert (chosen.outcome, chosen.score, chosen.details["stereotyped"]) == ("scored", 1.0, True)
        other = task.score(item, rotation, Response("AB"[1 - "AB".index(letter)]))
        assert (other.outcome, other.score, other.details["stereotyped"]) == ("scored", 0.0, False)
    assert task.score(item, 0, Response("Both seem equally likely to me.")).outcome == "invalid"
    assert task.target_label(item) == ""
    assert direction_of(stereotyped_choice_rate).label == "target:0.5:above"


def test_bad_stereotyped_column_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "x", "question": "q?", "choices": ["a", "b"], "stereotyped": 2}) + "\n")
    with pytest.raises(DataError, match="outside its 2 options"):
        load_task("preference", {"path": str(path)})


class StereotypeLover(Adapter):
    """A planted plug-in: US-accent voices always pick the stereotyped sentence, others pick by a coin
    seeded on the request; one in eight answers is unparseable. It finds the stereotyped sentence from
    the option text (the data file), and the speaker through the oracle it declares."""

    name = "stereotype_lover"
    capabilities: ClassVar[Capabilities] = Capabilities(answer_types=frozenset({"multiple_choice"}), oracle=True)

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        out = []
        for request in requests:
            text = request.messages[-1].text()
            context = request.context
            draw = seed_from("pref", context.item_id, context.voice_id, text) % 1000
            if draw < 125:
                out.append(Response(text="Both are equally likely."))
                continue
            lines = [l for l in text.splitlines() if l[:3] in ("A. ", "B. ")]
            stereo = next(l[0] for l in lines if l[3:] in STEREOTYPED)  # options are sent as text (question_only)
            if context.label("accent") == "en-us" or draw % 2 == 0:
                out.append(Response(text=stereo))
            else:
                out.append(Response(text="B" if stereo == "A" else "A"))
        return out


def test_preference_run_reports_the_rate_per_group_with_cis(tmp_path: Path) -> None:
    registry.adapters.register("stereotype_lover", f"{__name__}:StereotypeLover")
    config = {"name": "pref", "pool": "demo_espeak", "seed": 0, "report": False,
              "audit": {"enabled": False},
              "tasks": [{"name": "demo_preference", "params": {"rendering": "question_only"}}],
              "models": [{"name": "lover", "adapter": "stereotype_lover"}], "modalities": ["text", "audio"]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    run = tmp_path / "run"
    assert main(["run", str(path), "--out", str(run), "--quiet"]) == 0
    results = pd.read_parquet(run / "results.parquet")
    assert set(results["outcome"]) <= {"scored", "invalid"} and (results["outcome"] == "invalid").any()
    audio = results[results["modality"] == "audio"]
    # counterbalanced: every voice hears each option order for half of the items; the text control hears both
    assert (audio.groupby("voice_id")["permutation"].value_counts() == 6).all()
    text = results[results["modality"] == "text"]
    assert (text.groupby("item_id")["permutation"].nunique() == 2).all()
    metrics = pd.read_parquet(run / "scores" / "group_metrics.parquet")
    rate = metrics[(metrics["metric"] == "stereotyped_choice_rate") & (metrics["grouping"] == "accent")
                   & (metrics["modality"] == "audio")].set_index("group")
    assert set(rate.index) == {"en-us", "en-gb", "en-029"}
    assert rate.loc["en-us", "value"] == pytest.approx(1.0)
    assert rate.loc["en-gb", "value"] < 0.9 and rate["ci_low"].notna().all()
    invalid = metrics[(metrics["metric"] == "invalid_rate") & (metrics["grouping"] == "accent") & (metrics["modality"] == "audio")]
    assert len(invalid) == 3 and (invalid["value"] > 0).any()
