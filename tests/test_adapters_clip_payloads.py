"""Audio encoded once per clip: the base64 WAV payload is reused across requests and adapters, stays
exactly what the file decodes to, and the cache's memory stays within its bound."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import numpy as np
import pytest

from biasbench.adapters.clip_payloads import ClipPayloads
from biasbench.core.audio import Audio, flac_of_wav_bytes, wav_bytes_of_file
from biasbench.core.messages import AudioPart
from biasbench.testing.speech import audio_part


def _clips(folder: Path, n: int, seconds: float = 0.5, flac: bool = True) -> list[AudioPart]:
    parts = []
    t = np.arange(int(16000 * seconds)) / 16000
    for i in range(n):
        part = audio_part(Audio((0.2 * np.sin(2 * np.pi * (200 + 10 * i) * t)).astype("float32"), 16000), folder, f"c{i}")
        if flac:
            path = Path(part.path).with_suffix(".flac")
            path.write_bytes(flac_of_wav_bytes(Path(part.path).read_bytes()))
            part = AudioPart(str(path), part.sha256, part.sample_rate, part.duration_s)
        parts.append(part)
    return parts


def test_a_clip_is_decoded_once_and_its_payload_is_the_files_wav(tmp_path: Path) -> None:
    cache = ClipPayloads()
    clips = _clips(tmp_path, 3)
    sent = [cache.base64_wav(clip) for _ in range(4) for clip in clips]  # e.g. 2 rotations x 2 models
    assert cache.misses == 3 and cache.hits == 9
    for clip, payload in zip(clips, sent):
        assert base64.b64decode(payload) == wav_bytes_of_file(clip.path)  # FLAC decoded exactly, as before
    assert sent[0] is sent[3]  # the same object: no re-encoding


def test_the_openai_adapters_share_one_encoding_per_clip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from biasbench.adapters import openai_chat
    from biasbench.testing.requests import make_request

    cache = ClipPayloads()
    monkeypatch.setattr(openai_chat, "CLIP_PAYLOADS", cache)
    clip = _clips(tmp_path, 1)[0]
    models = [
        openai_chat.OpenAICompatibleAdapter.from_params({"base_url": "http://127.0.0.1:9/v1", "model": name}) for name in ("a", "b")
    ]
    bodies = [model.request_body(make_request(f"Question {i}?", clip)) for model in models for i in range(3)]
    assert cache.misses == 1 and cache.hits == 5
    assert len({body["messages"][0]["content"][0]["input_audio"]["data"] for body in bodies}) == 1


def test_memory_stays_within_the_bound_and_the_least_recently_used_clip_goes_first(tmp_path: Path) -> None:
    clips = _clips(tmp_path, 8)
    size = len(base64.b64encode(wav_bytes_of_file(clips[0].path)))
    cache = ClipPayloads(max_bytes=3 * size)
    for clip in clips[:3]:
        cache.base64_wav(clip)
    cache.base64_wav(clips[0])  # recently used: survives the next insertion
    cache.base64_wav(clips[3])
    assert len(cache) == 3 and cache.held_bytes <= cache.max_bytes
    cache.base64_wav(clips[0])
    cache.base64_wav(clips[1])  # evicted above: decoded again
    assert cache.hits == 2 and cache.misses == 5
    for clip in clips:
        cache.base64_wav(clip)
        assert cache.held_bytes <= cache.max_bytes and len(cache) <= 3


def test_prefetch_encodes_ahead_of_the_requests_without_passing_half_the_bound(tmp_path: Path) -> None:
    clips = _clips(tmp_path, 10)
    size = len(base64.b64encode(wav_bytes_of_file(clips[0].path)))
    cache = ClipPayloads(max_bytes=8 * size)
    cache.prefetch(clips)
    deadline = time.monotonic() + 10
    while cache.prefetched < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert cache.prefetched == 5  # half the bound ahead of the requests, then it waits
    for clip in clips:
        cache.base64_wav(clip)
    assert cache.misses <= 5 and cache.held_bytes <= cache.max_bytes
    cache.stop_prefetch()


def test_a_wav_clip_is_sent_as_stored(tmp_path: Path) -> None:
    clip = _clips(tmp_path, 1, flac=False)[0]
    assert wav_bytes_of_file(clip.path) == Path(clip.path).read_bytes()


def _prefetched(cache: ClipPayloads, clips: list[AudioPart]) -> None:
    cache.prefetch(clips)
    deadline = time.monotonic() + 30
    while cache.prefetched < len(clips) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_prefetch_encodes_in_a_helper_process_exactly_what_the_file_decodes_to(tmp_path: Path) -> None:
    clips = _clips(tmp_path, 70)  # more than one batch sent ahead to the helper
    cache = ClipPayloads()
    _prefetched(cache, clips)
    assert cache.helper_processes == 1 and cache.prefetched == 70
    for clip in clips:
        assert base64.b64decode(cache.base64_wav(clip)) == wav_bytes_of_file(clip.path)
    assert cache.misses == 0
    cache.stop_prefetch()


def test_a_helper_that_dies_or_cannot_start_leaves_the_prefetch_to_its_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from biasbench.adapters import clip_encoder, clip_payloads

    clips = _clips(tmp_path, 40)
    clips.insert(3, AudioPart(str(tmp_path / "gone.flac"), "0" * 64, 16000, 0.5))  # unreadable: skipped, not fatal
    real = clip_encoder.EncoderProcess

    class DiesAfterTwo(real):  # type: ignore[misc, valid-type]
        answered = 0

        def receive(self) -> str | None:
            DiesAfterTwo.answered += 1
            if DiesAfterTwo.answered == 3:
                self.process.kill()
                self.process.wait()
            return super().receive()

    for helper in (DiesAfterTwo, _cannot_start):
        monkeypatch.setattr(clip_payloads, "EncoderProcess", helper)
        cache = ClipPayloads()
        _prefetched(cache, clips[:3] + clips[4:])
        assert cache.prefetched == 40
        for clip in clips[:3] + clips[4:]:
            assert base64.b64decode(cache.base64_wav(clip)) == wav_bytes_of_file(clip.path)
        assert cache.misses == 0 and cache.helper_processes == (1 if helper is DiesAfterTwo else 0)
        cache.stop_prefetch()


def _cannot_start() -> None:
    raise OSError("no interpreter")


def test_the_helper_never_reruns_the_users_script(tmp_path: Path) -> None:
    """A multiprocessing 'spawn' child re-imports the main script: one without a __main__ guard would run
    its experiment again. The helper is a plain subprocess."""
    import subprocess
    import sys

    clips = _clips(tmp_path, 3)
    script = tmp_path / "user_script.py"
    script.write_text(
        "import time\n"
        "from biasbench.adapters.clip_payloads import ClipPayloads\n"
        "from biasbench.core.messages import AudioPart\n"
        "print('script ran', flush=True)\n"
        "cache = ClipPayloads()\n"
        f"cache.prefetch([AudioPart(path, sha, 16000, 0.5) for path, sha in {[(c.path, c.sha256) for c in clips]!r}])\n"
        "deadline = time.monotonic() + 30\n"
        "while cache.prefetched < 3 and time.monotonic() < deadline: time.sleep(0.01)\n"
        "print('prefetched', cache.prefetched, 'helpers', cache.helper_processes)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["script ran", "prefetched 3 helpers 1"]


@pytest.mark.parametrize("frames,rate", [(0, 16000), (1, 16000), (3, 22050), (67001, 16000), (48000, 48000)])
def test_the_wav_header_is_byte_equal_to_libsndfiles(frames: int, rate: int) -> None:
    """pcm16_wav_bytes assembles the header itself: the bytes (and so every clip's content sha256) equal what
    soundfile writes."""
    import io

    import soundfile as sf

    from biasbench.core.audio import pcm16_wav_bytes

    samples = np.random.default_rng(frames).integers(-32768, 32768, frames).astype(np.int16)
    written = io.BytesIO()
    sf.write(written, samples, rate, format="WAV", subtype="PCM_16")
    assert pcm16_wav_bytes(samples, rate) == written.getvalue() == pcm16_wav_bytes(samples.reshape(-1, 1), rate)
    with pytest.raises(ValueError, match="mono"):
        pcm16_wav_bytes(np.zeros((4, 2), np.int16), rate)
