"""Bad input gets one actionable line on stderr and exit code 2 — never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import cli_command

from biasbench.cli import main

GOOD = {
    "pool": "demo_espeak",
    "tasks": ["demo_mc"],
    "models": [{"name": "sim", "adapter": "simulated", "params": {"axis": "accent", "planted": {"en-us": 0.8}}}],
}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=120)


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def with_changes(**changes) -> str:
    return yaml.safe_dump({**GOOD, **changes})


CASES = {
    "malformed yaml": ("pool: demo_espeak\ntasks: [demo_mc\nmodels: []\n", "not valid YAML"),
    "not a mapping": ("- just\n- a list\n", "must be a YAML mapping"),
    "unknown adapter": (with_changes(models=[{"name": "m", "adapter": "simulatd"}]), "did you mean 'simulated'"),
    "unknown task": (with_changes(tasks=["demo_mcq"]), "demo_mc"),
    "unknown pool": (with_changes(pool="demo_espek"), "demo_espeak"),
    "missing pool file": (with_changes(pool="pools/nowhere.yaml"), "nowhere"),
    "invalid field value": (with_changes(seed="zero", concurrency=0), "concurrency"),
    "unknown field": (with_changes(modelz=[]), "modelz"),
    "bad adapter params": (with_changes(models=[{"name": "m", "adapter": "simulated", "params": {"planted": {"en-us": 1.5}}}]), "planted"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_config_is_one_line_and_exit_2(tmp_path, capsys, case, command):
    text, expected = CASES[case]
    extra = ["--out", str(tmp_path / "out"), "-q"] if command == "run" else []
    code = main([command, str(config_file(tmp_path, text)), *extra])  # raises on anything but a clean exit
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err
    if command == "run":
        assert len(err.strip().splitlines()) == 1, err


def test_a_real_process_prints_no_traceback(tmp_path):
    done = run_cli("run", str(config_file(tmp_path, CASES["malformed yaml"][0])))
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_config_file(tmp_path):
    done = run_cli("run", str(tmp_path / "absent.yaml"))
    assert done.returncode == 2 and "config not found" in done.stderr and "Traceback" not in done.stderr


def test_validate_lists_every_problem_at_once(tmp_path):
    text = with_changes(pool="demo_espek", tasks=["demo_mcq"], models=[{"name": "m", "adapter": "simulatd"}])
    done = run_cli("validate", str(config_file(tmp_path, text)))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)


def test_validate_accepts_the_quickstart(repo_root):
    done = run_cli("validate", str(repo_root / "configs" / "quickstart.yaml"))
    assert done.returncode == 0, done.stderr


def test_ls_unknown_listing(tmp_path):
    done = run_cli("ls", "adaptors")
    assert done.returncode == 2 and "did you mean 'adapters'" in done.stderr


@pytest.mark.parametrize("argv", [["run"], ["report"], ["leaderboard"], ["run", "x.yaml", "--no-such-flag"]])
def test_usage_errors_exit_2_without_traceback(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Error:" in err and "Traceback" not in err
