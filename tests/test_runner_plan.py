"""The run plan: every (model, task, item, voice, modality, rotation, repeat) row, stable and balanced."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from biasbench.config import parse_config
from biasbench.core.errors import ConfigError
from biasbench.runner.plan import load_plan

SIM = {"name": "s", "adapter": "simulated", "params": {"axis": "accent"}}


def _plan(**values):
    tasks = [{"name": "demo_mc", "params": {"n_items": 20}}]  # 20 of its items: the counts below are for 20
    config = {"pool": "demo_espeak", "tasks": tasks, "models": [SIM], "modalities": ["audio", "text"], **values}
    return load_plan(parse_config(config), Path("."))


@pytest.fixture(scope="module")
def plan():
    return _plan()


def test_every_item_is_heard_once_in_every_voice_with_balanced_option_orders(plan):
    audio = [row for row in plan.rows if row.modality == "audio"]
    n_items = len({row.item.id for row in audio})
    assert n_items == 20 and len(plan.voices) == 12
    assert Counter((row.item.id, row.voice.id) for row in audio) == {(i, v.id): 1 for i in {r.item.id for r in audio} for v in plan.voices}
    # 4 rotations (option orders), Latin-square counterbalanced: every voice hears each order equally
    # often, so no voice (and no accent cell) gets easier option positions than another
    assert Counter(row.rotation for row in audio) == {0: 60, 1: 60, 2: 60, 3: 60}
    assert set(Counter((row.voice.id, row.rotation) for row in audio).values()) == {5}
    assert set(Counter((row.voice.label("accent"), row.rotation) for row in audio).values()) == {20}


def test_the_text_control_asks_every_item_in_every_option_order_without_a_voice(plan):
    text = [row for row in plan.rows if row.modality == "text"]
    assert len(text) == 80 and all(row.voice is None for row in text)
    assert Counter(row.rotation for row in text) == {0: 20, 1: 20, 2: 20, 3: 20}


def test_the_plan_is_stable_and_repeats_multiply_rows(plan):
    again = _plan()
    assert [row.identity() for row in again.rows] == [row.identity() for row in plan.rows]
    doubled = _plan(repeats=2)
    assert len(doubled.rows) == 2 * len(plan.rows)
    assert Counter(row.repeat for row in doubled.rows) == {0: len(plan.rows), 1: len(plan.rows)}
    assert len({tuple(sorted(row.identity().items())) for row in doubled.rows}) == len(doubled.rows)  # identities unique


def test_pairs_an_adapter_cannot_answer_are_skipped_with_a_reason_or_refused_when_asked_for():
    mixed = _plan(tasks=["demo_mc", "demo_transcription"])
    assert {row.task for row in mixed.rows} == {"demo_mc"}
    assert mixed.skipped == ("s × demo_transcription: adapter 'simulated' cannot answer transcription tasks",)
    with pytest.raises(ConfigError, match="adapter 'simulated' cannot answer transcription tasks"):
        _plan(tasks=["demo_mc", "demo_transcription"], models=[{**SIM, "tasks": ["demo_transcription"]}])
    with pytest.raises(ConfigError, match="the plan is empty"):
        _plan(tasks=["demo_transcription"])


def test_a_voice_split_limits_the_voices(plan):
    evaluation = _plan(voice_split="eval")
    assert 0 < len(evaluation.voices) < len(plan.voices)
    assert {row.voice.id for row in evaluation.rows if row.voice is not None} == {voice.id for voice in evaluation.voices}
