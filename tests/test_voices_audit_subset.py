"""The audit's text subset compares voices on the same words."""

from __future__ import annotations

from biasbench.core.messages import AudioPart
from biasbench.voices.audit import audit_subset


def part(name: str) -> AudioPart:
    return AudioPart(path=f"/{name}.wav", sha256=name, sample_rate=16000, duration_s=1.0)


def clips_for(voices: dict[str, list[str]]) -> dict[tuple[str, str], AudioPart]:
    return {(v, t): part(f"{v}-{t}") for v, texts in voices.items() for t in texts}


def test_common_texts_are_shared_across_voices_and_seeded():
    shared = [f"s{i}" for i in range(10)]
    clips = clips_for({"a": shared + ["a-only"], "b": shared + ["b-only"], "c": shared})
    chosen = audit_subset(clips, 4, seed=0)
    per_voice = {v: sorted(t for (vv, t) in chosen if vv == v) for v in "abc"}
    assert len(per_voice["a"]) == 4 and per_voice["a"] == per_voice["b"] == per_voice["c"]
    assert set(per_voice["a"]) <= set(shared)
    assert audit_subset(clips, 4, seed=0) == chosen
    assert audit_subset(clips, 4, seed=1) != chosen


def test_without_enough_common_texts_each_voice_is_sampled_from_its_own():
    clips = clips_for({"a": ["x", "y", "z"], "b": ["p", "q", "r"]})
    chosen = audit_subset(clips, 2, seed=0)
    assert sum(1 for v, _ in chosen if v == "a") == 2 and sum(1 for v, _ in chosen if v == "b") == 2
    assert all(clips[key] is chosen[key] for key in chosen)


def test_asking_for_more_than_exists_keeps_everything():
    clips = clips_for({"a": ["x"], "b": ["y"]})
    assert audit_subset(clips, 5, seed=0) == clips
