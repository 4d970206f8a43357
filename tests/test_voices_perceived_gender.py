"""Acoustic perceived-gender audit: a voice deliberately mislabelled in a test pool is flagged; the demo pool is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biasbench.voices.perceived_gender import audit_pool_gender, flag_sentences, perceived, perceived_gender_table

pytest.importorskip("espeakng_loader", reason="needs espeak clips (biasbench[tts])")

MISLABELLED = """
description: test pool with one voice deliberately mislabelled (a male preset labelled female)
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
  - {id: f-ok, preset: en-us+f3, labels: {gender: female}}
  - {id: f-wrong, preset: en-us+m3, labels: {gender: female}}
  - {id: m-ok-1, preset: en-us+m7, labels: {gender: male}}
  - {id: m-ok-2, preset: en-gb+m3, labels: {gender: male}}
"""
TEXTS = ["The capital of France is Paris.", "Please bring your umbrella this afternoon."]


def test_a_mislabelled_voice_is_flagged_and_correct_ones_are_not(tmp_path):
    from biasbench.voices.cache import AudioCache
    from biasbench.voices.spec import load_pool
    from biasbench.voices.synthesis import synthesize

    (tmp_path / "pool.yaml").write_text(MISLABELLED)
    pool = load_pool(tmp_path / "pool.yaml")
    clips = synthesize(pool.voices, TEXTS, AudioCache(tmp_path / "cache"), workers=1).clips
    table = audit_pool_gender(clips, pool, tmp_path / "audit").set_index("voice_id")
    assert table.loc["f-wrong", "flagged"] and table.loc["f-wrong", "perceived_gender"] == "male"
    assert not table.drop(index="f-wrong")["flagged"].any()
    assert table.loc["f-ok", "perceived_gender"] == "female" and table.loc["f-ok", "clips"] == 2
    assert (tmp_path / "audit" / "perceived_gender.csv").is_file()
    assert flag_sentences(table.reset_index()) == [
        f"Voice f-wrong is labelled female but sounds male (median F0 {table.loc['f-wrong', 'f0_median_hz']:.0f} Hz): "
        "listeners and models may not hear the intended gender."
    ]


def test_thresholds_and_ambiguous_voices_are_reported_not_flagged():
    assert perceived(210.0) == "female" and perceived(100.0) == "male" and perceived(155.0) == "ambiguous"
    assert perceived(float("nan")) == "unknown"
    clips = pd.DataFrame({"voice_id": ["a", "a", "b"], "gender": ["male", "male", "female"], "median_f0_hz": [150, 160, np.nan]})
    table = perceived_gender_table(clips).set_index("voice_id")
    assert table.loc["a", "perceived_gender"] == "ambiguous" and not table.loc["a", "flagged"] and "between" in table.loc["a", "note"]
    assert table.loc["b", "perceived_gender"] == "unknown" and not table.loc["b", "flagged"]


def test_the_voice_audit_flags_the_mislabelled_voice_and_writes_the_table(tmp_path):
    """The hook: audit_clips runs the perceived-gender check, writes its table, and warns about f-wrong only."""
    from biasbench.voices.audit import FILES, audit_clips
    from biasbench.voices.cache import AudioCache
    from biasbench.voices.spec import load_pool
    from biasbench.voices.synthesis import synthesize

    (tmp_path / "pool.yaml").write_text(MISLABELLED)
    pool = load_pool(tmp_path / "pool.yaml")
    clips = synthesize(pool.voices, TEXTS, AudioCache(tmp_path / "cache"), workers=1).clips
    summary = audit_clips(clips, pool, tmp_path / "audit", {"asr": False, "permutations": 99})
    table = pd.read_csv(tmp_path / "audit" / FILES["perceived_gender"]).set_index("voice_id")
    assert list(table.index[table["flagged"]]) == ["f-wrong"]
    flagged = [w for w in summary.warnings if "labelled female but sounds male" in w]
    assert len(flagged) == 1 and flagged[0].startswith("Voice f-wrong ")
    assert not any("f-ok" in w or "m-ok" in w for w in summary.warnings if "sounds" in w)
    import json

    assert flagged[0] in json.loads((tmp_path / "audit" / FILES["parity"]).read_text())["warnings"]
