"""Understanding vs treatment: a planted mishearing is attributed to understanding, a planted
answer difference on understood clips to treatment — each with CIs that exclude the other.

The planted adapter is a real plug-in registered at runtime, run by the real runner on real espeak
clips. It *hears* acoustically: clips whose median F0 is high (the female voices) are misheard half
of the time in 'understanding' mode (garbled transcript, wrong answer), or heard and answered wrongly
half of the time in 'treatment' mode. It declares ``oracle=True`` (it needs the correct option to
answer wrongly); the understanding step's transcribe requests reach it, like any adapter, with no context. Its transcripts of heard clips come from a lexicon the test
builds from the synthesized clips (it stands in for a perfect ASR)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
import pandas as pd
import pytest

from biasbench.adapters.base import Adapter, Capabilities
from biasbench.core import registry
from biasbench.core.audio import read_audio
from biasbench.core.hashing import seed_from
from biasbench.core.messages import AudioPart, Request
from biasbench.core.response import Response

pytest.importorskip("espeakng_loader", reason="needs espeak clips (biasbench[tts])")

REPO = Path(__file__).resolve().parents[1]
POOL = """
description: test pool, gender only
purpose: demonstration
axes: [gender]
values: {gender: [female, male]}
min_per_cell: 2
engine: espeak
label_source: designed
corpus: espeak-ng presets
license: GPL-3.0-or-later
provenance: {made_by: test}
voices:
  - {id: f1, preset: en-us+f3, labels: {gender: female}}
  - {id: f2, preset: en-gb+f4, labels: {gender: female}}
  - {id: m1, preset: en-us+m3, labels: {gender: male}}
  - {id: m2, preset: en-gb+m7, labels: {gender: male}}
"""


class PlantedHearingAdapter(Adapter):
    """Hears high-pitched clips badly ('understanding') or answers them wrongly ('treatment')."""

    name = "planted-hearing"
    capabilities: ClassVar[Capabilities] = Capabilities(
        audio_in=True, text_in=True, batch=True, answer_types=frozenset({"multiple_choice", "transcription"}),
        oracle=True,  # it plants its wrong answers by the correct option's index (Request.context)
    )

    class Config(Adapter.Config):
        mode: str = "understanding"
        lexicon: str = ""

    def load(self) -> None:
        self.words = json.loads(Path(self.config.lexicon).read_text())
        self.pitch: dict[str, float] = {}

    def _high(self, clip: AudioPart) -> bool:
        from biasbench.voices.audit import median_f0

        if clip.sha256 not in self.pitch:
            self.pitch[clip.sha256] = median_f0(read_audio(clip.path)[0])[0]
        return self.pitch[clip.sha256] > 165

    def _coin(self, clip: AudioPart, salt: str) -> bool:
        return seed_from(salt, clip.sha256) % 2 == 0

    def generate(self, requests: Sequence[Request]) -> list[Response]:
        out = []
        for request in requests:
            clip = next((p for m in request.messages for p in m.parts if isinstance(p, AudioPart)), None)
            misheard = clip is not None and self.config.mode == "understanding" and self._high(clip) and self._coin(clip, "hear")
            if request.context is None:  # the understanding step's transcribe request: no oracle context, like any model
                out.append(Response("garbled noises only" if misheard else self.words[clip.sha256]))
                continue
            wrong = misheard or (clip is not None and self.config.mode == "treatment" and self._high(clip) and self._coin(clip, "treat"))
            index = request.context.target_index
            if wrong:
                index = (index + 1) % request.context.n_choices
            out.append(Response(f"The answer is {'ABCD'[index]}."))
        return out


def _run(tmp_path: Path, mode: str, pool: str = POOL, tasks: tuple[str, ...] = ("demo_mc",)) -> Path:
    from biasbench.config import parse_config
    from biasbench.runner.clips import synthesize_plan
    from biasbench.runner.plan import load_plan
    from biasbench.pipeline import run_experiment

    registry.adapters.register("planted-hearing", f"{__name__}:PlantedHearingAdapter")
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pool.yaml").write_text(pool)
    lexicon = tmp_path / "lexicon.json"
    config = parse_config({
        "pool": str(tmp_path / "pool.yaml"), "tasks": list(tasks), "modalities": ["audio", "text"], "seed": 0,
        "models": [{"name": "planted", "adapter": "planted-hearing", "params": {"mode": mode, "lexicon": str(lexicon)}}],
        "cache_dir": str(tmp_path.parent / "audio-cache"), "report": False, "tts_workers": 1,
    })
    run_dir = tmp_path / "run"
    plan = load_plan(config, REPO)
    clips = synthesize_plan(config, plan, run_dir).clips
    lexicon.write_text(json.dumps({part.sha256: text for (_, text), part in clips.items()}))
    run_experiment(config, run_dir, REPO, show_progress=False, echo=lambda _: None)
    return run_dir


def _female(run_dir: Path) -> pd.Series:
    table = pd.read_csv(run_dir / "scores" / "decomposition.csv")
    return table[(table["axis"] == "gender") & (table["group"] == "female")].iloc[0]


def _contains_zero(row: pd.Series, quantity: str) -> bool:
    return row[f"{quantity}_ci_low"] <= 0 <= row[f"{quantity}_ci_high"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):  # the runs below are end-to-end (espeak clips, runner, scorer): marked slow
    return tmp_path_factory.mktemp("decomposition")


@pytest.fixture(scope="module")
def understanding_run(shared) -> Path:
    """The planted-mishearing run, built once for every test that reads it (in any order)."""
    return _run(shared / "understanding", "understanding")


@pytest.mark.slow
def test_planted_mishearing_is_attributed_to_understanding(understanding_run):
    run_dir = understanding_run
    signal = pd.read_csv(run_dir / "understanding.csv")
    assert set(signal["source"]) == {"model"}  # the adapter can transcribe: its own transcript is the signal
    assert signal.groupby(signal["voice_id"].str[0])["understood"].mean()["m"] == 1.0
    row = _female(run_dir)
    assert row["dominant"] == "understanding"
    assert row["total_gap"] < -0.2 and row["understanding_part_ci_high"] < 0
    assert _contains_zero(row, "treatment_gap") and abs(row["treatment_gap"]) < 1e-9
    assert row["understood_gap_ci_high"] < 0 and row["text_gap"] < 0


@pytest.mark.slow
def test_planted_treatment_is_attributed_to_treatment(shared):
    run_dir = _run(shared / "treatment", "treatment")
    row = _female(run_dir)
    assert row["dominant"] == "treatment"
    assert row["treatment_gap_ci_high"] < 0 and row["understood_share_group"] == 1.0
    assert _contains_zero(row, "understanding_part")
    assert np.isclose(row["total_gap"], row["treatment_gap"])


def test_transcripts_are_cached_per_clip(understanding_run):
    log = understanding_run / "understanding" / "transcripts.jsonl"
    lines = log.read_text().splitlines()
    results = pd.read_parquet(understanding_run / "results.parquet")
    audio = results[results["modality"] == "audio"]
    n_clips = audio["item_id"].nunique() * audio["voice_id"].nunique()  # each item once per voice (one permutation each)
    assert n_clips == len(audio) >= 80
    assert len(lines) == len({json.loads(line)["key"] for line in lines}) == n_clips  # every clip asked once


def test_report_has_the_decomposition_sheet_and_plot(understanding_run):
    from biasbench.reports.run_report import write_run_report

    run_dir = understanding_run
    paths = write_run_report(run_dir)
    assert "Decomposition" in paths.sheets
    sheet = pd.read_csv(run_dir / "report" / "Decomposition.csv")
    assert set(sheet["dominant"]) == {"understanding"}
    assert (run_dir / "plots" / "decomposition__planted__demo_mc.png").is_file()


def test_understanding_source_preference_and_threshold():
    from biasbench.runner.understanding import understanding_table

    base = {"model": "m", "task": "t", "item_id": "i", "voice_id": "v", "permutation": 0, "repeat": 0, "spoken": "the cat sat on the mat"}
    rows = [
        {**base, "heard": {"model": "the cat sat on the mat", "cascade": "a dog", "audit": "x"}},
        {**base, "item_id": "j", "heard": {"model": None, "cascade": "the cat sat on the hat", "audit": "the cat sat on the mat"}},
        {**base, "item_id": "k", "heard": {"model": None, "cascade": None, "audit": "a dog ran"}},
        {**base, "item_id": "l", "heard": {"model": None, "cascade": None, "audit": None}},
    ]
    table = understanding_table(rows, wer_threshold=0.3).set_index("item_id")
    assert list(table["source"]) == ["model", "cascade", "audit", "none"]
    assert table.loc["i", "understood"] and table.loc["j", "understood"]  # cascade WER 1/6 <= 0.3
    assert abs(table.loc["j", "understanding_wer"] - 1 / 6) < 1e-9
    assert not table.loc["k", "understood"] and pd.isna(table.loc["l", "understood"])


def test_row_counts_are_per_group(understanding_run):
    table = pd.read_csv(understanding_run / "scores" / "decomposition.csv")
    results = pd.read_parquet(understanding_run / "results.parquet")
    per_gender = results[results["modality"] == "audio"].groupby("gender").size()  # items x 2 voices per gender
    assert list(table["group"]) == ["female", "male"]
    assert list(table["n_rows"]) == [per_gender["female"], per_gender["male"]] and (table["n_rows_no_signal"] == 0).all()


def test_transcribe_request_is_the_transcription_tasks_request_so_its_answer_is_reused():
    """A model that already transcribed a clip for a transcription task is not asked again (same response key)."""
    from biasbench.config import load_config
    from biasbench.core.messages import AudioPart
    from biasbench.runner.plan import load_plan
    from biasbench.runner.requests import build_request, generation_params
    from biasbench.runner.understanding import transcribe_request

    config = load_config(REPO / "configs" / "engines_espeak.yaml")
    plan = load_plan(config, REPO)
    row = plan.rows[0]
    clip = AudioPart("/nowhere.wav", "ab" * 32, 16_000, 1.0)
    params = generation_params(config, config.models[0])
    fingerprint = "f" * 16
    assert build_request(row, clip, params, None).key(fingerprint) == transcribe_request(clip, params).key(fingerprint)


EIGHT_VOICES = POOL.replace("min_per_cell: 2", "min_per_cell: 4") + """\
  - {id: f3, preset: en-us+f2, labels: {gender: female}}
  - {id: f4, preset: en-gb+f1, labels: {gender: female}}
  - {id: m3, preset: en-us+m1, labels: {gender: male}}
  - {id: m4, preset: en-gb+m2, labels: {gender: male}}
"""
SMALL_TASK = """\
kind: multiple_choice
version: "1"
description: eight short test questions
path: items.jsonl
columns: {id: id, question: question, choices: choices, answer: answer}
answer_format: index
rendering: full
instruction: "Answer with the letter of the correct option ({letters}) only."
modalities: [audio, text]
rotations: 1
"""
SMALL_ITEMS = [("What colour is the sky?", ["Blue", "Green"]), ("How many days are in a week?", ["Seven", "Nine"]),
               ("Which animal barks?", ["Dog", "Cat"]), ("What do bees make?", ["Honey", "Milk"]),
               ("Which is a fruit?", ["Apple", "Stone"]), ("What is frozen water?", ["Ice", "Sand"]),
               ("Which season is coldest?", ["Winter", "Summer"]), ("What do we read?", ["Books", "Shoes"])]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["understanding", "treatment"])
def test_headline_names_the_dominant_part_of_the_clear_gap(tmp_path, mode):
    """With four voices per gender the family-wise test can name the worst group: scores/headline.csv then
    carries the decomposition's dominant part for it, and the report sentence says it."""
    from biasbench.reports.headline import verdict

    (tmp_path / "task.yaml").write_text(SMALL_TASK)
    (tmp_path / "items.jsonl").write_text("".join(json.dumps({"id": f"q{i}", "question": q, "choices": c, "answer": 0}) + "\n"
                                                  for i, (q, c) in enumerate(SMALL_ITEMS)))
    run_dir = _run(tmp_path / mode, mode, EIGHT_VOICES, (str(tmp_path / "task.yaml"),))
    headline = pd.read_csv(run_dir / "scores" / "headline.csv", keep_default_na=False)
    row = headline[(headline["axis"] == "gender") & (headline["modality"] == "audio") & (headline["metric"] == "accuracy")].iloc[0]
    assert row["verdict"] == "clear_gap" and row["worst_group"] == "female", row.to_dict()
    assert row["dominant"] == mode and f"mostly {mode}" in row["note"]
    assert f"mostly {mode}" in verdict("accuracy", headline[headline.index == row.name])
    assert (headline.loc[headline["verdict"] != "clear_gap", "dominant"] == "").all()


def test_join_dominant_matches_the_named_worst_group_only():
    from biasbench.scoring.headline import join_dominant

    key = {"model": "m", "task": "t", "modality": "audio", "metric": "accuracy"}
    headline = pd.DataFrame([
        {**key, "axis": "gender", "verdict": "clear_gap", "worst_group": "female", "note": "method"},
        {**key, "axis": "accent", "verdict": "clear_gap", "worst_group": "a = b", "note": ""},
        {**key, "axis": "cell", "verdict": "no_clear_gap", "worst_group": "", "note": ""},
    ])
    decomposition = pd.DataFrame([
        {**key, "axis": "gender", "group": "female", "dominant": "treatment"},
        {**key, "axis": "gender", "group": "male", "dominant": "understanding"},
        {**key, "axis": "accent", "group": "a", "dominant": "understanding"},
    ])
    joined = join_dominant(headline, decomposition)
    assert list(joined["dominant"]) == ["treatment", "", ""]
    assert joined.loc[0, "note"].startswith("method; the gap is mostly treatment")
    assert list(join_dominant(headline, None)["dominant"]) == ["", "", ""]


def test_missing_key_content_marks_a_row_not_understood_despite_a_low_wer():
    """'Key content missing': the options are heard but the question's content words are not."""
    from biasbench.runner.understanding import key_words, missing_key_share, understanding_table

    spoken = "Which planet is known as the red planet? A. Mars. B. Venus. C. Jupiter. D. Saturn. Answer with the letter only."
    stem = "Which planet is known as the red planet?"
    assert key_words(stem, spoken) == ["planet", "known", "red"]
    heard_all = spoken
    misses_stem = "Which plan it is shown as the bread plan it? A. Mars. B. Venus. C. Jupiter. D. Saturn. Answer with the letter only."
    assert missing_key_share(misses_stem, key_words(stem, spoken)) == 1.0
    base = {"model": "m", "task": "t", "voice_id": "v", "permutation": 0, "repeat": 0, "spoken": spoken}
    rows = [{**base, "item_id": "ok", "heard": {"model": heard_all}, "key": stem},
            {**base, "item_id": "stem", "heard": {"model": misses_stem}, "key": stem},
            {**base, "item_id": "nokey", "heard": {"model": misses_stem}, "key": None}]
    table = understanding_table(rows, wer_threshold=0.3, key_threshold=0.5).set_index("item_id")
    assert table.loc["stem", "understanding_wer"] <= 0.3  # WER alone would call it understood
    assert table.loc["ok", "understood"] and table.loc["ok", "key_missing"] == 0.0
    assert not table.loc["stem", "understood"] and table.loc["stem", "key_missing"] == 1.0
    assert table.loc["nokey", "understood"] and pd.isna(table.loc["nokey", "key_missing"])


def test_a_changed_understanding_table_changes_the_score_stamp(understanding_run):
    """The score stamp covers understanding.csv, so a new understanding signal re-scores the decomposition."""
    from biasbench.core.rundir import RunDir
    from biasbench.pipeline import _scores_digest

    run = RunDir(understanding_run)
    before = _scores_digest(run, 0)
    original = run.understanding_csv.read_bytes()
    try:
        run.understanding_csv.write_bytes(original.replace(b",False\n", b",True\n", 1))
        assert _scores_digest(run, 0) != before
    finally:
        run.understanding_csv.write_bytes(original)
    assert _scores_digest(run, 0) == before
