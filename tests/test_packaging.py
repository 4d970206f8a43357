"""A wheel carries the shipped specs, and an installed wheel finds them outside any checkout."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory, repo_root):
    has_bdist_wheel = importlib.util.find_spec("setuptools.command.bdist_wheel") or importlib.util.find_spec("wheel")
    if not has_bdist_wheel:
        pytest.skip("building a wheel offline needs setuptools >= 70.1 or the 'wheel' package in this environment")
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(repo_root)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("biasbench-*.whl")
    target = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    return wheel, target


def test_wheel_contains_specs_and_data(installed_wheel):
    wheel, _ = installed_wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "biasbench/_shipped/configs/quickstart.yaml",
        "biasbench/_shipped/voice_pools/demo_espeak.yaml",
        "biasbench/_shipped/tasks/demo_mc.yaml",
        "biasbench/_shipped/tasks/data/demo_mc.jsonl",
        "biasbench/data/bls_occupations.csv",
        "biasbench/reports/templates/leaderboard.html",
    ):
        assert expected in names, expected


def test_installed_wheel_loads_shipped_specs_outside_a_checkout(installed_wheel, tmp_path):
    _, target = installed_wheel
    script = (
        "import biasbench, pathlib; from biasbench.resources import shipped_dir; "
        "from biasbench.tasks.loading import load_task; from biasbench.voices.spec import load_pool; "
        "assert pathlib.Path(biasbench.__file__).is_relative_to(pathlib.Path(r'%s')), biasbench.__file__; "
        "assert (shipped_dir('configs') / 'quickstart.yaml').is_file(); "
        "print(len(load_task('demo_mc').items()), len(load_pool('demo_espeak').voices))" % target
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["40", "12"]


def test_installed_wheel_resolves_shipped_configs_by_name_in_an_empty_folder(installed_wheel, tmp_path):
    wheel, target = installed_wheel
    assert "biasbench/viewer/static/index.html" in set(zipfile.ZipFile(wheel).namelist())
    env = {**os.environ, "PYTHONPATH": str(target)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "biasbench", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    quick = cli("validate", "quickstart")
    assert quick.returncode == 0 and quick.stdout.strip() == "quickstart: valid (2 task(s), 2 model(s), pool 'demo_espeak')", quick.stderr
    unknown = cli("validate", "no-such-config")
    assert unknown.returncode != 0 and "shipped: " in unknown.stderr and "quickstart" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert cli("init").returncode == 0 and cli("validate", "biasbench.yaml").returncode == 0
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.strip().startswith("biasbench ")
