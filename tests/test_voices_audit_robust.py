"""A robust voice audit: capped per-clip WER, hallucination loops detected, voices as the unit of the
parity test, fixed audit sentences by default.

Regression: one hallucinating ASR transcript (WER 9.7 on one clip) moved a voice's mean WER from
0.39 to 1.24 and flagged the wrong cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biasbench.voices.audit import AUDIT_SENTENCES, AuditParams, hallucination, parity_check, robust_wer, voice_permutation_test
from biasbench.voices.spec import load_pool

REFERENCE = "the small boat drifted slowly toward the quiet old harbour"  # 10 words


def _heard(errors: int) -> str:
    words = REFERENCE.split()
    return " ".join("x" if i < errors else w for i, w in enumerate(words))


def _table(errors: dict[str, list[int]], clips: int = 5, loop_at: tuple[str, int] | None = None) -> pd.DataFrame:
    """2 cells x 4 voices x ``clips`` clips; each voice's clips have the given number of word errors."""
    settings = AuditParams()
    rows = []
    for cell, per_voice in errors.items():
        for v, n_errors in enumerate(per_voice):
            for c in range(clips):
                heard = _heard(n_errors)
                if loop_at == (cell, v) and c == 0:
                    heard = REFERENCE + " thank you for watching" * 24 + " and"  # 97 extra words: WER 9.7
                rows.append({"voice_id": f"{cell}-{v}", "cell": f"female × {cell}", "gender": "female", "accent": cell,
                             "clipped_fraction": 0.0, **robust_wer(REFERENCE, heard, settings)})
    return pd.DataFrame(rows)


def _flagged(table: pd.DataFrame) -> set[tuple[str, str]]:
    voices = table.groupby(["voice_id", "cell", "gender", "accent"])[["wer"]].mean().reset_index()
    return {(f["grouping"], f["group"]) for f in parity_check(table, voices, load_pool("demo_espeak"), AuditParams())["flags"]}


def test_wer_is_capped_and_loops_are_detected() -> None:
    settings = AuditParams()
    looped = robust_wer(REFERENCE, REFERENCE + " thank you for watching" * 24 + " and", settings)
    assert looped["wer_raw"] == pytest.approx(9.7) and looped["wer"] == 1.0
    assert "repeated" in looped["hallucination"] or "words for a 10-word" in looped["hallucination"]
    assert hallucination("a b c", "a b c the end the end the end the end", settings).startswith("transcript has 11 words")
    assert hallucination(REFERENCE, REFERENCE + " the end the end the end the end", settings).endswith("repeated 3 times")
    assert hallucination("one two three four", "one two three four", settings) == ""
    assert hallucination("one two three", " ".join(["one two three"] * 4), settings) != ""  # a loop of the reference
    plain = robust_wer(REFERENCE, _heard(3), settings)
    assert plain == {"wer_raw": pytest.approx(0.3), "wer": pytest.approx(0.3), "hallucination": ""}


def test_one_hallucinating_clip_no_longer_flips_the_flagged_cell() -> None:
    errors = {"en-029": [3, 4, 3, 4], "en-us": [1, 1, 0, 1]}
    clean = _table(errors)
    assert _flagged(clean) >= {("cell", "female × en-029")}
    looped = _table(errors, loop_at=("en-us", 0))
    # the uncapped clip means (the old audit) would now rank en-us as the worse cell
    raw = looped.groupby("accent")["wer_raw"].mean()
    assert raw["en-us"] > raw["en-029"]
    flagged = _flagged(looped)
    assert ("cell", "female × en-029") in flagged and ("cell", "female × en-us") not in flagged
    assert looped["hallucination"].ne("").sum() == 1


def test_clips_are_not_the_unit_a_single_voice_per_group_is_untestable() -> None:
    # one voice per cell with many clips: a clip-level test would "see" a gap; with voices as the unit it cannot
    table = _table({"en-029": [4], "en-us": [0]}, clips=40)
    voices = table.groupby(["voice_id", "cell", "gender", "accent"])[["wer"]].mean().reset_index()
    parity = parity_check(table, voices, load_pool("demo_espeak"), AuditParams())
    assert parity["flags"] == []
    cell_test = next(t for t in parity["tests"] if t["metric"] == "wer" and t["grouping"] == "cell")
    assert cell_test["p_value"] is None and "single voice" in cell_test["note"]


def test_voice_permutation_test_is_seeded_and_calibrated() -> None:
    rng = np.random.default_rng(3)
    p_values = [voice_permutation_test({"a": rng.normal(size=4), "b": rng.normal(size=4)}, 499, seed)[1] for seed in range(200)]
    assert 0.01 <= np.mean(np.array(p_values) < 0.05) <= 0.10  # level under the null
    groups = {"a": np.array([0.1, 0.2, 0.15, 0.12]), "b": np.array([0.5, 0.6, 0.55, 0.52])}
    assert voice_permutation_test(groups, 999, 0) == voice_permutation_test(groups, 999, 0)
    assert voice_permutation_test(groups, 999, 0)[1] < 0.05


def test_fixed_audit_sentences_are_the_default() -> None:
    assert AuditParams().texts == "fixed"
    assert len(AUDIT_SENTENCES) >= 10 and len(set(AUDIT_SENTENCES)) == len(AUDIT_SENTENCES)
    assert all(8 <= len(s.split()) <= 12 for s in AUDIT_SENTENCES)


def test_fixed_sentences_are_spoken_by_every_audited_voice(tmp_path) -> None:
    pytest.importorskip("espeakng_loader", reason="needs espeak-ng (biasbench[tts])")
    from biasbench.voices.audit import fixed_sentence_clips

    voices = load_pool("demo_espeak").voices[:2]
    clips = fixed_sentence_clips(voices, tmp_path, workers=1)
    assert set(clips) == {(voice.id, text) for voice in voices for text in AUDIT_SENTENCES}
    assert fixed_sentence_clips(voices, tmp_path, workers=1) == clips  # cached, same clips
