"""F5-TTS zero-shot cloning via the ``f5-tts`` package (reference clip + its transcript)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from biasbench.core.audio import Audio
from biasbench.core.deps import check_installed, require
from biasbench.core.voice import Voice
from biasbench.voices.backends.cloning import CloningBackend


class F5TTSBackend(CloningBackend):
    """F5-TTS: flow-matching cloning at 24 kHz; needs the reference transcript."""

    name: ClassVar[str] = "f5tts"
    sample_rate: ClassVar[int] = 24_000
    reference_rate: ClassVar[int] = 24_000
    needs_transcript: ClassVar[bool] = True

    class Config(CloningBackend.Config):
        """F5-TTS settings."""

        model: str = "F5TTS_v1_Base"
        """Model config name known to f5-tts."""
        ckpt_file: str = ""
        """Local checkpoint (.safetensors/.pt); empty = f5-tts downloads it where a network exists."""
        vocab_file: str = ""
        """Local vocab.txt; empty = the one shipped with f5-tts."""
        nfe_step: int = Field(32, ge=1)
        """Flow-matching steps."""
        cfg_strength: float = Field(2.0, ge=0)
        """Classifier-free guidance strength."""
        speed: float = Field(1.0, gt=0)
        """Speaking-rate factor."""
        device: str = "cpu"
        """torch device."""

    def __init__(self, config: "F5TTSBackend.Config") -> None:
        super().__init__(config)
        self._engine: Any = None

    def check_available(self) -> None:
        check_installed("f5_tts", "f5tts", purpose="the f5tts backend", package="f5-tts")

    def load(self) -> None:
        if self._engine is None:
            api = require("f5_tts.api", "f5tts", purpose="the f5tts backend", package="f5-tts")
            self._engine = api.F5TTS(
                model=self.config.model, ckpt_file=self.config.ckpt_file, vocab_file=self.config.vocab_file,
                device=self.config.device,
            )

    def synthesize(self, text: str, voice: Voice) -> Audio:
        self.check_voice(voice)
        self.load()
        assert voice.reference is not None
        wav, rate, _ = self._engine.infer(
            ref_file=str(self.reference_file(voice)), ref_text=voice.reference.transcript, gen_text=text,
            nfe_step=self.config.nfe_step, cfg_strength=self.config.cfg_strength, speed=self.config.speed,
            remove_silence=False, seed=self.clip_seed(text, voice), show_info=lambda *_: None,
        )
        return Audio(np.asarray(wav, dtype=np.float32).reshape(-1), int(rate))

    def close(self) -> None:
        self._engine = None
