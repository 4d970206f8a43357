"""`voices select`: a balanced pool from a synthetic corpus table, deterministic per seed, with provenance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from biasbench.cli import main
from biasbench.core.errors import DataError
from biasbench.voices.select import SelectionOptions, select_pool
from biasbench.voices.spec import load_pool

RACES = ("Black", "White", "Asian", "Hispanic")


def _corpus(folder, seed: int = 7) -> pd.DataFrame:
    """A corpus table made here: 6-9 speakers per gender x race, 3 clips each, some too short/long, some noisy,
    one speaker with inconsistent labels, one row without a label. Clip files are real WAVs (tiny)."""
    rng = np.random.default_rng(seed)
    rows = []
    (folder / "wav").mkdir(exist_ok=True)
    for gender in ("female", "male"):
        for race in RACES:
            for s in range(int(rng.integers(6, 10))):
                speaker = f"{gender[0]}{race[:2]}{s}"
                age = int(rng.integers(18, 80))
                for c in range(3):
                    duration = float(rng.choice([1.5, 4.0, 6.5, 9.0, 12.0, 20.0]))
                    rows.append({
                        "audio": f"wav/{speaker}_{c}.wav", "text": f"utterance {c} of {speaker}", "spk": speaker,
                        "sex": gender, "ethnicity": race, "age": age, "seconds": duration,
                        "snr_db": float(rng.normal(25, 8)),
                    })
    rows.append({**rows[0], "spk": "odd", "sex": "female"})
    rows.append({**rows[3], "spk": "odd", "sex": "male"})  # inconsistent labels -> dropped
    rows.append({**rows[5], "spk": "nolabel", "ethnicity": ""})
    table = pd.DataFrame(rows)
    for path in table["audio"].unique()[:5]:  # a few real files; the rest have a duration column
        sf.write(folder / path, np.zeros(16_000, dtype=np.float32), 16_000)
    return table


COLUMNS = {"path": "audio", "transcript": "text", "speaker": "spk", "gender": "sex", "race": "ethnicity",
           "duration": "seconds", "snr": "snr_db"}


def _options(seed: int = 0) -> SelectionOptions:
    return SelectionOptions(axes=("gender", "race"), per_cell=4, columns=COLUMNS, seed=seed, covariates=("age",),
                            values={"race": ("Black", "White", "Asian")}, corpus="synthetic test corpus", license="CC0")


def test_selection_is_balanced_prefers_clean_clips_and_records_provenance(tmp_path):
    table = _corpus(tmp_path)
    selection = select_pool(table, _options(), table_dir=tmp_path, spec_dir=tmp_path, name="picked")
    spec = selection.spec
    voices = spec["voices"]
    assert len(voices) == 24
    cells = pd.Series([(v["labels"]["gender"], v["labels"]["race"]) for v in voices]).value_counts()
    assert len(cells) == 6 and set(cells) == {4}
    assert all(v["labels"]["race"] != "Hispanic" for v in voices)
    assert all(3.0 <= v["reference"]["duration_s"] <= 15.0 for v in voices)
    assert {v["split"] for v in voices} == {"train", "eval"}
    assert sum(v["split"] == "train" for v in voices) == 12
    assert all(v["covariates"]["speaker"] != "odd" for v in voices)
    assert any("different labels" in note for note in selection.notes)
    assert spec["provenance"]["seed"] == 0 and spec["provenance"]["covariate_balance"]
    (tmp_path / "picked.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    pool = load_pool(tmp_path / "picked.yaml", check_files=False)
    assert pool.balance_problems() == [] and pool.provenance["seed"] == 0


def test_selection_balances_age_better_than_chance(tmp_path):
    table = _corpus(tmp_path)
    selection = select_pool(table, _options(), table_dir=tmp_path, spec_dir=tmp_path, name="picked")
    chosen = [row["age_mean"] for row in selection.balance if row["cell"] != "all eligible"]
    pooled = next(row["age_mean"] for row in selection.balance if row["cell"] == "all eligible")
    spread_chosen = max(abs(a - pooled) for a in chosen)
    rng = np.random.default_rng(1)
    eligible = table[table["ethnicity"].isin(["Black", "White", "Asian"])].drop_duplicates("spk")
    random_spreads = []
    for _ in range(50):
        picks = eligible.groupby(["sex", "ethnicity"]).sample(4, random_state=int(rng.integers(1e9)))
        random_spreads.append(max(abs(m - pooled) for m in picks.groupby(["sex", "ethnicity"])["age"].mean()))
    assert spread_chosen < np.median(random_spreads)


def test_selection_is_deterministic_per_seed(tmp_path):
    table = _corpus(tmp_path)
    first = select_pool(table, _options(seed=3), table_dir=tmp_path, spec_dir=tmp_path, name="p").spec
    again = select_pool(table, _options(seed=3), table_dir=tmp_path, spec_dir=tmp_path, name="p").spec
    other = select_pool(table, _options(seed=4), table_dir=tmp_path, spec_dir=tmp_path, name="p").spec
    assert first == again
    assert [v["id"] for v in first["voices"]] != [v["id"] for v in other["voices"]] or [
        v["split"] for v in first["voices"]] != [v["split"] for v in other["voices"]]


def test_too_few_speakers_lists_every_short_cell(tmp_path):
    table = _corpus(tmp_path)
    options = SelectionOptions(axes=("gender", "race"), per_cell=12, columns=COLUMNS)
    with pytest.raises(DataError, match=r"not enough eligible speakers for 12 per cell: .*female × Asian has \d+.*male × White has \d+"):
        select_pool(table, options, table_dir=tmp_path, spec_dir=tmp_path, name="p")


def test_missing_columns_are_named(tmp_path):
    table = _corpus(tmp_path)
    with pytest.raises(DataError, match="lacks columns: path -> 'path', .*race -> 'race'"):
        select_pool(table, SelectionOptions(columns={"transcript": "text", "speaker": "spk", "gender": "sex"}),
                    table_dir=tmp_path, spec_dir=tmp_path, name="p")


def test_cli_select_writes_a_loadable_spec(tmp_path):
    _corpus(tmp_path).to_csv(tmp_path / "corpus.csv", index=False)
    out = tmp_path / "pools" / "mine.yaml"
    args = ["voices", "select", "--manifest", str(tmp_path / "corpus.csv"), "--axes", "gender,race", "--per-cell", "3",
            "--seed", "0", "--out", str(out), "--col-path", "audio", "--col-transcript", "text", "--col-speaker", "spk",
            "--col-gender", "sex", "--col-race", "ethnicity", "--col-duration", "seconds", "--col-snr", "snr_db",
            "--values", "race=Black,White,Asian", "--covariates", "age", "--corpus", "synthetic", "--license", "CC0"]
    assert main(args) == 0
    spec = yaml.safe_load(out.read_text())
    assert spec["provenance"]["corpus_table_sha256"] and spec["provenance"]["options"]["seed"] == 0
    assert spec["voices"][0]["reference"]["path"].startswith("../wav/") or spec["voices"][0]["reference"]["path"].startswith("/")
    pool = load_pool(out, check_files=False)
    assert len(pool.voices) == 18 and pool.balance_problems() == []
    assert main(args[:-2] + ["--license", "CC0", "--per-cell", "40"]) == 2
