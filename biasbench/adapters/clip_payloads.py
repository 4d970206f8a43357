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
from collections import OrderedDict, deque
from typing import Sequence

from biasbench.core.audio import wav_bytes_of_file
from biasbench.core.messages import AudioPart

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
"""Default bound: 256 MiB of base64 text (about 2,000 clips of 3 s at 16 kHz)."""


class ClipPayloads:
    """A bounded LRU cache: clip sha256 -> base64 of its 16-bit WAV bytes (thread-safe), with an optional
    background prefetch that encodes the clips of the coming requests ahead of them."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        """Most base64 characters held (a clip larger than this is encoded but not kept)."""
        self.held_bytes = 0
        """Base64 characters held now."""
        self.hits = 0
        """Requests served from the cache."""
        self.misses = 0
        """Clips decoded and encoded for a request that found nothing."""
        self.prefetched = 0
        """Clips encoded ahead of their requests by the prefetch thread."""
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Condition()
        self._generation = 0
        self._order: dict[str, int] = {}
        self._used_upto = -1

    def __len__(self) -> int:
        return len(self._entries)

    def base64_wav(self, part: AudioPart) -> str:
        """The clip as base64 WAV (the API takes 'wav' or 'mp3' only): a FLAC clip is decoded losslessly."""
        with self._lock:
            index = self._order.get(part.sha256)
            if index is not None and index > self._used_upto:  # tells the prefetch how far requests got
                self._used_upto = index
                self._lock.notify_all()
            cached = self._entries.get(part.sha256)
            if cached is not None:
                self._entries.move_to_end(part.sha256)
                self.hits += 1
                return cached
        encoded = base64.b64encode(wav_bytes_of_file(part.path)).decode("ascii")
        with self._lock:
            self.misses += 1
            self._keep(part.sha256, encoded)
        return encoded

    def _keep(self, sha256: str, encoded: str) -> None:
        """Hold ``encoded`` (the lock is held), evicting least recently used clips beyond the bound."""
        if len(encoded) > self.max_bytes or sha256 in self._entries:
            return
        self._entries[sha256] = encoded
        self.held_bytes += len(encoded)
        while self.held_bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.held_bytes -= len(evicted)

    def prefetch(self, parts: Sequence[AudioPart]) -> None:
        """Encode ``parts`` (in the order requests will use them) in a daemon thread, staying at most half
        the bound of not-yet-used payloads ahead of the requests, so it never evicts what is about to be
        sent. The decoding (libsndfile) runs without the GIL: on a spare core it costs the asking nothing.
        Replaces an earlier prefetch; :meth:`stop_prefetch` ends it."""
        unique = list({part.sha256: part for part in parts}.values())
        with self._lock:
            self._generation += 1
            self._order = {part.sha256: index for index, part in enumerate(unique)}
            self._used_upto = -1
            generation = self._generation
            self._lock.notify_all()
        if unique:
            threading.Thread(target=self._prefetch, args=(unique, generation), name="biasbench-clip-prefetch", daemon=True).start()

    def stop_prefetch(self) -> None:
        """End the prefetch thread (it exits at its next clip)."""
        with self._lock:
            self._generation += 1
            self._order, self._used_upto = {}, -1
            self._lock.notify_all()

    def _prefetch(self, parts: list[AudioPart], generation: int) -> None:
        ahead: deque[tuple[int, int]] = deque()  # (order index, size) of prefetched clips not yet used
        ahead_bytes = 0
        for index, part in enumerate(parts):
            with self._lock:
                while True:
                    if self._generation != generation:
                        return
                    while ahead and ahead[0][0] <= self._used_upto:
                        ahead_bytes -= ahead.popleft()[1]
                    if ahead_bytes <= self.max_bytes // 2:
                        break
                    self._lock.wait(0.5)
                if index <= self._used_upto or part.sha256 in self._entries:
                    continue
            try:
                encoded = base64.b64encode(wav_bytes_of_file(part.path)).decode("ascii")
            except Exception:  # the request meets the same error itself, as a failed answer
                continue
            with self._lock:
                if self._generation != generation:
                    return
                self._keep(part.sha256, encoded)
                self.prefetched += 1
            ahead.append((index, len(encoded)))
            ahead_bytes += len(encoded)

    def clear(self) -> None:
        self.stop_prefetch()
        with self._lock:
            self._entries.clear()
            self.held_bytes = 0


CLIP_PAYLOADS = ClipPayloads()
"""The process's cache, shared by every API adapter (a clip is encoded once across models)."""
