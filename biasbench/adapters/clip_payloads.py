"""Base64 WAV of each clip, encoded once and reused by every request that sends it.

A counterbalanced run sends one clip in several option orders, to several models: decoding its FLAC
and base64-encoding it per request costs more client CPU than the HTTP call itself at zero latency.
Entries are keyed by the clip's content sha256 (the canonical 16-bit WAV, equal for the FLAC and the
WAV copy), so the payload is exactly what the file decodes to; the cache holds at most ``max_bytes``
of base64 text and evicts the least recently used clip first.

The prefetch decodes and encodes in a helper process (:mod:`clip_encoder`): a thread of this process
takes the GIL from the event loop for each clip's Python and base64 work (measured: +2.1 s CPU and
+2.7 s of asking for 2,328 FLAC clips at zero latency), while the helper uses an otherwise idle core.
Where the helper cannot start or fails, the prefetch encodes in its thread: slower, the same bytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Callable, Iterator, Sequence

from biasbench.adapters.clip_encoder import EncoderProcess, encode_clip, encode_or_none
from biasbench.core.messages import AudioPart

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
"""Default bound: 256 MiB of base64 text (about 2,000 clips of 3 s at 16 kHz)."""
PREFETCH_AHEAD = 64
"""Most clip paths queued to the helper process ahead of the one the prefetch reads next (half of them are
topped up at a time, so the helper never waits for work)."""


def _encoded_in_order(paths: Sequence[str], helper: EncoderProcess | None, stopped: Callable[[], bool]) -> Iterator[Callable[[], str | None]]:
    """For each of ``paths`` in order, a call giving its encoding: the helper's answer (at most
    PREFETCH_AHEAD clips queued ahead), or the clip encoded in the caller's thread when there is no helper
    or it failed (so a clip the caller skips costs nothing). Ends early once ``stopped()``."""
    sent = 0
    for index, path in enumerate(paths):
        if stopped():
            return
        if helper is not None:
            try:
                if sent < len(paths) and sent - index <= PREFETCH_AHEAD // 2:
                    helper.send(list(paths[sent : sent + PREFETCH_AHEAD // 2]))
                    sent = min(len(paths), sent + PREFETCH_AHEAD // 2)
                payload = helper.receive()
                yield lambda payload=payload: payload
                continue
            except (OSError, EOFError, ValueError):  # it could not start, died or was stopped: go on alone
                helper = None
        yield lambda path=path: encode_or_none(path)


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
        """Clips encoded ahead of their requests by the prefetch."""
        self.use_helper_process = True
        """Prefetch in a helper process (False: in the prefetch thread itself)."""
        self.helper_processes = 0
        """Helper processes started (one per prefetch with clips to encode)."""
        self._helper: EncoderProcess | None = None
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
        encoded = encode_clip(part.path)
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
        """Encode ``parts`` (in the order requests will use them) ahead of the requests: a daemon thread
        feeds the helper process and keeps its payloads, staying at most half the bound of not-yet-used
        payloads ahead, so it never evicts what is about to be sent. Replaces an earlier prefetch;
        :meth:`stop_prefetch` ends it."""
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
        """End the prefetch thread (it exits at its next clip) and its helper process."""
        with self._lock:
            self._generation += 1
            self._order, self._used_upto = {}, -1
            helper, self._helper = self._helper, None
            self._lock.notify_all()
        if helper is not None:
            helper.close()

    def _prefetch(self, parts: list[AudioPart], generation: int) -> None:
        ahead: deque[tuple[int, int]] = deque()  # (order index, size) of prefetched clips not yet used
        ahead_bytes = 0
        stopped = lambda: self._generation != generation  # noqa: E731
        with self._lock:
            wanted = [(index, part) for index, part in enumerate(parts) if part.sha256 not in self._entries]
        helper = self._start_helper() if self.use_helper_process and wanted else None
        try:
            encodings = _encoded_in_order([part.path for _, part in wanted], helper, stopped)
            for (index, part), encoding in zip(wanted, encodings):
                with self._lock:
                    while True:
                        if stopped():
                            return
                        while ahead and ahead[0][0] <= self._used_upto:
                            ahead_bytes -= ahead.popleft()[1]
                        if ahead_bytes <= self.max_bytes // 2:
                            break
                        self._lock.wait(0.5)
                    if index <= self._used_upto or part.sha256 in self._entries:
                        continue
                encoded = encoding()
                if encoded is None:
                    continue
                with self._lock:
                    if stopped():
                        return
                    self._keep(part.sha256, encoded)
                    self.prefetched += 1
                ahead.append((index, len(encoded)))
                ahead_bytes += len(encoded)
        finally:
            if helper is not None:
                helper.close()
                with self._lock:
                    if self._helper is helper:
                        self._helper = None

    def _start_helper(self) -> EncoderProcess | None:
        try:
            helper = EncoderProcess()
        except OSError:  # no interpreter to start (an embedded Python): encode in the thread
            return None
        with self._lock:
            self._helper = helper
            self.helper_processes += 1
        return helper

    def clear(self) -> None:
        self.stop_prefetch()
        with self._lock:
            self._entries.clear()
            self.held_bytes = 0


CLIP_PAYLOADS = ClipPayloads()
"""The process's cache, shared by every API adapter (a clip is encoded once across models)."""
