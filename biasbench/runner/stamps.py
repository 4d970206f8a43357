"""Stamps of derived outputs: skip re-scoring and re-reporting when their inputs are unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from biasbench.core.files import write_text_atomic
from biasbench.core.rundir import RunDir

STAMPS_NAME = RunDir.STAMPS


class Stamps:
    """Digest of the inputs each derived output was last built from."""

    def __init__(self, run_dir: Path) -> None:
        self.path = RunDir(run_dir).stamps_path

    def _read(self) -> dict[str, str]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def fresh(self, name: str, digest: str, *outputs: Path) -> bool:
        """True when ``name`` was built from ``digest`` and its outputs still exist."""
        return self._read().get(name) == digest and all(Path(p).exists() for p in outputs)

    def recorded(self, name: str) -> str | None:
        """The digest ``name`` was last built from (None when never)."""
        return self._read().get(name)

    def mark(self, name: str, digest: str) -> None:
        """Record that ``name`` is now built from ``digest``."""
        stamps = self._read()
        stamps[name] = digest
        write_text_atomic(self.path, json.dumps(stamps, indent=1, sort_keys=True))

    def clear(self) -> None:
        """Forget every stamp (forces re-scoring and re-reporting)."""
        self.path.unlink(missing_ok=True)
