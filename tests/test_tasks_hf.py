"""Hugging Face loading through the real `datasets.load_dataset`, on small dataset repos made at test time
(same layout as the hub repos: a README with configs and parquet files); HF_HUB_OFFLINE=1 keeps it offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
datasets = pytest.importorskip("datasets", reason="the hf extra (datasets) is not installed")
pd = pytest.importorskip("pandas")

from biasbench.tasks.loading import load_task  # noqa: E402


def _repo(root: Path, configs: dict[str, tuple[str, "pd.DataFrame"]]) -> Path:
    lines = ["---", "configs:"]
    for name, (split, frame) in configs.items():
        (root / name).mkdir(parents=True)
        frame.to_parquet(root / name / f"{split}-00000-of-00001.parquet")
        lines += [f"- config_name: {name}", "  data_files:", f"  - split: {split}", f"    path: {name}/{split}-*"]
    (root / "README.md").write_text("\n".join(lines + ["---", ""]))
    return root


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


def test_mmlu_from_a_hub_style_repo(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "question": ["What is two plus two?", "Which city is the capital of France?", "Which planet is largest?"],
        "subject": ["elementary_mathematics", "high_school_geography", "astronomy"],
        "choices": [["one", "two", "three", "four"], ["Paris", "Rome", "Oslo", "Bern"], ["Mars", "Venus", "Jupiter", "Earth"]],
        "answer": [3, 0, 2],
    })
    repo = _repo(tmp_path / "mmlu", {"all": ("test", frame)})
    task = load_task("mmlu", {"path": None, "hf_dataset": str(repo), "fraction": 1.0})
    assert [(i.id, i.target) for i in task.items()] == [("astronomy/0", 2), ("elementary_mathematics/0", 3), ("high_school_geography/0", 0)]
    assert task.items()[0].choices == ("Mars", "Venus", "Jupiter", "Earth")


def test_stereoset_from_the_official_nested_format(tmp_path: Path) -> None:
    intra = pd.DataFrame({
        "id": ["x1"], "target": ["chess player"], "bias_type": ["profession"], "context": ["The chess player was BLANK."],
        "sentences": [{"sentence": ["The chess player was hispanic.", "The chess player was fox.", "The chess player was asian."],
                       "id": ["a", "b", "c"], "gold_label": [0, 2, 1]}],
    })
    repo = _repo(tmp_path / "stereoset", {"intrasentence": ("validation", intra)})
    task = load_task("stereoset", {"path": None, "hf_dataset": str(repo), "types": ["intrasentence"], "n_per_type": None})
    labels = {label: choice for item in task.items() for label, choice in zip(item.metadata["labels"], item.choices)}
    assert labels == {"stereotype": "asian", "anti-stereotype": "hispanic", "unrelated": "fox"}


def test_missing_hf_dataset_is_one_line_data_error(tmp_path: Path) -> None:
    from biasbench.core.errors import DataError

    with pytest.raises(DataError, match="cannot load Hugging Face dataset") as caught:
        load_task("mmlu", {"path": None, "hf_dataset": str(tmp_path / "nothing-here")})
    assert "\n" not in str(caught.value)
