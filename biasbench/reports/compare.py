"""Agreement of two runs that differ only in the TTS engine (or voice pool): is a finding an engine artifact?

Reads each run's score tables (``scores/group_metrics``, ``scores/gaps``, ``scores/headline.csv`` when
the scorer wrote one) and its results table, and writes four CSV files:

* ``estimates.csv``  — every audio per-group and per-cell estimate on the headline metric, every
  group-vs-rest gap, and every item × group value, side by side (value and 95% CI of each run);
* ``agreement.csv``  — per metric and kind: Pearson correlation and Spearman rank agreement of the
  paired estimates with bootstrap CIs, and the share of gaps whose sign agrees;
* ``verdicts.csv``   — each headline verdict (and worst group) of run A next to run B's;
* ``items.csv``      — per model × task: per-item agreement of flips (multiple choice: did the item's
  answer change across voices in both runs?) or of the per-item gap sign on the first axis (scored tasks).

The correlation CI resamples the paired estimates with replacement and, in the same replicate, draws
each estimate from a normal with the standard error implied by its own CI, so it reflects both how
many estimates there are and how uncertain each one is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import pandas as pd

from biasbench.core.errors import DataError
from biasbench.core.hashing import seed_from
from biasbench.core.rundir import RunDir

FILES = {"estimates": "estimates.csv", "agreement": "agreement.csv", "verdicts": "verdicts.csv", "items": "items.csv"}
"""Files :func:`compare_runs` writes into its output folder."""
HEADLINE_METRICS = ("accuracy", "wer", "mean_score")
"""Metrics compared (each task's headline)."""
GROUP_KEYS = ["model", "task", "metric", "kind", "grouping", "group"]
"""Join keys of estimates.csv."""
VERDICT_KEYS = ["model", "task", "modality", "metric", "axis"]
"""Join keys of headline.csv rows."""


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare_runs` found (the CSV files hold the same tables)."""

    tables: Mapping[str, pd.DataFrame]
    """Name in :data:`FILES` -> table."""
    notes: tuple[str, ...] = ()
    """Plain sentences: what could not be compared and why."""
    out_dir: Path | None = None
    """Where the CSV files were written."""
    paths: tuple[Path, ...] = field(default=())
    """The CSV files."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", MappingProxyType(dict(self.tables)))

    def format(self) -> str:
        """The agreement table and the verdict agreement, for the terminal."""
        lines = []
        agreement = self.tables["agreement"]
        header = f"{'metric':<11} {'kind':<12} {'n':>4} {'pearson r':>10} {'95% CI':<17} {'spearman':>9} {'95% CI':<17} {'sign agree':>10}"
        lines += [header, "-" * len(header)]
        for _, row in agreement.iterrows():
            lines.append(
                f"{row['metric']:<11} {row['kind']:<12} {int(row['n_pairs']):>4} {_f(row['pearson_r']):>10} "
                f"{_ci(row['pearson_ci_low'], row['pearson_ci_high']):<17} {_f(row['spearman_rho']):>9} "
                f"{_ci(row['spearman_ci_low'], row['spearman_ci_high']):<17} {_f(row['sign_agreement']):>10}"
            )
        verdicts = self.tables["verdicts"]
        if not verdicts.empty:
            lines.append(f"headline verdicts agreeing: {int(verdicts['verdict_agree'].sum())} of {len(verdicts)}")
        items = self.tables["items"]
        for _, row in items.iterrows():
            lines.append(f"{row['model']} / {row['task']}: per-item {row['quantity']} agreement {_f(row['agreement'])} "
                         f"over {int(row['n_items'])} items (A only {int(row['only_a'])}, B only {int(row['only_b'])}, both {int(row['both'])})")
        lines += [f"note: {note}" for note in self.notes]
        if self.out_dir is not None:
            lines.append(f"comparison tables: {self.out_dir}")
        return "\n".join(lines)


def _f(value: Any) -> str:
    return "—" if value is None or not np.isfinite(float(value)) else f"{float(value):.3f}"


def _ci(low: Any, high: Any) -> str:
    return "" if low is None or not np.isfinite(float(low)) else f"[{float(low):.3f}, {float(high):.3f}]"


def _table(run_dir: Path, name: str) -> pd.DataFrame | None:
    run = RunDir(run_dir)
    for path, reader in ((run.score_table(name, ".parquet"), pd.read_parquet), (run.score_table(name, ".csv"), pd.read_csv)):
        if path.is_file():
            try:
                return reader(path)
            except Exception as exc:  # a corrupt file: name it
                raise DataError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    return None


def _estimates(run_dir: Path) -> pd.DataFrame:
    metrics = _table(run_dir, "group_metrics")
    if metrics is None:
        raise DataError(f"'{run_dir}' has no scores/group_metrics table", hint=f"run `biasbench score {run_dir}` first")
    gaps = _table(run_dir, "gaps")
    keep = metrics[(metrics["modality"] == "audio") & metrics["metric"].isin(HEADLINE_METRICS)
                   & ~metrics["grouping"].isin(["overall", "voice", "item_group", "permutation"])]
    parts = [keep.assign(kind="group")[GROUP_KEYS + ["value", "ci_low", "ci_high"]]]
    if gaps is not None and not gaps.empty:
        rest = gaps[(gaps["modality"] == "audio") & (gaps["kind"] == "vs_rest") & gaps["metric"].isin(HEADLINE_METRICS)]
        parts.append(rest.assign(kind="gap_vs_rest")[GROUP_KEYS + ["value", "ci_low", "ci_high"]])
    frame = pd.concat(parts, ignore_index=True)
    frame["group"] = frame["group"].astype(str)
    return frame


def _item_group_estimates(run_dir: Path) -> pd.DataFrame:
    """Per item × group headline value on each pool axis (kind 'item_x_group', no CI): the many small cells that
    make a correlation meaningful when an axis has only two groups."""
    from biasbench.scoring.metrics import row_metrics
    from biasbench.scoring.rundata import load_run

    data = load_run(run_dir)
    frame = data.frame[data.frame["modality"] == "audio"]
    records = []
    for (model, task), part in frame.groupby(["model", "task"], sort=True):
        part = part.reset_index(drop=True)
        metric = row_metrics(part, data.answer_types.get(str(task), "multiple_choice"))[0]
        sums = pd.DataFrame({"x": metric.x, "d": metric.d})
        for axis in data.axes:
            grouped = sums.groupby([part["item_id"], part[axis]]).sum()
            for (item, group), row in grouped.iterrows():
                if row["d"] > 0 and group != "":
                    records.append({"model": model, "task": task, "metric": metric.name, "kind": "item_x_group", "grouping": axis,
                                    "group": f"{item}|{group}", "value": row["x"] / row["d"], "ci_low": np.nan, "ci_high": np.nan})
    return pd.DataFrame(records, columns=GROUP_KEYS + ["value", "ci_low", "ci_high"])


def side_by_side(run_a: Path, run_b: Path) -> pd.DataFrame:
    """estimates.csv: estimates present in both runs, joined on model, task, metric, kind, grouping and group."""
    a = pd.concat([_estimates(run_a), _item_group_estimates(run_a)], ignore_index=True)
    b = pd.concat([_estimates(run_b), _item_group_estimates(run_b)], ignore_index=True)
    joined = a.merge(b, on=GROUP_KEYS, suffixes=("_a", "_b"), how="inner")
    joined["difference"] = joined["value_b"] - joined["value_a"]
    return joined.sort_values(GROUP_KEYS, kind="stable").reset_index(drop=True)


def _rank(x: np.ndarray) -> np.ndarray:
    return pd.Series(x).rank(method="average").to_numpy()


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def agreement_table(estimates: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """agreement.csv: per metric × kind, Pearson r and Spearman rho with bootstrap CIs, and sign agreement of gaps."""
    records = []
    for (metric, kind), part in estimates.groupby(["metric", "kind"], sort=True):
        part = part.dropna(subset=["value_a", "value_b"])
        x, y = part["value_a"].to_numpy(float), part["value_b"].to_numpy(float)
        se_x, se_y = _se(part, "a"), _se(part, "b")
        rng = np.random.default_rng(seed_from(seed, "compare", metric, kind))
        pearson, spearman = [], []
        for _ in range(n_boot if len(x) >= 3 else 0):
            take = rng.integers(0, len(x), len(x))
            xs = x[take] + rng.normal(0.0, 1.0, len(x)) * se_x[take]
            ys = y[take] + rng.normal(0.0, 1.0, len(x)) * se_y[take]
            pearson.append(_corr(xs, ys))
            spearman.append(_corr(_rank(xs), _rank(ys)))
        p_low, p_high = _interval(pearson)
        s_low, s_high = _interval(spearman)
        sign = float(np.mean(np.sign(x) == np.sign(y))) if kind == "gap_vs_rest" and len(x) else float("nan")
        records.append({
            "metric": metric, "kind": kind, "n_pairs": len(x),
            "pearson_r": _corr(x, y), "pearson_ci_low": p_low, "pearson_ci_high": p_high,
            "spearman_rho": _corr(_rank(x), _rank(y)), "spearman_ci_low": s_low, "spearman_ci_high": s_high,
            "sign_agreement": sign, "n_boot": n_boot if len(x) >= 3 else 0,
            "note": "" if len(x) >= 3 else "fewer than 3 paired estimates: no correlation",
        })
    return pd.DataFrame(records, columns=["metric", "kind", "n_pairs", "pearson_r", "pearson_ci_low", "pearson_ci_high",
                                          "spearman_rho", "spearman_ci_low", "spearman_ci_high", "sign_agreement", "n_boot", "note"])


def _se(part: pd.DataFrame, side: str) -> np.ndarray:
    """Standard error implied by each 95% CI (0 where the CI is missing)."""
    width = (part[f"ci_high_{side}"] - part[f"ci_low_{side}"]).to_numpy(float) / 3.92
    return np.nan_to_num(width, nan=0.0)


def _interval(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    if array.size < 10:
        return float("nan"), float("nan")
    return float(np.percentile(array, 2.5)), float(np.percentile(array, 97.5))


def verdict_table(run_a: Path, run_b: Path, notes: list[str]) -> pd.DataFrame:
    """verdicts.csv from each run's scores/headline.csv (a note, and no rows, when either lacks it)."""
    columns = VERDICT_KEYS + ["verdict_a", "verdict_b", "verdict_agree", "worst_group_a", "worst_group_b", "worst_group_agree", "gap_a", "gap_b"]
    heads = {}
    for side, run in (("a", run_a), ("b", run_b)):
        path = RunDir(run).headline_csv
        if not path.is_file():
            notes.append(f"{run} has no scores/headline.csv (written by the headline scorer): headline verdict agreement not computed")
            return pd.DataFrame(columns=columns)
        heads[side] = pd.read_csv(path, keep_default_na=False, dtype=str)
    missing = [c for c in VERDICT_KEYS + ["verdict", "worst_group", "gap"] if c not in heads["a"].columns or c not in heads["b"].columns]
    if missing:
        notes.append(f"headline.csv lacks column(s) {', '.join(missing)}: verdict agreement not computed")
        return pd.DataFrame(columns=columns)
    joined = heads["a"].merge(heads["b"], on=VERDICT_KEYS, suffixes=("_a", "_b"))
    joined["verdict_agree"] = joined["verdict_a"] == joined["verdict_b"]
    joined["worst_group_agree"] = joined["worst_group_a"] == joined["worst_group_b"]
    return joined[columns].reset_index(drop=True)


def _results(run_dir: Path) -> pd.DataFrame:
    from biasbench.scoring.rundata import load_run

    return load_run(run_dir).frame


def item_agreement(run_a: Path, run_b: Path) -> pd.DataFrame:
    """items.csv: per model × task, per-item agreement between the runs (flips, or the sign of the per-item gap)."""
    from biasbench.scoring.flips import answer_categories

    columns = ["model", "task", "quantity", "n_items", "both", "only_a", "only_b", "neither", "agreement", "kappa"]
    per_run = []
    for run in (run_a, run_b):
        data = _results(run)
        frame = data[data["modality"] == "audio"].copy()
        axis = next((a for a in ("gender", "race", "accent", "age_band") if (frame[a] != "").any()), "")
        frame["answer"] = answer_categories(frame)
        per_run.append((frame, axis))
    (fa, axis_a), (fb, axis_b) = per_run
    records = []
    for (model, task), part_a in fa.groupby(["model", "task"], sort=True):
        part_b = fb[(fb["model"] == model) & (fb["task"] == task)]
        if part_b.empty:
            continue
        scored = (part_a["outcome"] == "scored").any()
        if scored:
            if axis_a != axis_b or not axis_a:
                continue
            flags_a, flags_b = _gap_signs(part_a, axis_a), _gap_signs(part_b, axis_a)
            quantity = f"gap_sign_{axis_a}"
        else:
            flags_a, flags_b = _flips(part_a), _flips(part_b)
            quantity = "flip"
        shared = sorted(set(flags_a.index) & set(flags_b.index))
        if not shared:
            continue
        x, y = flags_a.loc[shared].to_numpy(bool), flags_b.loc[shared].to_numpy(bool)
        both, only_a, only_b, neither = int((x & y).sum()), int((x & ~y).sum()), int((~x & y).sum()), int((~x & ~y).sum())
        n = len(shared)
        observed = (both + neither) / n
        expected = (x.mean() * y.mean()) + ((1 - x.mean()) * (1 - y.mean()))
        kappa = (observed - expected) / (1 - expected) if expected < 1 else float("nan")
        records.append({"model": model, "task": task, "quantity": quantity, "n_items": n, "both": both, "only_a": only_a,
                        "only_b": only_b, "neither": neither, "agreement": observed, "kappa": kappa})
    return pd.DataFrame(records, columns=columns)


def _flips(part: pd.DataFrame) -> pd.Series:
    """item -> True when two voices gave different answers to it (answers of erroring rows left out)."""
    answered = part[part["answer"] != ""]
    return answered.groupby("item_id")["answer"].nunique() > 1


def _gap_signs(part: pd.DataFrame, axis: str) -> pd.Series:
    """item -> True when the item's score is higher for the first group of ``axis`` than for the rest."""
    scored = part[part["outcome"] == "scored"]
    means = scored.groupby(["item_id", axis])["score"].mean().unstack(axis)
    first = sorted(means.columns)[0]
    rest = means.drop(columns=[first]).mean(axis=1)
    return (means[first] > rest).dropna()


def compare_runs(run_a: Path, run_b: Path, out_dir: Path | None = None, *, n_boot: int = 2000, seed: int = 0) -> Comparison:
    """Compare two scored runs; write :data:`FILES` into ``out_dir`` when given."""
    for run in (run_a, run_b):
        if not Path(run).is_dir():
            raise DataError(f"run directory '{run}' does not exist", hint="pass two --out folders of `biasbench run`")
    notes: list[str] = []
    estimates = side_by_side(Path(run_a), Path(run_b))
    if estimates.empty:
        notes.append("the runs share no model × task × group estimates (same models, tasks and axes are needed)")
    tables = {
        "estimates": estimates,
        "agreement": agreement_table(estimates, n_boot, seed),
        "verdicts": verdict_table(Path(run_a), Path(run_b), notes),
        "items": item_agreement(Path(run_a), Path(run_b)),
    }
    paths: list[Path] = []
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, file in FILES.items():
            tables[name].to_csv(out_dir / file, index=False, float_format="%.6g", lineterminator="\n")
            paths.append(out_dir / file)
        (out_dir / "notes.txt").write_text("".join(f"{n}\n" for n in notes), encoding="utf-8")
    return Comparison(tables, tuple(notes), out_dir, tuple(paths))
