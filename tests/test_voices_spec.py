"""Pool specs: shipped pools validate; every problem (balance, clips, engines, names) is reported at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from biasbench.core.errors import ConfigError, UnknownNameError
from biasbench.voices.spec import available_pools, load_pool, pool_from_json

pytest.importorskip("espeakng_loader", reason="the demo pool's presets are checked against espeak-ng data")


def _write(folder: Path, text: str, name: str = "pool.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _clip(path: Path, rate: int = 16_000, channels: int = 1, seconds: float = 1.0) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 180 * t)
    sf.write(path, np.stack([tone] * channels, axis=1) if channels > 1 else tone, rate)
    return path


def test_demo_pool_is_balanced_demonstration_with_a_split():
    pool = load_pool("demo_espeak")
    assert pool.purpose == "demonstration" and "not a race pool" in pool.description
    assert pool.axes == ("gender", "accent")
    cells = pool.cells()
    assert len(cells) == 6 and all(len(voices) == 2 for voices in cells.values())
    for voices in cells.values():
        assert sorted(v.split for v in voices) == ["eval", "train"]
    assert all(label.source == "designed" for v in pool.voices for label in v.labels)
    assert pool_from_json(pool.to_json()) == pool


def test_template_structure_validates_without_its_clips():
    pool = load_pool("balanced_gender_race", check_files=False)
    assert pool.axes == ("gender", "race") and len(pool.cells()) == 6
    assert all(len(v) == 4 for v in pool.cells().values())
    assert len(pool.split("train")) == len(pool.split("eval")) == 12
    assert all(label.source == "self-reported" for v in pool.voices for label in v.labels)
    with pytest.raises(ConfigError, match="reference clip: audio file not found"):
        load_pool("balanced_gender_race")


def test_available_pools_lists_shipped_specs_with_descriptions():
    pools = dict(available_pools())
    assert "demo_espeak" in pools and "balanced_gender_race" in pools
    assert pools["demo_espeak"].startswith("Demonstration pool")


def test_unknown_pool_name_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'demo_espeak'"):
        load_pool("demo_espek")


UNBALANCED = """\
    axes: [gender, accent]
    min_per_cell: 2
    engine: espeak
    label_source: designed
    voices:
      - {id: a, preset: en-us+f3, labels: {gender: female, accent: en-us}}
      - {id: b, preset: en-us+f4, labels: {gender: female, accent: en-us}}
      - {id: c, preset: en-us+m3, labels: {gender: male, accent: en-us}}
      - {id: d, preset: en-gb+f3, labels: {gender: female, accent: en-gb}}
      - {id: e, preset: en-gb+f4, labels: {gender: female, accent: en-gb}}
      - {id: f, preset: en-gb+f2, labels: {gender: female, accent: en-gb}}
"""


def test_unbalanced_pool_lists_every_cell(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_pool(_write(tmp_path, UNBALANCED))
    message = caught.value.one_line()
    assert "cell male × en-us has 1 voices, fewer than min_per_cell=2" in message
    assert "cell male × en-gb has 0 voices" in message
    assert "female × en-gb=3" in message and "female × en-us=2" in message


def test_allow_unbalanced_accepts_different_sizes_but_not_too_small_cells(tmp_path):
    text = UNBALANCED.replace("min_per_cell: 2", "min_per_cell: 1\n    allow_unbalanced: true")
    text += "      - {id: g, preset: en-gb+m3, labels: {gender: male, accent: en-gb}}\n"
    pool = load_pool(_write(tmp_path, text))
    assert pool.allow_unbalanced and len(pool.voices) == 7


def test_schema_label_and_engine_problems_are_all_reported(tmp_path):
    path = _write(tmp_path, """\
        axes: [gender, accent]
        min_per_cell: 1
        label_source: designed
        voices:
          - {id: a, engine: espek, preset: en-us+f3, labels: {gender: female, accent: en-us}}
          - {id: b, engine: espeak, preset: en-us+f3, labels: {gender: female, accent: en-us}, label_source: guessed}
          - {id: c, engine: espeak, preset: xx-yy, labels: {gender: male, accent: en-us}}
          - {id: d, engine: espeak, preset: en-us+m3, labels: {gender: male}}
        """)
    with pytest.raises(ConfigError) as caught:
        load_pool(path)
    message = "; ".join(caught.value.problems)
    assert "label source 'guessed'" in message
    assert "voices[3] 'd': no label for accent" in message
    assert "unknown tts backend 'espek'" in message and "no language 'xx-yy'" in message
    with pytest.raises(ConfigError, match="unknown tts backend 'espek'; did you mean 'espeak'"):
        load_pool(_write(tmp_path, """\
            axes: [gender]
            min_per_cell: 1
            label_source: designed
            voices:
              - {id: a, engine: espek, preset: en-us+f3, labels: {gender: female}}
              - {id: c, engine: espeak, preset: xx-yy, labels: {gender: male}}
            """, "two.yaml"))
    with pytest.raises(ConfigError, match="no language 'xx-yy'"):
        load_pool(tmp_path / "two.yaml")
    with pytest.raises(ConfigError, match=r"pool\.voices\.0\.split"):
        load_pool(_write(tmp_path, "voices: [{id: a, labels: {gender: f}, split: test}]\n", "three.yaml"))


def _cloned_pool(folder: Path, clip_a: Path, clip_b: Path) -> Path:
    return _write(folder, f"""\
        axes: [gender]
        min_per_cell: 1
        engine: xtts
        label_source: self-reported
        voices:
          - {{id: a, reference: {{path: {clip_a.name}, transcript: hi}}, labels: {{gender: female}}}}
          - {{id: b, reference: {{path: {clip_b}, transcript: hi}}, labels: {{gender: male}}}}
        """)


def test_reference_clips_resolve_relative_to_the_spec(tmp_path):
    (tmp_path / "clips").mkdir()
    a = _clip(tmp_path / "a.wav")
    b = _clip(tmp_path / "clips" / "b.wav", rate=44_100, channels=2)
    pool = load_pool(_cloned_pool(tmp_path, a, b))
    assert pool.voice("a").reference.path == str(tmp_path / "a.wav")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "audio file not found"),
        (lambda p: p.write_bytes(b""), "audio file is empty"),
        (lambda p: p.write_text("this is not audio, just text"), "not a readable audio file"),
    ],
)
def test_missing_empty_or_non_audio_reference_is_a_one_line_error(tmp_path, make, message):
    good = _clip(tmp_path / "good.wav")
    bad = tmp_path / "bad.wav"
    make(bad)
    with pytest.raises(ConfigError) as caught:
        load_pool(_cloned_pool(tmp_path, good, bad))
    text = caught.value.one_line()
    assert message in text and "voice 'b' reference clip" in text and "\n" not in text
