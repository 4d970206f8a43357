"""Coqui XTTS-v2 zero-shot cloning via the ``coqui-tts`` package (``import TTS``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from biasbench.core.audio import Audio
from biasbench.core.deps import check_installed, require
from biasbench.core.errors import ConfigError
from biasbench.core.voice import Voice
from biasbench.voices.backends.cloning import CloningBackend


class XTTSBackend(CloningBackend):
    """XTTS-v2: reference clip -> speech at 24 kHz (transcript not needed)."""

    name: ClassVar[str] = "xtts"
    sample_rate: ClassVar[int] = 24_000
    reference_rate: ClassVar[int] = 22_050
    needs_transcript: ClassVar[bool] = False

    class Config(CloningBackend.Config):
        """XTTS settings."""

        model_dir: str | None = None
        """Local XTTS-v2 checkpoint folder (config.json, model.pth, vocab.json); None = coqui's model manager."""
        model_name: str = "tts_models/multilingual/multi-dataset/xtts_v2"
        """Coqui model id used when ``model_dir`` is not given (downloads where a network exists)."""
        language: str = "en"
        """Language of the texts."""
        temperature: float = Field(0.75, gt=0)
        """GPT sampling temperature."""
        top_p: float = Field(0.85, gt=0, le=1)
        """GPT nucleus sampling mass."""
        device: str = "cpu"
        """torch device."""

    def __init__(self, config: "XTTSBackend.Config") -> None:
        super().__init__(config)
        self._model: Any = None
        self._latents: dict[str, Any] = {}

    def check_available(self) -> None:
        check_installed("TTS", "xtts", purpose="the xtts backend", package="coqui-tts")

    def load(self) -> None:
        if self._model is not None:
            return
        require("TTS", "xtts", purpose="the xtts backend", package="coqui-tts")
        from TTS.tts.configs.xtts_config import XttsConfig
        from TTS.tts.models.xtts import Xtts

        folder = Path(self.config.model_dir) if self.config.model_dir else self._download()
        if not (folder / "config.json").is_file():
            raise ConfigError(f"xtts model_dir {folder} has no config.json (expected an XTTS-v2 checkpoint folder)")
        xtts_config = XttsConfig()
        xtts_config.load_json(str(folder / "config.json"))
        model = Xtts.init_from_config(xtts_config)
        model.load_checkpoint(xtts_config, checkpoint_dir=str(folder), eval=True)
        self._model = model.to(self.config.device)

    def _download(self) -> Path:
        from TTS.utils.manage import ModelManager

        path, _, _ = ModelManager().download_model(self.config.model_name)
        return Path(path)

    def synthesize(self, text: str, voice: Voice) -> Audio:
        self.check_voice(voice)
        self.load()
        import torch

        if voice.id not in self._latents:
            reference = self.reference_file(voice)
            self._latents[voice.id] = self._model.get_conditioning_latents(audio_path=[str(reference)])
        latent, speaker = self._latents[voice.id]
        torch.manual_seed(self.clip_seed(text, voice))
        out = self._model.inference(
            text, self.config.language, latent, speaker,
            temperature=self.config.temperature, top_p=self.config.top_p,
        )
        return Audio(np.asarray(out["wav"], dtype=np.float32), self.sample_rate)

    def close(self) -> None:
        self._model, self._latents = None, {}
