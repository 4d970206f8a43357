"""Base64 WAV of each clip, encoded once and reused by every request that sends it.

A counterbalanced run sends one clip in several option orders, to several models: decoding its FLAC
and base64-encoding it per request costs more client CPU than the HTTP call itself at zero latency.
Entries are keyed by the clip's content sha256 (the canonical 16-bit WAV, equal for the FLAC and the
WAV copy), so the payload is exactly what the file decodes to; the cache holds at most ``max_bytes``
of base64 text and evicts the least recently used clip first.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict

from biasbench.core.messages import AudioPart

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
"""Default bound: 256 MiB of base64 text (about 2,000 clips of 3 s at 16 kHz)."""


class ClipPayloads:
    """A bounded LRU cache: clip sha256 -> base64 of its 16-bit WAV bytes (thread-safe)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        """Most base64 characters held (a clip larger than this is encoded but not kept)."""
        self.held_bytes = 0
        """Base64 characters held now."""
        self.hits = 0
        """Requests served from the cache."""
        self.misses = 0
        """Clips decoded and encoded."""
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def base64_wav(self, part: AudioPart) -> str:
        """The clip as base64 WAV (the API takes 'wav' or 'mp3' only): a FLAC clip is decoded losslessly."""
        with self._lock:
            cached = self._entries.get(part.sha256)
            if cached is not None:
                self._entries.move_to_end(part.sha256)
                self.hits += 1
                return cached
        from biasbench.core.audio import wav_bytes_of_file

        encoded = base64.b64encode(wav_bytes_of_file(part.path)).decode("ascii")
        with self._lock:
            self.misses += 1
            if len(encoded) <= self.max_bytes and part.sha256 not in self._entries:
                self._entries[part.sha256] = encoded
                self.held_bytes += len(encoded)
                while self.held_bytes > self.max_bytes:
                    _, evicted = self._entries.popitem(last=False)
                    self.held_bytes -= len(evicted)
        return encoded

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.held_bytes = 0


CLIP_PAYLOADS = ClipPayloads()
"""The process's cache, shared by every API adapter (a clip is encoded once across models)."""
