"""Packs the shipped specs (tasks/, voice_pools/, configs/) into wheels as biasbench/_shipped/.

Metadata lives in pyproject.toml; in a source checkout the specs are read in place.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("tasks", "voice_pools", "configs")


class BuildWithSpecs(build_py):
    """build_py that also copies the shipped spec folders into the built package."""

    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "biasbench" / "_shipped"
        for name in SHIPPED:
            if (root / name).is_dir():
                shutil.copytree(root / name, target / name, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithSpecs})
