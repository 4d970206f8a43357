"""manifest.json: what was run, with what, where and when — enough to reproduce and to audit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from biasbench.core.rundir import Manifest, RunDir, now_iso

MANIFEST_NAME = RunDir.MANIFEST

__all__ = ["MANIFEST_NAME", "Manifest", "git_state", "now_iso", "package_versions", "platform_info", "read_manifest", "require_manifest", "write_manifest"]

TRACKED_PACKAGES = (
    "biasbench", "numpy", "pandas", "pyarrow", "scipy", "pydantic", "soundfile", "soxr",
    "jiwer", "pyloudnorm", "espeakng-loader", "faster-whisper", "ctranslate2", "torch", "transformers",
    "peft", "accelerate", "datasets", "openai", "tenacity", "httpx",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that can change results (absent ones omitted)."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_state(start: Path) -> dict[str, Any]:
    """Commit and dirtiness of the source checkout, when there is one."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=start, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    sha = git("rev-parse", "HEAD")
    if sha is None:
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def platform_info() -> dict[str, Any]:
    """Python, OS and hardware facts."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def read_manifest(run_dir: Path) -> Manifest | None:
    """The typed manifest of a run directory; None when there is none yet; a corrupt one → DataError."""
    return RunDir(run_dir).read_manifest()


def require_manifest(run_dir: Path) -> Manifest:
    """The manifest of a finished (or resumable) run; DataError when ``run_dir`` is not a run directory."""
    return RunDir(run_dir).manifest()


def write_manifest(run_dir: Path, manifest: Manifest | dict[str, Any]) -> Path:
    """Write manifest.json atomically."""
    return RunDir(run_dir).write_manifest(manifest)
