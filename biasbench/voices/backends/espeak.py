"""espeak-ng: the offline default backend (formant synthesis, preset voices such as 'en-us+f3').

Two engines, the same presets:

* the system ``espeak-ng`` binary when it is on PATH (one process per clip);
* otherwise the shared library and voice data shipped by the pip package ``espeakng-loader``,
  driven through ctypes.

espeak-ng keeps hidden state between utterances in one process (the same text comes out slightly
different the second time). For determinism each clip is synthesized in a child forked from a
freshly initialised engine (see ``espeak_server.py``), so every clip starts from the same state.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import weakref
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from biasbench.core.audio import MODEL_SAMPLE_RATE, Audio
from biasbench.core.deps import require
from biasbench.core.errors import ConfigError, DataError
from biasbench.core.params import parse_params
from biasbench.core.voice import Voice
from biasbench.voices.backends.base import TTSBackend
from biasbench.voices.backends.process import close_stdin_and_wait

_PARAMETER_IDS = {"speed": 1, "volume": 2, "pitch": 3, "pitch_range": 4, "word_gap": 7}
"""espeak_PARAMETER numbers for the config fields passed to espeak_SetParameter."""


class EspeakBackend(TTSBackend):
    """espeak-ng preset voices ('<language>[+<variant>]', e.g. 'en-029+f2'), 16 kHz mono, deterministic."""

    name: ClassVar[str] = "espeak"
    version: ClassVar[str] = "1"
    sample_rate: ClassVar[int] = MODEL_SAMPLE_RATE
    process_parallel: ClassVar[bool] = True
    seeded: ClassVar[bool] = False
    """espeak's small jitter uses ``Config.seed`` (default 0), not the run seed: clips stay shared across runs."""

    class Config(TTSBackend.Config):
        """espeak-ng settings (a voice's ``tts_params`` override them for that voice)."""

        speed: int = Field(160, ge=80, le=450)
        """Speaking rate in words per minute."""
        pitch: int = Field(50, ge=0, le=100)
        """Base pitch (0-100; the variant shifts it further)."""
        pitch_range: int = Field(50, ge=0, le=100)
        """Intonation range (0 = monotone)."""
        volume: int = Field(100, ge=0, le=200)
        """Amplitude (the synthesis step normalizes loudness afterwards)."""
        word_gap: int = Field(0, ge=0, le=100)
        """Extra pause between words, in units of 10 ms."""
        engine: Literal["auto", "binary", "library"] = "auto"
        """'binary' = system espeak-ng, 'library' = pip espeakng-loader, 'auto' = binary when on PATH."""

    def __init__(self, config: "EspeakBackend.Config") -> None:
        super().__init__(config)
        self._engine: _Engine | None = None

    @property
    def engine(self) -> "_Engine":
        """The espeak-ng engine in use (chosen on first use)."""
        if self._engine is None:
            self._engine = _choose_engine(self.config.engine)
        return self._engine

    def load(self) -> None:
        self.engine.start()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "engine": self.engine.kind, "espeak_ng_version": self.engine.version}

    def voice_config(self, voice: Voice) -> "EspeakBackend.Config":
        """This backend's config with the voice's ``tts_params`` applied."""
        values = {**self.config.model_dump(), **dict(voice.tts_params)}
        return parse_params(self.Config, values, f"voice '{voice.id}' tts_params")

    def check_voice(self, voice: Voice) -> None:
        if voice.preset is None:
            raise ConfigError(f"voice '{voice.id}': the espeak backend speaks preset voices only (e.g. 'en-us+f3')")
        self.voice_config(voice)
        self.engine.check_preset(voice.preset, voice.id)

    def synthesize(self, text: str, voice: Voice) -> Audio:
        self.check_voice(voice)
        if not text.strip():
            raise DataError(f"voice '{voice.id}': nothing to say (empty text)")
        audio = self.engine.speak(text, voice.preset or "", self.voice_config(voice))
        if audio.samples.size == 0:
            raise DataError(f"espeak-ng produced no audio for voice '{voice.id}' ({voice.preset})")
        return audio.resampled(self.sample_rate)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


class _Engine:
    """One way of running espeak-ng."""

    kind = ""
    version = ""

    def start(self) -> None:
        """Prepare for the first clip."""

    def check_preset(self, preset: str, voice_id: str) -> None:
        """Raise ConfigError for an unknown language or variant."""

    def speak(self, text: str, preset: str, config: EspeakBackend.Config) -> Audio:
        raise NotImplementedError

    def close(self) -> None:
        """Release resources."""


def _choose_engine(choice: str) -> _Engine:
    binary = shutil.which("espeak-ng")
    if choice == "binary" or (choice == "auto" and binary):
        if not binary:
            raise ConfigError("espeak engine 'binary' asked for, but no espeak-ng binary is on PATH")
        return _BinaryEngine(binary)
    return _LibraryEngine()


class _BinaryEngine(_Engine):
    """The system ``espeak-ng`` program, one process per clip (WAV on stdout)."""

    kind = "binary"

    def __init__(self, path: str) -> None:
        self.path = path
        import re

        result = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
        match = re.search(r"\d+\.\d+(?:\.\d+)?", result.stdout)
        self.version = match.group(0) if match else "unknown"
        self._checked = False

    def start(self) -> None:
        """Refuse a system espeak-ng whose output is not reproducible (some builds seed jitter from the clock)."""
        if self._checked:
            return
        probe = EspeakBackend.Config()
        first, second = (self._run("Reproducibility probe, one two three.", "en-us", probe) for _ in range(2))
        if not np.array_equal(first.samples, second.samples):
            raise DataError(
                "the system espeak-ng gives different audio for the same text, so clips would not be reproducible",
                hint="pip install espeakng-loader and set tts: {espeak: {engine: library}}",
            )
        self._checked = True

    def speak(self, text: str, preset: str, config: EspeakBackend.Config) -> Audio:
        self.start()
        return self._run(text, preset, config)

    def _run(self, text: str, preset: str, config: EspeakBackend.Config) -> Audio:
        import io

        import soundfile as sf

        command = [
            self.path, "--stdout", "-v", preset, "-s", str(config.speed), "-p", str(config.pitch),
            "-a", str(config.volume), "-g", str(config.word_gap), "-b", "1",
        ]
        result = subprocess.run(command, input=text.encode("utf-8"), capture_output=True, check=False)
        if result.returncode != 0 or not result.stdout:
            message = result.stderr.decode("utf-8", "replace").strip().splitlines()
            raise DataError(f"espeak-ng failed for preset '{preset}': {message[0] if message else 'no output'}")
        samples, rate = sf.read(io.BytesIO(result.stdout), dtype="float32")
        return Audio(samples if samples.ndim == 1 else samples.mean(axis=1), int(rate))


class _LibraryEngine(_Engine):
    """libespeak-ng from the pip package ``espeakng-loader``, driven by a small server process
    (``espeak_server.py``) that forks a fresh child per clip."""

    kind = "library"

    def __init__(self) -> None:
        loader = require("espeakng_loader", "tts", purpose="the espeak TTS backend without a system espeak-ng")
        self.data_path = Path(loader.get_data_path())
        self.library_path = loader.get_library_path()
        self.version = _library_version(self.library_path)
        self._server: subprocess.Popen | None = None
        self._rate = 0

    def start(self) -> None:
        if self._server is not None and self._server.poll() is None:
            return
        script = Path(__file__).with_name("espeak_server.py")
        self._server = subprocess.Popen(
            [sys.executable, str(script), self.library_path, str(self.data_path), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        weakref.finalize(self, _stop_server, self._server)  # no stray server when the engine is dropped
        hello = self._read_header()
        self._rate = int(hello["rate"])

    def _read_header(self) -> dict[str, Any]:
        assert self._server is not None and self._server.stdout is not None
        line = self._server.stdout.readline()
        try:
            header = json.loads(line)
        except ValueError:
            self.close()
            raise DataError("the espeak-ng server process stopped unexpectedly") from None
        if not header.get("ok"):
            raise DataError(f"espeak-ng: {header.get('error', 'unknown error')}")
        return header

    def check_preset(self, preset: str, voice_id: str) -> None:
        _resolve_preset(str(self.data_path), preset, voice_id)

    def speak(self, text: str, preset: str, config: EspeakBackend.Config) -> Audio:
        self.start()
        assert self._server is not None and self._server.stdin is not None and self._server.stdout is not None
        request = {
            "voice": _resolve_preset(str(self.data_path), preset, preset).decode(),
            "text": text,
            "parameters": [[number, int(getattr(config, field))] for field, number in _PARAMETER_IDS.items()],
            "seed": config.seed,
        }
        try:
            self._server.stdin.write(json.dumps(request).encode() + b"\n")
            self._server.stdin.flush()
        except BrokenPipeError:
            self.close()
            raise DataError("the espeak-ng server process stopped unexpectedly") from None
        try:
            header = self._read_header()
        except DataError as exc:
            raise DataError(f"preset '{preset}': {exc.one_line()}") from None
        payload = self._server.stdout.read(int(header["bytes"]))
        return Audio(np.frombuffer(payload, dtype=np.int16).astype(np.float32) / 32768.0, int(header["rate"]))

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            _stop_server(server)


def _stop_server(server: subprocess.Popen) -> None:
    """Let the server exit at EOF (kill it if it does not) and close its output."""
    close_stdin_and_wait(server, timeout_s=5)
    if server.stdout is not None:
        server.stdout.close()


@lru_cache(maxsize=4)
def _library_version(library_path: str) -> str:
    lib = ctypes.CDLL(library_path)
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    return (lib.espeak_Info(None) or b"unknown").decode()


@lru_cache(maxsize=4)
def _languages(data_path: str) -> dict[str, str]:
    """Language code (lower case) -> voice file identifier (e.g. 'en-gb' -> 'gmw/en')."""
    found: dict[str, tuple[int, str]] = {}
    lang_dir = Path(data_path) / "lang"
    for path in sorted(p for p in lang_dir.rglob("*") if p.is_file()):
        identifier = path.relative_to(lang_dir).as_posix()
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "language":
                priority = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 5
                code = parts[1].lower()
                if code not in found or priority < found[code][0]:
                    found[code] = (priority, identifier)
    return {code: identifier for code, (_, identifier) in found.items()}


@lru_cache(maxsize=256)
def _resolve_preset(data_path: str, preset: str, voice_id: str) -> bytes:
    """'en-gb+m3' -> b'gmw/en+m3' (validated); unknown languages or variants raise ConfigError."""
    language, _, variant = preset.partition("+")
    languages = _languages(data_path)
    identifier = languages.get(language.lower())
    if identifier is None:
        from biasbench.core.registry import did_you_mean

        raise ConfigError(
            f"voice '{voice_id}': espeak-ng has no language '{language}'{did_you_mean(language.lower(), list(languages))}"
        )
    if variant:
        variants = sorted(p.name for p in (Path(data_path) / "voices" / "!v").iterdir())
        if variant not in variants:
            from biasbench.core.registry import did_you_mean

            raise ConfigError(f"voice '{voice_id}': espeak-ng has no voice variant '{variant}'{did_you_mean(variant, variants)}")
    return (identifier + (f"+{variant}" if variant else "")).encode()
