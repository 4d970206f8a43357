"""`biasbench run` command-line overrides: --set, --models, --tasks, --limit and --dry-run (issue 16, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from biasbench.cli import main
from biasbench.config import load_config
from biasbench.core.errors import ConfigError
from biasbench.core.item import Item
from biasbench.runner.limit import limit_items
from biasbench.runner.plan import load_plan
from biasbench.tasks.loading import load_task

SIM = {"adapter": "simulated", "params": {"axis": "accent", "planted": {"en-us": 0.9, "en-gb": 0.8, "en-029": 0.6}, "seed": 0}}


def write_config(tmp: Path, **overrides) -> Path:
    config = {
        "name": "overrides-test",
        "pool": "demo_espeak",
        "tasks": ["demo_mc"],
        "models": [{"name": "sim-a", **SIM}, {"name": "sim-b", **SIM}],
        "modalities": ["text"],
        "understanding": {"enabled": False},
        "seed": 0,
        "report": False,
    }
    config.update(overrides)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_set_parses_yaml_values_and_validates_like_the_yaml(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load_config(path, sets=["generation.max_new_tokens=64", "modalities=[audio, text]", "tasks.demo_mc.params.n_items=2"])
    assert config.generation.max_new_tokens == 64
    assert config.modalities == ["audio", "text"]
    assert config.tasks[0].params == {"n_items": 2}
    assert load_config(path, sets=["models.sim-b.params.seed=7"]).models[1].params["seed"] == 7
    with pytest.raises(ConfigError, match="max_new_tokens"):  # validated by the schema, as in the YAML
        load_config(path, sets=["generation.max_new_tokens=0"])
    with pytest.raises(ConfigError, match="unknown key 'generaton'.*did you mean 'generation'"):
        load_config(path, sets=["generaton.max_new_tokens=64"])
    with pytest.raises(ConfigError, match="unknown key 'max_tokens'"):
        load_config(path, sets=["generation.max_tokens=64"])
    with pytest.raises(ConfigError, match="no entry 'demo_mcc'.*did you mean 'demo_mc'"):
        load_config(path, sets=["tasks.demo_mcc.params.n_items=2"])
    with pytest.raises(ConfigError, match="expected path.to.key=value"):
        load_config(path, sets=["seed"])


def test_models_and_tasks_subset_by_name(tmp_path: Path) -> None:
    path = write_config(tmp_path, tasks=["demo_mc", "demo_transcription"])
    config = load_config(path, models=["sim-b"], tasks=["demo_mc"])
    assert [m.name for m in config.models] == ["sim-b"]
    assert [t.name for t in config.tasks] == ["demo_mc"]
    with pytest.raises(ConfigError, match="did you mean 'sim-a'"):
        load_config(path, models=["sim-aa"])
    with pytest.raises(ConfigError, match="did you mean 'demo_mc'"):
        load_config(path, tasks=["demo_m"])


def test_unknown_names_are_one_line_errors_on_the_command_line(tmp_path: Path, capsys) -> None:
    path = write_config(tmp_path)
    for args in (["--models", "sim-c"], ["--set", "nope=1"], ["--tasks", "demo_mcq"]):
        code = main(["run", str(path), "--out", str(tmp_path / "out"), *args])
        err = capsys.readouterr().err
        assert code == 2, args
        assert "Traceback" not in err and "error" in err.lower()
        assert len([line for line in err.splitlines() if line.strip()]) <= 2  # the line and its hint
    assert not (tmp_path / "out").exists()


def test_limit_is_seeded_and_stratified_over_the_tasks_groups() -> None:
    task = load_task("demo_mc", {})
    items = [Item(f"{g}{i}", task.name, f"question {g}{i}", ("a", "b"), 0, {"group": g}) for g in "abc" for i in range(6)]
    chosen = limit_items(task, items, 3, seed=0)
    assert sorted(task.item_group(item) for item in chosen) == ["a", "b", "c"]  # one per stratum
    assert chosen == limit_items(task, items, 3, seed=0)  # seeded
    draws = {tuple(i.id for i in limit_items(task, items, 3, seed=s)) for s in range(5)}
    assert len(draws) > 1  # the seed matters
    assert [i.id for i in limit_items(task, items, 7, seed=0)] == sorted(i.id for i in limit_items(task, items, 7, seed=0))
    assert sum(task.item_group(i) == "a" for i in limit_items(task, items, 7, seed=0)) in (2, 3)
    assert limit_items(task, items, None, seed=0) == items and limit_items(task, items, 99, seed=0) == items


def test_dry_run_writes_nothing_and_a_limited_run_is_its_own_configuration(tmp_path: Path, capsys) -> None:
    path = write_config(tmp_path, modalities=["audio", "text"], models=[{"name": "sim-a", **SIM}])
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--limit", "2", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert not out.exists()  # nothing written
    plan = load_plan(load_config(path, limit=2), tmp_path)
    rows = len(plan.rows)
    assert len({row.item.id for row in plan.rows}) == 2 < len(plan.tasks[0].items())
    assert f"plan: {rows} rows" in printed
    assert "clips to synthesize: " in printed and "(0 already cached)" in printed
    assert f"sim-a  {rows} to call of {rows} (0 already answered)" in printed
    assert "estimated time: ~" in printed and "estimated cost: ≤ $0.00" in printed

    assert main(["run", str(path), "--out", str(out), "--limit", "2", "-q"]) == 0
    capsys.readouterr()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["limit"] == 2 and manifest["output_config"]["limit"] == 2
    assert main(["run", str(path), "--out", str(out), "--limit", "2", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert f"sim-a  0 to call of {rows} ({rows} already answered)" in printed
    assert "(0 already cached)" not in printed and "would refuse" not in printed
    assert main(["run", str(path), "--out", str(out), "--dry-run"]) == 0  # the full run is another configuration
    assert "would refuse" in capsys.readouterr().out
    code = main(["run", str(path), "--out", str(out), "--limit", "3", "-q"])
    assert code == 2 and "different configuration" in capsys.readouterr().err
