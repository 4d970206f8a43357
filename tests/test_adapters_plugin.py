"""A third-party adapter package (examples/plugin_adapter) is pip-installed and run through the CLI."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from biasbench.core.deps import is_available

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plugin_adapter"

pytestmark = pytest.mark.skipif(not is_available("setuptools"), reason="needs setuptools to build the example package")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The example installed with pip into a private target folder (nothing touches the venv)."""
    root = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(EXAMPLE, root / "src")  # build in a copy: no build/ left in the repo
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q", "--target", str(target), str(source)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return target


def biasbench(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "biasbench", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_installed_plugin_is_listed_with_its_distribution(site):
    listing = biasbench(site, "ls", "adapters")
    assert listing.returncode == 0, listing.stderr
    line = next(line for line in listing.stdout.splitlines() if "constant-letter" in line)
    assert "biasbench-constant-adapter" in line and "biasbench_constant:ConstantLetterAdapter" in line


def test_installed_plugin_runs_through_the_cli(site, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "pool: demo_espeak\ntasks: [demo_mc]\nmodalities: [text]\nreport: false\n"
        "models:\n  - {name: always-b, adapter: constant-letter, params: {letter: B}}\n"
    )
    out = tmp_path / "out"
    result = biasbench(site, "run", str(config), "--out", str(out), "-q")
    assert result.returncode == 0, result.stderr
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {row["adapter"] for row in rows} == {"constant-letter"}
    assert {row["response"] for row in rows} == {"The answer is B."}
    # text rows see all 4 option rotations, so a constant letter is right exactly once per item
    per_item: dict[str, int] = {}
    for row in rows:
        per_item[row["item_id"]] = per_item.get(row["item_id"], 0) + (row["outcome"] == "correct")
    assert set(per_item.values()) == {1}


def test_a_misspelt_plugin_name_suggests_the_installed_one(site, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("pool: demo_espeak\ntasks: [demo_mc]\nmodalities: [text]\nmodels:\n  - {name: m, adapter: constant-leter}\n")
    result = biasbench(site, "run", str(config), "--out", str(tmp_path / "out"), "-q")
    assert result.returncode == 2
    assert "did you mean 'constant-letter'" in result.stderr and "Traceback" not in result.stderr
