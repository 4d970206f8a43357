"""`biasbench init`, `--version`, shipped configs by name, and boolean flags rendered as flags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from biasbench import __version__
from biasbench.cli import main
from biasbench.config import config_problems, load_config


def test_init_writes_a_commented_starter_that_validates(tmp_path: Path, capsys) -> None:
    assert main(["init", str(tmp_path / "exp")]) == 0
    written = tmp_path / "exp" / "biasbench.yaml"
    text = written.read_text()
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 10  # commented
    assert yaml.safe_load(text)["models"][0]["adapter"] == "simulated"
    assert config_problems(load_config(written), written.parent) == []
    capsys.readouterr()
    assert main(["init", str(tmp_path / "exp")]) != 0  # never overwrites silently
    assert "already exists" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "exp"), "--force"]) == 0


def test_shipped_config_by_name(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config("quickstart").name == "quickstart"
    assert main(["validate", "quickstart"]) == 0
    assert main(["validate", "nope"]) != 0
    err = capsys.readouterr().err
    assert "config not found: nope" in err and "quickstart" in err


def test_version_and_flags_render_as_flags() -> None:
    done = subprocess.run([sys.executable, "-m", "biasbench", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"biasbench {__version__}"
    env = {**os.environ, "COLUMNS": "150"}
    help_text = subprocess.run([sys.executable, "-m", "biasbench", "run", "--help"], capture_output=True, text=True, timeout=60, env=env).stdout
    quiet = next(line for line in help_text.splitlines() if "--quiet" in line)
    assert "<bool>" not in help_text and "--quiet" in quiet and "-q" in quiet
