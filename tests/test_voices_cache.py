"""Audio cache storage: FLAC by default (lossless, format-independent content hash), size check on open,
full re-hash only with --verify-cache, corrupt clips synthesized again, WAV sent to WAV-only APIs."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from biasbench.core.audio import Audio, content_sha256, wav_bytes_of_file
from biasbench.core.errors import ConfigError
from biasbench.voices.cache import AudioCache


def _clip(seed: int = 0, seconds: float = 0.4) -> Audio:
    """Noise plus a tone reaching full scale (loud samples are where a float round trip would round)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(16_000 * seconds)) / 16_000
    samples = 0.6 * np.sin(2 * np.pi * 330 * t) + 0.4 * rng.uniform(-1, 1, t.size)
    samples[100] = 1.0
    samples[101] = -1.0
    return Audio(samples.astype(np.float32), 16_000)


def _pcm16(audio: Audio) -> np.ndarray:
    """The 16-bit samples the WAV encoding of ``audio`` holds (what any stored clip must hold)."""
    return sf.read(io.BytesIO(audio.wav_bytes()), dtype="int16")[0]


def _flip_a_byte_in_the_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flac_round_trip_is_lossless_and_keys_do_not_depend_on_the_format(tmp_path):
    audio = _clip()
    flac = AudioCache(tmp_path / "f").put("k" * 64, audio)
    wav = AudioCache(tmp_path / "w", audio_format="wav").put("k" * 64, audio)
    assert flac.path.endswith(".flac") and wav.path.endswith(".wav")
    assert sf.info(flac.path).format == "FLAC" and sf.info(flac.path).subtype == "PCM_16"
    stored = sf.read(flac.path, dtype="int16")[0]
    assert np.array_equal(stored, _pcm16(audio))  # the very samples synthesized, after 16-bit quantization
    assert np.abs(sf.read(flac.path, dtype="float32")[0] - audio.samples).max() <= 1 / 32_767
    assert Path(flac.path).stat().st_size < Path(wav.path).stat().st_size
    # the content hash (what response keys use) is the canonical WAV's, whatever the stored format
    assert flac.sha256 == wav.sha256 == hashlib.sha256(Path(wav.path).read_bytes()).hexdigest()
    assert content_sha256(flac.path) == flac.sha256
    assert wav_bytes_of_file(wav.path) == Path(wav.path).read_bytes()


def test_same_size_change_is_trusted_on_open_and_caught_by_verify(tmp_path):
    cache = AudioCache(tmp_path)
    part = cache.put("a" * 64, _clip())
    path = Path(part.path)
    size = path.stat().st_size
    _flip_a_byte_in_the_middle(path)
    assert path.stat().st_size == size
    assert cache.get("a" * 64) == part and cache.problems == []  # size + stored hash: not re-read
    verifying = AudioCache(tmp_path, verify=True)
    assert verifying.get("a" * 64) is None
    assert len(verifying.problems) == 1 and "does not match its recorded sha256" in verifying.problems[0]


def test_truncated_clip_is_treated_as_missing_with_a_note(tmp_path):
    cache = AudioCache(tmp_path)
    part = cache.put("b" * 64, _clip())
    path = Path(part.path)
    path.write_bytes(path.read_bytes()[:100])
    assert cache.get("b" * 64) is None
    assert cache.problems == [f"cached clip {path} is 100 bytes, {json.loads(path.with_suffix('.json').read_text())['size']} were stored; synthesizing it again"]
    again = cache.put("b" * 64, _clip())
    assert again == part and cache.get("b" * 64) == part


def test_older_wav_sidecar_is_read_hashed_once_and_upgraded(tmp_path):
    """A cache written before FLAC (sidecar without file/size) keeps its clips and their keys."""
    audio = _clip(1)
    folder = tmp_path / "audio" / "cc"
    folder.mkdir(parents=True)
    data = audio.wav_bytes()
    (folder / f"{'c' * 64}.wav").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    (folder / f"{'c' * 64}.json").write_text(json.dumps({"sha256": digest, "sample_rate": 16_000, "duration_s": 0.4}))
    part = AudioCache(tmp_path).get("c" * 64)
    assert part is not None and part.sha256 == digest and part.path.endswith(".wav")
    record = json.loads((folder / f"{'c' * 64}.json").read_text())
    assert record["size"] == len(data) and record["file_sha256"] == digest and record["file"].endswith(".wav")
    (folder / f"{'c' * 64}.wav").write_bytes(data[:-2] + b"\0\0")  # same size: now trusted without a re-hash
    assert AudioCache(tmp_path).get("c" * 64) is not None and AudioCache(tmp_path, verify=True).get("c" * 64) is None


def test_unknown_format_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown audio format 'mp3'"):
        AudioCache(tmp_path, audio_format="mp3")


def test_openai_adapter_sends_valid_wav_from_a_flac_clip(tmp_path, monkeypatch):
    pytest.importorskip("openai", reason="needs the openai SDK: pip install 'biasbench[openai]'")
    from biasbench.adapters.openai_chat import OpenAIAudioAdapter
    from biasbench.testing.openai_server import OpenAITestServer
    from biasbench.testing.requests import make_request

    key, model = "sk-test-key-cache", "gpt-4o-audio-preview-2025-06-03"
    audio = _clip(2)
    part = AudioCache(tmp_path).put("d" * 64, audio)
    assert part.path.endswith(".flac")
    monkeypatch.setenv("OPENAI_API_KEY", key)
    with OpenAITestServer(models=(model,), api_key=key) as server:  # it rejects anything but base64 WAV
        adapter = OpenAIAudioAdapter.from_params({"base_url": server.base_url, "model": model})
        adapter.load()
        response = adapter.generate([make_request("Which option?", part)])[0]
        body = server.log.requests[-1]
    assert response.ok
    sent = body["messages"][0]["content"][0]["input_audio"]
    raw = base64.b64decode(sent["data"])
    assert sent["format"] == "wav" and raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    assert hashlib.sha256(raw).hexdigest() == part.sha256  # exactly the canonical WAV of the clip
    assert np.array_equal(sf.read(io.BytesIO(raw), dtype="int16")[0], _pcm16(audio))


def test_build_cli_trusts_size_and_verify_cache_resynthesizes(capsys, tmp_path):
    pytest.importorskip("espeakng_loader", reason="needs espeak-ng (biasbench[tts])")
    from biasbench.cli import main

    texts = tmp_path / "texts.txt"
    texts.write_text("The sky is blue.\n", encoding="utf-8")
    out = tmp_path / "built"
    args = ["voices", "build", "demo_espeak", "--texts", str(texts), "--out", str(out), "--split", "eval"]
    assert main(args) == 0 and "6 clips (6 synthesized, 0 cached)" in capsys.readouterr().out
    clips = sorted(out.rglob("*.flac"))
    assert len(clips) == 6 and not list(out.rglob("*.wav"))
    _flip_a_byte_in_the_middle(clips[0])
    assert main(args) == 0 and "6 clips (0 synthesized, 6 cached)" in capsys.readouterr().out
    with pytest.warns(RuntimeWarning, match="1 cached clip"):
        assert main([*args, "--verify-cache"]) == 0
    assert "6 clips (1 synthesized, 5 cached)" in capsys.readouterr().out
    assert main([*args, "--verify-cache"]) == 0 and "6 clips (0 synthesized, 6 cached)" in capsys.readouterr().out
    assert main([*args, "--format", "ogg"]) != 0


def test_run_verify_cache_flag_and_wav_format_give_the_same_answers(capsys, tmp_path):
    """`biasbench run --verify-cache` re-makes a same-size-corrupted clip; a WAV-format run of the same
    config gets the very same response keys (the content hash does not depend on the format)."""
    pytest.importorskip("espeakng_loader", reason="needs espeak-ng (biasbench[tts])")
    import pandas as pd
    import yaml

    from biasbench.cli import main

    (tmp_path / "items.jsonl").write_text(
        json.dumps({"id": "q0", "question": "Which number comes after 1?", "choices": ["2", "3", "4", "5"], "answer": 0}) + "\n", encoding="utf-8"
    )
    (tmp_path / "tiny.yaml").write_text("kind: multiple_choice\npath: items.jsonl\nrotations: 1\n", encoding="utf-8")
    config = {
        "pool": "demo_espeak", "voice_split": "eval", "tasks": [str(tmp_path / "tiny.yaml")], "modalities": ["audio"],
        "models": [{"name": "sim", "adapter": "simulated", "params": {"axis": "accent", "seed": 0}}],
        "tts_workers": 1, "report": False,
    }
    paths = {}
    for audio_format in ("flac", "wav"):
        paths[audio_format] = tmp_path / f"{audio_format}.yaml"
        paths[audio_format].write_text(yaml.safe_dump({**config, "audio_format": audio_format}), encoding="utf-8")

    def run(config_path: Path, out: Path, *extra: str) -> dict:
        assert main(["run", str(config_path), "--out", str(out), "--quiet", *extra]) == 0
        capsys.readouterr()
        return json.loads((out / "manifest.json").read_text(encoding="utf-8"))

    flac_dir, wav_dir = tmp_path / "run-flac", tmp_path / "run-wav"
    manifest = run(paths["flac"], flac_dir)
    assert manifest["config"]["audio_format"] == "flac" and manifest["invocations"][-1]["tts_calls"] == 6
    clips = sorted((flac_dir / "audio").rglob("*.flac"))
    assert len(clips) == 6 and not list((flac_dir / "audio").rglob("*.wav"))
    _flip_a_byte_in_the_middle(clips[0])
    assert run(paths["flac"], flac_dir)["invocations"][-1]["tts_calls"] == 0  # size matches: trusted
    with pytest.warns(RuntimeWarning, match="1 cached clip"):
        manifest = run(paths["flac"], flac_dir, "--verify-cache")
    assert manifest["invocations"][-1]["tts_calls"] == 1 and manifest["invocations"][-1]["model_calls"] == 0
    manifest = run(paths["wav"], wav_dir)
    assert manifest["config"]["audio_format"] == "wav" and len(list((wav_dir / "audio").rglob("*.wav"))) == 6
    # the format never changes an answer: the FLAC run directory resumes under the WAV config, all cached
    manifest = run(paths["wav"], flac_dir)
    assert manifest["invocations"][-1]["tts_calls"] == 0 and manifest["invocations"][-1]["model_calls"] == 0
    keys = [pd.read_parquet(d / "results.parquet").sort_values(["voice_id"])["response_key"].tolist() for d in (flac_dir, wav_dir)]
    assert keys[0] == keys[1] and len(keys[0]) == 6
