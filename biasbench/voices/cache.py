"""Content-addressed audio cache: ``root/audio/<key[:2]>/<key>.wav`` plus a small sidecar.

The sidecar (``<key>.json``) records the file's sha256, rate and length when the clip is stored;
a clip whose bytes no longer match (truncated, overwritten, half-copied) is treated as missing, so
the caller synthesizes it again instead of trusting it.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Any, Mapping

from biasbench.core.audio import Audio
from biasbench.core.files import write_bytes_atomic, write_text_atomic
from biasbench.core.hashing import file_sha256, stable_hash
from biasbench.core.messages import AudioPart


def normalize_text(text: str) -> str:
    """Unicode NFC with runs of whitespace collapsed: what is spoken and what the key hashes."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def audio_key(
    backend_fingerprint: str,
    voice_id: str,
    text: str,
    sample_rate: int,
    tts_params: Mapping[str, Any] | None = None,
    **extra: Any,
) -> str:
    """Cache key of one clip (DESIGN.md): backend fingerprint, voice, normalized text, rate, params.

    ``extra`` carries further output-affecting facts (the voice's preset or reference clip hash,
    the normalization settings).
    """
    return stable_hash(
        "audio", backend_fingerprint, voice_id, normalize_text(text), sample_rate, dict(tts_params or {}), extra
    )


class AudioCache:
    """Clips stored under ``root/audio`` by key; safe to share between runs and processes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.folder = self.root / "audio"

    def path(self, key: str) -> Path:
        """Where the clip for ``key`` lives."""
        return self.folder / key[:2] / f"{key}.wav"

    def _sidecar(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> AudioPart | None:
        """The stored clip, or None when absent or when its bytes do not match what was stored."""
        path, sidecar = self.path(key), self._sidecar(key)
        if not path.is_file() or not sidecar.is_file():
            return None
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
            part = AudioPart(str(path), str(record["sha256"]), int(record["sample_rate"]), float(record["duration_s"]))
        except (ValueError, KeyError, TypeError, OSError):
            return None
        if file_sha256(path) != part.sha256:
            return None
        return part

    def put(self, key: str, audio: Audio) -> AudioPart:
        """Store ``audio`` under ``key`` (atomic writes) and return its part."""
        path = self.path(key)
        data = audio.wav_bytes()
        # the hash of the bytes this call wrote, not of the file afterwards: another process may
        # replace the file in between, and get() then sees the mismatch and treats the clip as missing
        write_bytes_atomic(path, data, fsync=False)  # get() verifies the sha256, so no flush per clip
        part = AudioPart(str(path), hashlib.sha256(data).hexdigest(), audio.sample_rate, round(audio.duration_s, 6))
        write_text_atomic(
            self._sidecar(key),
            json.dumps({"sha256": part.sha256, "sample_rate": part.sample_rate, "duration_s": part.duration_s}),
            fsync=False,
        )
        return part
