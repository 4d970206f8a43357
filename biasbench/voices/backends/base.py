"""The TTS backend protocol."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Sequence

from biasbench.core.audio import Audio
from biasbench.core.hashing import stable_hash
from biasbench.core.params import Params, parse_params
from biasbench.core.voice import Voice


class TTSBackend(ABC):
    """Turns text into speech in a voice. Heavy engines are imported in :meth:`load`."""

    name: ClassVar[str] = ""
    """Registry name."""
    version: ClassVar[str] = "1"
    """Bumped whenever the backend's output changes for the same inputs."""
    sample_rate: ClassVar[int] = 16_000
    """Rate of the audio :meth:`synthesize` returns (the cache normalizes to 16 kHz)."""
    process_parallel: ClassVar[bool] = False
    """Safe to run in several worker processes at once (cheap, CPU-bound engines)."""
    seeded: ClassVar[bool] = True
    """Output depends on ``Config.seed`` (sampling engines); deterministic engines set False so the
    run seed does not enter their cache keys."""

    class Config(Params):
        """Backend parameters from the pool spec or run config (subclasses extend)."""

        seed: int = 0
        """Seed for engines that sample."""

    def __init__(self, config: "TTSBackend.Config") -> None:
        self.config = config
        self._notes: list[str] = []

    def note(self, text: str) -> None:
        """Record a conversion worth reporting (e.g. a reference clip resampled)."""
        if text not in self._notes:
            self._notes.append(text)

    def drain_notes(self) -> list[str]:
        """Notes recorded since the last call (synthesis copies them into its result)."""
        notes, self._notes = getattr(self, "_notes", []), []
        return notes

    @classmethod
    def from_params(cls, params: dict[str, Any] | None, where: str = "tts") -> "TTSBackend":
        return cls(parse_params(cls.Config, params, where))

    def load(self) -> None:
        """Import the engine and load weights (once, before the first clip)."""

    def describe(self) -> dict[str, Any]:
        """Output-affecting identity (engine, version, model, params)."""
        return {"backend": self.name, "version": self.version, "config": self.config.model_dump(mode="json")}

    def fingerprint(self) -> str:
        """Hash of :meth:`describe` (part of every audio cache key)."""
        return stable_hash(self.describe())[:16]

    def check_available(self) -> None:
        """Raise :class:`ConfigError`/:class:`MissingExtraError` when this backend cannot run on this
        machine (a package or interpreter missing). Cheap: imports and loads nothing (`validate`)."""

    def check_voice(self, voice: Voice) -> None:
        """Raise :class:`ConfigError`/:class:`DataError` if this backend cannot speak ``voice``."""

    @abstractmethod
    def synthesize(self, text: str, voice: Voice) -> Audio:
        """Speech for ``text`` in ``voice``."""

    def synthesize_batch(self, jobs: Sequence[tuple[str, Voice]]) -> list[Audio]:
        """Several clips (default: one at a time)."""
        return [self.synthesize(text, voice) for text, voice in jobs]

    def close(self) -> None:
        """Release the engine."""
