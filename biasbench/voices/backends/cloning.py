"""Shared behaviour of zero-shot cloning backends: reference clip checks, conversion notes, per-clip seeds."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import ClassVar

from biasbench.core.audio import Audio, read_audio, write_wav
from biasbench.core.errors import ConfigError
from biasbench.core.hashing import file_sha256, seed_from, stable_hash
from biasbench.core.voice import Voice
from biasbench.voices.backends.base import TTSBackend


class CloningBackend(TTSBackend):
    """A backend that imitates a reference clip (XTTS, F5-TTS, MaskGCT)."""

    reference_rate: ClassVar[int] = 16_000
    """Rate the engine wants its reference audio at (clips are resampled, with a note)."""
    needs_transcript: ClassVar[bool] = True
    """The engine conditions on what the reference clip says."""

    def check_voice(self, voice: Voice) -> None:
        if voice.reference is None:
            raise ConfigError(f"voice '{voice.id}': the {self.name} backend clones a reference clip; give 'reference: {{path, transcript}}'")
        if self.needs_transcript and not voice.reference.transcript.strip():
            raise ConfigError(f"voice '{voice.id}': the {self.name} backend needs the reference clip's transcript")

    def reference_audio(self, voice: Voice) -> Audio:
        """The voice's reference clip as mono at :attr:`reference_rate`; every conversion becomes a note."""
        assert voice.reference is not None
        audio, notes = read_audio(voice.reference.path, target_rate=self.reference_rate)
        for note in notes:
            self.note(f"voice '{voice.id}' reference clip: {note.note}")
        return audio

    def reference_file(self, voice: Voice) -> Path:
        """A mono WAV of the reference at :attr:`reference_rate` (for engines that take a file path)."""
        assert voice.reference is not None
        key = stable_hash(voice.reference.path, file_sha256(voice.reference.path), self.reference_rate)[:24]
        path = Path(tempfile.gettempdir()) / "biasbench-references" / f"{key}.wav"
        audio = self.reference_audio(voice)  # read every time a backend starts on a voice: notes are never skipped
        if not path.is_file():
            write_wav(path, audio)
        return path

    def clip_seed(self, text: str, voice: Voice) -> int:
        """A per-clip seed from the config seed, voice and text (independent of synthesis order)."""
        return seed_from(self.config.seed, voice.id, text) % (2**31)
