"""flite (CMU Flite): a second offline TTS engine, so findings can be checked across engines.

Why flite: it installs from Debian (`apt-get install flite`, BSD-style licence) in seconds, needs no
model download, runs out of process (one ``flite`` call per clip, like espeak's binary engine) and is
deterministic (the same text and settings give byte-identical audio). Its built-in voices are
statistical-parametric (clustergen) or diphone voices built from CMU ARCTIC speakers, a different
synthesis method and different recorded humans than espeak's formant presets:

* ``slt`` — female, US English;  ``rms`` and ``kal16`` (``kal`` at 8 kHz) — male, US English;
* ``awb`` — male, Scottish English.

Pitch and rate are flite features (``int_f0_target_mean``, ``duration_stretch``) a voice's
``tts_params`` may set, which is how a demonstration pool gets more than one voice per speaker.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from biasbench.core.audio import MODEL_SAMPLE_RATE, Audio, read_audio
from biasbench.core.errors import ConfigError, DataError
from biasbench.core.params import parse_params
from biasbench.core.voice import Voice
from biasbench.voices.backends.base import TTSBackend

INSTALL_HINT = "install the flite program: `apt-get install -y flite` (Debian/Ubuntu) or `brew install flite`"
"""What to do when the flite binary is missing (the Makefile does it on a fresh Debian machine)."""


class FliteBackend(TTSBackend):
    """CMU Flite built-in voices ('slt', 'rms', 'kal16', 'awb', ...), resampled to 16 kHz mono, deterministic."""

    name: ClassVar[str] = "flite"
    version: ClassVar[str] = "1"
    sample_rate: ClassVar[int] = MODEL_SAMPLE_RATE
    process_parallel: ClassVar[bool] = True
    seeded: ClassVar[bool] = False
    """flite has no randomness: the run seed does not enter its cache keys."""

    class Config(TTSBackend.Config):
        """flite settings (a voice's ``tts_params`` override them for that voice)."""

        f0_mean: float | None = Field(None, ge=50, le=400)
        """Target mean pitch in Hz (flite feature int_f0_target_mean; None = the voice's own)."""
        duration_stretch: float = Field(1.0, ge=0.5, le=2.0)
        """Speaking-time factor (>1 = slower)."""
        binary: str = "flite"
        """The flite program (a name on PATH or a path)."""

    def __init__(self, config: "FliteBackend.Config") -> None:
        super().__init__(config)
        self._path: str | None = None

    @property
    def path(self) -> str:
        """The flite binary (ConfigError with an install hint when missing)."""
        if self._path is None:
            found = shutil.which(self.config.binary)
            if found is None:
                raise ConfigError(f"the flite TTS backend needs the '{self.config.binary}' program", hint=INSTALL_HINT)
            self._path = found
        return self._path

    def load(self) -> None:
        _voices(self.path)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "flite_version": _version(self.path)}

    def voice_config(self, voice: Voice) -> "FliteBackend.Config":
        """This backend's config with the voice's ``tts_params`` applied."""
        values = {**self.config.model_dump(), **dict(voice.tts_params)}
        return parse_params(self.Config, values, f"voice '{voice.id}' tts_params")

    def check_voice(self, voice: Voice) -> None:
        if voice.preset is None:
            raise ConfigError(f"voice '{voice.id}': the flite backend speaks its built-in voices only (e.g. 'slt')")
        self.voice_config(voice)
        available = _voices(self.path)
        if voice.preset not in available:
            from biasbench.core.registry import did_you_mean

            raise ConfigError(
                f"voice '{voice.id}': flite has no voice '{voice.preset}'{did_you_mean(voice.preset, list(available))}"
            )

    def synthesize(self, text: str, voice: Voice) -> Audio:
        self.check_voice(voice)
        if not text.strip():
            raise DataError(f"voice '{voice.id}': nothing to say (empty text)")
        config = self.voice_config(voice)
        command = [self.path, "-voice", str(voice.preset), "--setf", f"duration_stretch={config.duration_stretch:g}"]
        if config.f0_mean is not None:
            command += ["--setf", f"int_f0_target_mean={config.f0_mean:g}"]
        with tempfile.TemporaryDirectory(prefix="biasbench-flite-") as folder:
            out = Path(folder) / "clip.wav"
            text_file = Path(folder) / "text.txt"
            text_file.write_text(text, encoding="utf-8")  # a file, not -t: text starting with '-' stays text
            result = subprocess.run([*command, "-f", str(text_file), "-o", str(out)], capture_output=True, check=False)
            if result.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
                message = result.stderr.decode("utf-8", "replace").strip().splitlines()
                raise DataError(f"flite failed for voice '{voice.id}' ({voice.preset}): {message[0] if message else 'no audio'}")
            audio, _ = read_audio(out)
        if audio.samples.size == 0:
            raise DataError(f"flite produced no audio for voice '{voice.id}' ({voice.preset})")
        return audio.resampled(self.sample_rate)


@lru_cache(maxsize=4)
def _voices(path: str) -> tuple[str, ...]:
    """Built-in voice names (`flite -lv`)."""
    result = subprocess.run([path, "-lv"], capture_output=True, text=True, check=False)
    _, _, names = result.stdout.partition(":")
    voices = tuple(names.split())
    if result.returncode != 0 or not voices:
        raise ConfigError(f"'{path} -lv' lists no voices; the flite install looks broken", hint=INSTALL_HINT)
    return voices


@lru_cache(maxsize=4)
def _version(path: str) -> str:
    import re

    result = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"flite-[\w.\-]+", result.stdout + result.stderr)
    return match.group(0) if match else "unknown"
