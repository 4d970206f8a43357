"""Content-addressed audio cache: ``root/audio/<key[:2]>/<key>.flac`` (or ``.wav``) plus a small sidecar.

The sidecar (``<key>.json``) records, when the clip is stored, its content hash (``sha256``: of the
canonical 16-bit WAV encoding, what response keys use, the same for FLAC and WAV), rate, length, and
the stored file's name, size and sha256. Opening a clip compares the size only (a resume of a large run
would otherwise re-hash every clip); ``verify=True`` re-hashes the file. A clip that fails either check
is treated as missing, so the caller synthesizes it again instead of trusting it.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Any, Mapping

from biasbench.core.audio import AUDIO_FORMATS, Audio, flac_of_wav_bytes
from biasbench.core.errors import ConfigError
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
    """Clips stored under ``root/audio`` by key; safe to share between runs and processes.

    ``audio_format`` is how new clips are written ('flac', lossless, the default; or 'wav'); a clip
    already stored in the other format is reused as it is (same samples, same content hash).
    ``verify`` re-hashes every file on open (``--verify-cache``); otherwise a clip is trusted when its
    size matches the sidecar, and a clip whose size changed (truncated, half-copied) is reported in
    :attr:`problems` and treated as missing, so the caller synthesizes it again.
    """

    def __init__(self, root: Path, *, audio_format: str = "flac", verify: bool = False) -> None:
        if audio_format not in AUDIO_FORMATS:
            raise ConfigError(f"unknown audio format '{audio_format}' (choose one of: {', '.join(AUDIO_FORMATS)})")
        self.root = Path(root)
        self.folder = self.root / "audio"
        self.audio_format = audio_format
        self.verify = verify
        self.problems: list[str] = []
        """One line per stored clip found corrupt (and so treated as missing) since this cache was opened."""

    def path(self, key: str, audio_format: str | None = None) -> Path:
        """Where the clip for ``key`` is written in ``audio_format`` (default: this cache's format)."""
        return self.folder / key[:2] / f"{key}.{audio_format or self.audio_format}"

    def _sidecar(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> AudioPart | None:
        """The stored clip, or None when absent or when its file does not match what was stored."""
        sidecar = self._sidecar(key)
        if not sidecar.is_file():
            return None
        try:
            record = json.loads(sidecar.read_text(encoding="utf-8"))
            path = sidecar.with_name(str(record.get("file") or f"{key}.wav"))  # no "file": a clip stored as WAV before FLAC
            part = AudioPart(str(path), str(record["sha256"]), int(record["sample_rate"]), float(record["duration_s"]))
            size, file_hash = record.get("size"), record.get("file_sha256")
        except (ValueError, KeyError, TypeError, OSError):
            return None
        if path.parent != sidecar.parent or not path.is_file():
            return None
        if size is None or file_hash is None:  # an older sidecar: hash once, then record size and hash
            if file_sha256(path) != part.sha256:
                self.problems.append(f"cached clip {path} does not match its recorded sha256; synthesizing it again")
                return None
            self._write_sidecar(key, part, path, path.stat().st_size, part.sha256)
            return part
        actual = path.stat().st_size
        if actual != int(size):
            self.problems.append(f"cached clip {path} is {actual} bytes, {size} were stored; synthesizing it again")
            return None
        if self.verify and file_sha256(path) != file_hash:
            self.problems.append(f"cached clip {path} does not match its recorded sha256; synthesizing it again")
            return None
        return part

    def put(self, key: str, audio: Audio) -> AudioPart:
        """Store ``audio`` under ``key`` in this cache's format (atomic writes) and return its part."""
        path = self.path(key)
        content = audio.wav_bytes()  # the canonical encoding: its hash is the clip's identity in response keys
        data = content if self.audio_format == "wav" else flac_of_wav_bytes(content)
        # hashes of the bytes this call wrote, not of the file afterwards: another process may replace
        # the file in between, and get() then sees the mismatch and treats the clip as missing.
        # The clip is flushed before its sidecar exists: get() trusts a clip of the recorded size without
        # re-reading it, so after a power loss a sidecar must never point at unwritten data. The sidecar
        # itself is not flushed: a lost or empty one only makes the clip be made again.
        write_bytes_atomic(path, data, fsync=True)
        part = AudioPart(str(path), hashlib.sha256(content).hexdigest(), audio.sample_rate, round(audio.duration_s, 6))
        self._write_sidecar(key, part, path, len(data), hashlib.sha256(data).hexdigest())
        for other in AUDIO_FORMATS:  # a corrupt copy in the other format is superseded
            if other != self.audio_format:
                self.path(key, other).unlink(missing_ok=True)
        return part

    def _write_sidecar(self, key: str, part: AudioPart, path: Path, size: int, file_hash: str) -> None:
        record = {
            "sha256": part.sha256,
            "sample_rate": part.sample_rate,
            "duration_s": part.duration_s,
            "file": path.name,
            "size": size,
            "file_sha256": file_hash,
        }
        write_text_atomic(self._sidecar(key), json.dumps(record), fsync=False)
