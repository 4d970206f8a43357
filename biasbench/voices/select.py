"""Balanced speaker selection from a corpus metadata table (`biasbench voices select`).

One row per clip; columns are mapped by name. Per speaker the best clip is kept (inside the
preferred duration range, then highest SNR when known, then closest to the range's middle); per
cell, ``per_cell`` speakers are chosen among seeded random candidate sets so that secondary
covariates (clip duration always, plus e.g. age) match the pooled distribution as closely as
possible; half of each cell goes to the train split. Deterministic for a seed.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from biasbench.core.errors import ConfigError, DataError
from biasbench.core.hashing import file_sha256
from biasbench.core.voice import AXES, LABEL_SOURCES

REQUIRED = ("path", "transcript", "speaker")
"""Column roles every corpus table must provide."""
OPTIONAL = ("duration", "snr")
"""Column roles used when present (duration is read from the audio files otherwise)."""
CANDIDATE_SETS = 400
"""Seeded random candidate sets tried per cell when choosing the covariate-balanced subset."""


@dataclass(frozen=True)
class SelectionOptions:
    """How to select a pool from a corpus table."""

    axes: tuple[str, ...] = ("gender", "race")
    """Axes to balance over (each needs a column)."""
    per_cell: int = 4
    """Speakers per cell."""
    columns: Mapping[str, str] = field(default_factory=dict)
    """Role ('path', 'transcript', 'speaker', 'duration', 'snr', or an axis) -> column name; default = role."""
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Axis -> the values to keep (others dropped); default: every value present."""
    covariates: tuple[str, ...] = ()
    """Extra columns to balance across cells (numeric or categorical); clip duration is always balanced."""
    min_seconds: float = 3.0
    """Preferred shortest reference clip."""
    max_seconds: float = 15.0
    """Preferred longest reference clip."""
    train_per_cell: int | None = None
    """Speakers per cell in the train split (default: half, rounded down)."""
    seed: int = 0
    """Seed of every random choice."""
    engine: str = "maskgct"
    """TTS backend written into the spec."""
    label_source: str = "self-reported"
    """Provenance of the corpus labels."""
    corpus: str = ""
    """Corpus name (written into every voice)."""
    license: str = ""
    """Licence of the corpus audio."""

    def __post_init__(self) -> None:
        for axis in self.axes:
            if axis not in AXES:
                raise ConfigError(f"axis '{axis}' is not one of {', '.join(AXES)}")
        if self.per_cell < 1:
            raise ConfigError("per_cell must be at least 1")
        if not 0 < self.min_seconds < self.max_seconds:
            raise ConfigError("need 0 < min_seconds < max_seconds")
        if self.train_per_cell is not None and not 0 <= self.train_per_cell <= self.per_cell:
            raise ConfigError("train_per_cell must be between 0 and per_cell")
        if self.label_source not in LABEL_SOURCES:
            raise ConfigError(f"label source '{self.label_source}' is not one of {', '.join(LABEL_SOURCES)}")

    def column(self, role: str) -> str:
        return self.columns.get(role, role)

    def to_json(self) -> dict[str, Any]:
        """Plain values (for provenance)."""
        from dataclasses import asdict

        data = asdict(self)
        data["columns"], data["values"] = dict(self.columns), {k: list(v) for k, v in self.values.items()}
        data["axes"], data["covariates"] = list(self.axes), list(self.covariates)
        return data


@dataclass(frozen=True)
class Selection:
    """The chosen pool spec and how it was chosen."""

    spec: dict[str, Any]
    """Pool spec (YAML-ready mapping) with provenance."""
    balance: list[dict[str, Any]]
    """Per cell: covariate means of the chosen speakers, plus an 'all eligible' row."""
    notes: tuple[str, ...]
    """What was dropped and why (rows without labels, speakers with inconsistent labels, ...)."""


def read_table(path: str | Path) -> Any:
    """A corpus metadata table (.csv, .tsv, .parquet, .jsonl) as a pandas DataFrame."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"corpus table not found: {path}")
    readers = {
        ".csv": lambda p: pd.read_csv(p, dtype=str, keep_default_na=False),
        ".tsv": lambda p: pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False),
        ".parquet": pd.read_parquet,
        ".jsonl": lambda p: pd.read_json(p, lines=True, dtype=False),
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"corpus table {path}: unsupported format '{path.suffix}' (use .csv, .tsv, .parquet or .jsonl)")
    try:
        return reader(path)
    except Exception as exc:  # pandas raises many parser errors
        raise DataError(f"corpus table {path} could not be read: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None


def select_pool(table: Any, options: SelectionOptions, *, table_dir: Path, spec_dir: Path, name: str, provenance: Mapping[str, Any] | None = None) -> Selection:
    """Choose a balanced pool from ``table`` (clip paths relative to ``table_dir``; written relative to ``spec_dir``)."""
    roles = [*REQUIRED, *options.axes]
    missing = [f"{role} -> '{options.column(role)}'" for role in roles if options.column(role) not in table.columns]
    missing += [f"covariate '{c}'" for c in options.covariates if c not in table.columns]
    if missing:
        raise DataError(f"corpus table lacks columns: {', '.join(missing)}; it has: {', '.join(map(str, table.columns))}")
    notes: list[str] = []
    frame = _clean(table, options, table_dir, notes)
    speakers = _best_clips(frame, options, notes)
    cells = _cells(speakers, options)
    short = {cell: len(rows) for cell, rows in cells.items() if len(rows) < options.per_cell}
    if short:
        detail = ", ".join(f"{' × '.join(c)} has {n}" for c, n in short.items())
        raise DataError(f"not enough eligible speakers for {options.per_cell} per cell: {detail}")
    covariates = ["duration_s", *options.covariates]
    scale = _scales(speakers, covariates)
    rng = np.random.default_rng(options.seed)
    chosen: dict[tuple[str, ...], Any] = {}
    for cell, rows in cells.items():
        chosen[cell] = _balanced_subset(rows, speakers, covariates, scale, options, rng)
    voices, balance = [], []
    train = options.per_cell // 2 if options.train_per_cell is None else options.train_per_cell
    for cell, rows in chosen.items():
        order = rng.permutation(len(rows))
        for rank, position in enumerate(order):
            row = rows.iloc[int(position)]
            voices.append(_voice_entry(row, cell, options, spec_dir, "train" if rank < train else "eval"))
        balance.append({"cell": " × ".join(cell), **_profile(rows, covariates)})
    balance.append({"cell": "all eligible", **_profile(speakers, covariates)})
    spec = {
        "name": name,
        "description": f"Balanced pool selected from {options.corpus or 'a corpus table'}: "
        f"{' × '.join(options.axes)}, {options.per_cell} speakers per cell.",
        "purpose": "research",
        "axes": list(options.axes),
        "values": {axis: sorted({cell[i] for cell in chosen}) for i, axis in enumerate(options.axes)},
        "min_per_cell": options.per_cell,
        "max_per_cell": options.per_cell,
        "engine": options.engine,
        "label_source": options.label_source,
        "corpus": options.corpus,
        "license": options.license,
        "provenance": {**dict(provenance or {}), "seed": options.seed, "notes": list(notes), "covariate_balance": balance},
        "voices": voices,
    }
    return Selection(spec, balance, tuple(notes))


def table_provenance(path: Path) -> dict[str, Any]:
    """Where the table came from: path and sha256."""
    return {"corpus_table": str(path), "corpus_table_sha256": file_sha256(path)}


def _clean(table: Any, options: SelectionOptions, table_dir: Path, notes: list[str]) -> Any:
    import pandas as pd

    frame = pd.DataFrame({role: table[options.column(role)].astype(str).str.strip() for role in (*REQUIRED, *options.axes)})
    for covariate in options.covariates:
        frame[covariate] = table[covariate]
    for role in OPTIONAL:
        if options.column(role) in table.columns:
            frame[role] = pd.to_numeric(table[options.column(role)], errors="coerce")
    blank = frame[[*REQUIRED, *options.axes]].isin(["", "nan", "None"]).any(axis=1)
    if blank.any():
        notes.append(f"{int(blank.sum())} row(s) dropped: empty path, transcript, speaker or label")
    frame = frame[~blank]
    for axis, keep in options.values.items():
        outside = ~frame[axis].isin(list(keep))
        if outside.any():
            notes.append(f"{int(outside.sum())} row(s) dropped: {axis} not in {', '.join(keep)}")
        frame = frame[~outside]
    frame = frame.assign(path=[str(p if Path(p).is_absolute() else table_dir / p) for p in frame["path"]])
    if "duration" not in frame.columns or frame["duration"].isna().any():
        frame = frame.assign(duration=_durations(frame, notes))
    unreadable = frame["duration"].isna()
    if unreadable.any():
        notes.append(f"{int(unreadable.sum())} row(s) dropped: audio missing or unreadable and no duration given")
    return frame[~unreadable].rename(columns={"duration": "duration_s"})


def _durations(frame: Any, notes: list[str]) -> list[float]:
    import soundfile as sf

    given = frame["duration"] if "duration" in frame.columns else [math.nan] * len(frame)
    out = []
    for path, duration in zip(frame["path"], given):
        if duration == duration:  # not NaN
            out.append(float(duration))
            continue
        try:
            info = sf.info(path)
            out.append(info.frames / info.samplerate)
        except Exception:  # missing or non-audio file
            out.append(math.nan)
    return out


def _best_clips(frame: Any, options: SelectionOptions, notes: list[str]) -> Any:
    import pandas as pd

    rows = []
    inconsistent = []
    middle = (options.min_seconds + options.max_seconds) / 2
    for speaker, clips in frame.groupby("speaker", sort=True):
        labels = clips[list(options.axes)].drop_duplicates()
        if len(labels) > 1:
            inconsistent.append(str(speaker))
            continue
        in_range = clips["duration_s"].between(options.min_seconds, options.max_seconds)
        snr = clips["snr"] if "snr" in clips.columns else pd.Series(0.0, index=clips.index)
        ranked = clips.assign(
            _out=(~in_range).astype(int), _snr=-snr.fillna(-1e9), _mid=(clips["duration_s"] - middle).abs()
        ).sort_values(["_out", "_snr", "_mid", "path"], kind="mergesort")
        best = ranked.iloc[0]
        rows.append({**best.drop(["_out", "_snr", "_mid"]).to_dict(), "in_range": bool(best["_out"] == 0)})
    if inconsistent:
        notes.append(f"{len(inconsistent)} speaker(s) dropped: their clips carry different labels ({', '.join(inconsistent[:5])})")
    speakers = pd.DataFrame(rows)
    out_of_range = int((~speakers["in_range"]).sum()) if len(speakers) else 0
    if out_of_range:
        notes.append(f"{out_of_range} speaker(s) have no clip of {options.min_seconds:g}-{options.max_seconds:g} s (used only if a cell needs them)")
    return speakers


def _cells(speakers: Any, options: SelectionOptions) -> dict[tuple[str, ...], Any]:
    values = [sorted(options.values.get(axis) or speakers[axis].unique()) for axis in options.axes]
    cells = {}
    for cell in itertools.product(*values):
        mask = np.ones(len(speakers), dtype=bool)
        for axis, value in zip(options.axes, cell):
            mask &= (speakers[axis] == value).to_numpy()
        rows = speakers[mask]
        in_range = rows[rows["in_range"]]
        cells[cell] = in_range if len(in_range) >= options.per_cell else rows
    return cells


def _numeric(series: Any) -> Any:
    import pandas as pd

    converted = pd.to_numeric(series, errors="coerce")
    return converted if converted.notna().mean() >= 0.8 else None


def _scales(speakers: Any, covariates: Sequence[str]) -> dict[str, float]:
    scales = {}
    for name in covariates:
        numeric = _numeric(speakers[name])
        if numeric is not None:
            std = float(numeric.std(ddof=0))
            scales[name] = std if std > 0 else 1.0
    return scales


def _distance(rows: Any, pooled: Any, covariates: Sequence[str], scale: Mapping[str, float]) -> float:
    total = 0.0
    for name in covariates:
        if name in scale:
            total += abs(float(_numeric(rows[name]).mean()) - float(_numeric(pooled[name]).mean())) / scale[name]
        else:
            mine = rows[name].astype(str).value_counts(normalize=True)
            theirs = pooled[name].astype(str).value_counts(normalize=True)
            total += float(mine.sub(theirs, fill_value=0).abs().sum()) / 2
    return total


def _balanced_subset(rows: Any, pooled: Any, covariates: Sequence[str], scale: Mapping[str, float], options: SelectionOptions, rng: np.random.Generator) -> Any:
    rows = rows.sort_values("speaker", kind="mergesort").reset_index(drop=True)
    n, k = len(rows), options.per_cell
    if math.comb(n, k) <= CANDIDATE_SETS:
        candidates = [list(c) for c in itertools.combinations(range(n), k)]
    else:
        candidates = [sorted(rng.choice(n, size=k, replace=False).tolist()) for _ in range(CANDIDATE_SETS)]
    best = min(candidates, key=lambda c: (_distance(rows.iloc[c], pooled, covariates, scale), c))
    return rows.iloc[best].reset_index(drop=True)


def _profile(rows: Any, covariates: Sequence[str]) -> dict[str, Any]:
    profile: dict[str, Any] = {"speakers": int(len(rows))}
    for name in covariates:
        numeric = _numeric(rows[name])
        if numeric is not None:
            profile[f"{name}_mean"] = round(float(numeric.mean()), 3)
        else:
            counts = rows[name].astype(str).value_counts(normalize=True).sort_index()
            profile[f"{name}_shares"] = {str(k): round(float(v), 3) for k, v in counts.items()}
    return profile


def _voice_entry(row: Any, cell: tuple[str, ...], options: SelectionOptions, spec_dir: Path, split: str) -> dict[str, Any]:
    slug = re.sub(r"[^A-Za-z0-9_.\-]+", "-", "-".join([*cell, str(row["speaker"])])).strip("-.") or "voice"
    path = Path(row["path"])
    try:
        shown = os.path.relpath(path.resolve(), spec_dir.resolve())
    except ValueError:  # another drive (Windows)
        shown = str(path.resolve())
    entry: dict[str, Any] = {
        "id": slug,
        "reference": {"path": shown, "transcript": str(row["transcript"]), "duration_s": round(float(row["duration_s"]), 3)},
        "labels": {axis: str(row[axis]) for axis in options.axes},
        "split": split,
        "covariates": {
            "speaker": str(row["speaker"]),
            "clip_in_preferred_range": bool(row["in_range"]),
            **{name: _plain(row[name]) for name in options.covariates},
            **({"snr_db": _plain(row["snr"])} if "snr" in row.index else {}),
        },
    }
    return entry


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if math.isnan(value) else float(value)
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def write_spec(spec: Mapping[str, Any], path: Path) -> None:
    """Write a pool spec as YAML (atomic)."""
    import yaml

    from biasbench.core.files import write_text_atomic

    header = "# Written by `biasbench voices select`; see 'provenance' for the command, seed and corpus table.\n"
    write_text_atomic(path, header + yaml.safe_dump(dict(spec), sort_keys=False, allow_unicode=True, width=100))
