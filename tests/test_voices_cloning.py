"""Cloning backends: reference clip handling, the MaskGCT worker protocol (with a stand-in worker
speaking it), and the install hints of xtts / f5tts (their weights cannot be downloaded here)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from biasbench.core import registry
from biasbench.core.deps import is_available
from biasbench.core.errors import ConfigError, DataError, MissingExtraError
from biasbench.core.voice import DemographicLabel, ReferenceClip, Voice
from biasbench.voices.cache import AudioCache
from biasbench.voices.synthesis import synthesize

STAND_IN = '''
"""Stand-in MaskGCT worker: the real protocol, a tone instead of a model. MODE: ok, crash, badjson, hang, fail, noisy."""
import json, sys, time
import numpy as np, soundfile as sf
mode = sys.argv[1]
out = sys.stdout
if mode == "noisy":
    print("loading checkpoints...")  # a library print on stdout: corrupts the protocol
out.write(json.dumps({"event": "ready", "model": "stand-in"}) + "\\n"); out.flush()
for line in sys.stdin:
    request = json.loads(line)
    if mode == "crash":
        sys.stderr.write("Segmentation fault in stand-in\\n"); sys.stderr.flush(); sys.exit(139)
    if mode == "hang":
        time.sleep(60)
    if mode == "badjson":
        out.write("{not json\\n"); out.flush(); continue
    if mode == "fail":
        out.write(json.dumps({"id": request["id"], "ok": False, "error": "RuntimeError: text too long"}) + "\\n"); out.flush(); continue
    ref, rate = sf.read(request["reference"])
    assert rate == 16000 and ref.ndim == 1, (rate, ref.shape)
    rng = np.random.default_rng(request["seed"])
    n = int(24000 * 0.06 * len(request["text"]))
    t = np.arange(n) / 24000
    wav = 0.3 * np.sin(2 * np.pi * (150 + rng.integers(0, 50)) * t) * np.hanning(n)
    sf.write(request["out"], wav, 24000)
    out.write(json.dumps({"id": request["id"], "ok": True, "path": request["out"], "sample_rate": 24000}) + "\\n"); out.flush()
'''


@pytest.fixture(scope="module")
def worker(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("worker") / "stand_in_worker.py"
    path.write_text(STAND_IN, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A 44.1 kHz stereo reference clip: must be downmixed and resampled, with notes."""
    path = tmp_path_factory.mktemp("ref") / "speaker.wav"
    t = np.arange(44_100 * 2) / 44_100
    tone = 0.3 * np.sin(2 * np.pi * 200 * t)
    sf.write(path, np.stack([tone, tone * 0.5], axis=1), 44_100)
    return path


def _voice(reference: Path, engine: str = "maskgct", transcript: str = "Hello, this is my voice.") -> Voice:
    return Voice(id="speaker-1", engine=engine, labels=(DemographicLabel("gender", "female", "self-reported"),),
                 reference=ReferenceClip(str(reference), transcript))


def _maskgct(worker: Path, mode: str, **extra):
    params = {"python": sys.executable, "worker": str(worker), "worker_args": [mode], **extra}
    return registry.tts_backends.get("maskgct").from_params(params)


def test_maskgct_worker_protocol_round_trip_with_reference_notes(worker, reference, tmp_path):
    params = {"maskgct": {"python": sys.executable, "worker": str(worker), "worker_args": ["ok"]}}
    voice = _voice(reference)
    result = synthesize([voice], ["First sentence.", "A second, longer sentence."], AudioCache(tmp_path), tts_params=params)
    assert result.backend_calls == 2
    assert any("downmixed 2 channels to mono" in note for note in result.notes)
    assert any("resampled 44100 Hz -> 16000 Hz" in note for note in result.notes)
    short, long = (result.clips[(voice.id, t)] for t in ["First sentence.", "A second, longer sentence."])
    assert short.sample_rate == 16_000 and long.duration_s > short.duration_s
    again = synthesize([voice], ["First sentence.", "A second, longer sentence."], AudioCache(tmp_path), tts_params=params)
    assert again.backend_calls == 0
    assert result.backends["maskgct"]["worker_sha256"]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("crash", "maskgct worker exited with code 139: Segmentation fault in stand-in"),
        ("badjson", "not JSON: '{not json'"),
        ("noisy", "not JSON: 'loading checkpoints...'"),
        ("fail", "maskgct worker: RuntimeError: text too long"),
    ],
)
def test_maskgct_worker_failures_are_one_line_errors(worker, reference, mode, message):
    backend = _maskgct(worker, mode)
    try:
        with pytest.raises(DataError) as caught:
            backend.synthesize("Say something.", _voice(reference))
    finally:
        backend.close()
    assert message in caught.value.one_line()


def test_maskgct_worker_timeout_stops_the_worker(worker, reference):
    backend = _maskgct(worker, "hang", timeout_s=1.0)
    with pytest.raises(DataError, match="longer than 1 s to answer; stopped it"):
        backend.synthesize("Say something.", _voice(reference))
    assert backend._process is None


def test_synthesis_error_names_voice_and_text(worker, reference, tmp_path):
    params = {"maskgct": {"python": sys.executable, "worker": str(worker), "worker_args": ["fail"]}}
    with pytest.raises(DataError, match="voice 'speaker-1' on text \"Say it.\": maskgct worker: RuntimeError"):
        synthesize([_voice(reference)], ["Say it."], AudioCache(tmp_path), tts_params=params)


def test_maskgct_needs_its_python_and_a_transcript(reference, tmp_path):
    backend = registry.tts_backends.get("maskgct").from_params({})
    with pytest.raises(ConfigError, match="needs 'python'"):
        backend.synthesize("Hi.", _voice(reference))
    with pytest.raises(ConfigError, match="needs the reference clip's transcript"):
        backend.check_voice(_voice(reference, transcript=" "))
    missing = registry.tts_backends.get("maskgct").from_params({"python": str(tmp_path / "nope" / "python")})
    with pytest.raises(ConfigError, match="interpreter not found"):
        missing.load()


def test_cloning_backends_refuse_preset_voices():
    preset = Voice(id="p", engine="xtts", labels=(), preset="en-us")
    for name in ("xtts", "f5tts", "maskgct"):
        with pytest.raises(ConfigError, match="clones a reference clip"):
            registry.tts_backends.get(name).from_params({}).check_voice(preset)


@pytest.mark.parametrize(("name", "module", "extra"), [("xtts", "TTS", "xtts"), ("f5tts", "f5_tts", "f5tts")])
def test_missing_engine_package_gives_the_install_hint(reference, name, module, extra):
    if is_available(module):
        pytest.skip(f"{module} is installed here; the missing-package path cannot be exercised")
    backend = registry.tts_backends.get(name).from_params({})
    with pytest.raises(MissingExtraError, match=rf"pip install 'biasbench\[{extra}\]'"):
        backend.synthesize("Hi.", _voice(reference, engine=name))


def test_reference_conversion_notes_and_rates(reference):
    backend = registry.tts_backends.get("xtts").from_params({})
    audio = backend.reference_audio(_voice(reference, engine="xtts"))
    assert audio.sample_rate == 22_050 and audio.samples.ndim == 1
    notes = backend.drain_notes()
    assert any("downmixed" in n for n in notes) and any("44100 Hz -> 22050 Hz" in n for n in notes)
    assert backend.drain_notes() == []
