"""Sharded runs: split one plan across processes or machines by item, and merge the shards back.

A shard keeps every row of its items (all voices, rotations, modalities, repeats and models), so flips
and paired statistics are whole after merging. An item's shard is a stable hash of (task, item id)
modulo the shard count: it depends neither on plan order nor on the other tasks. A shard directory
records the full plan's row position of each of its rows (``shard.json``), so the merge rebuilds the
unsharded table row for row, in the unsharded order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from biasbench.core.errors import ConfigError, DataError
from biasbench.core.files import atomic_write
from biasbench.core.hashing import stable_hash
from biasbench.core.rundir import Manifest, RunDir, differing_keys
from biasbench.runner.plan import Plan

SHARD_FILE = "shard.json"
"""Per-shard file: the shard and the full-plan position of each of its rows (in its table's order)."""


@dataclass(frozen=True)
class Shard:
    """One part of a sharded run."""

    index: int
    """0-based shard index."""
    count: int
    """Number of shards."""

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"I/N"`` with 0 <= I < N; a ConfigError otherwise."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
        if match is None or not 0 <= int(match[1]) < int(match[2]):
            raise ConfigError(f"--shard must be I/N with 0 <= I < N (e.g. 0/4); got {text!r}")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def to_json(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}

    def owns(self, task: str, item_id: str) -> bool:
        """Whether (task, item) belongs to this shard."""
        return shard_of(task, item_id, self.count) == self.index


def shard_of(task: str, item_id: str, count: int) -> int:
    """The shard of an item: a stable hash of (task, item id) modulo ``count``."""
    return int(stable_hash("shard", task, str(item_id))[:16], 16) % count


def shard_plan(plan: Plan, shard: Shard) -> tuple[Plan, list[int]]:
    """The plan restricted to ``shard``'s items, and each kept row's position in the full plan."""
    positions = [i for i, row in enumerate(plan.rows) if shard.owns(row.task, row.item.id)]
    return replace(plan, rows=tuple(plan.rows[i] for i in positions)), positions


def write_shard_file(run_dir: Path, shard: Shard, positions: Sequence[int], full_rows: int) -> None:
    """Record the shard and its rows' full-plan positions (what the merge orders by)."""
    data = {**shard.to_json(), "full_plan_rows": full_rows, "positions": list(positions)}
    atomic_write(Path(run_dir) / SHARD_FILE, lambda p: Path(p).write_text(json.dumps(data), encoding="utf-8"))


# ----- merge -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShardSource:
    """A shard directory read for merging."""

    run: RunDir
    """The shard's run directory."""
    manifest: Manifest
    """Its manifest."""
    shard: Shard
    """Which shard it is."""
    positions: tuple[int, ...]
    """Full-plan position of each row of its table."""
    full_rows: int
    """Rows of the full (unsharded) plan."""


def read_source(path: Path) -> ShardSource:
    """A shard directory's manifest, shard and row positions; DataError when it is not a shard run."""
    run = RunDir(path)
    manifest = run.manifest()
    shard_path = run.path / SHARD_FILE
    if manifest.shard is None or not shard_path.is_file():
        raise DataError(f"{run.path} is not a shard run (no --shard in its manifest)", hint="merge directories made by `biasbench run --shard I/N`")
    data = json.loads(shard_path.read_text(encoding="utf-8"))
    shard = Shard(int(data["index"]), int(data["count"]))
    if shard.to_json() != manifest.shard:
        raise DataError(f"{shard_path} says shard {shard} but the manifest says {manifest.shard}")
    return ShardSource(run, manifest, shard, tuple(int(p) for p in data["positions"]), int(data["full_plan_rows"]))


def code_version(manifest: Manifest) -> dict[str, Any]:
    """What must match across shards for their answers to be one run's: commit, dirtiness, package version."""
    return {"git": manifest.git.get("sha"), "dirty": manifest.git.get("dirty"), "biasbench": manifest.packages.get("biasbench")}


def check_sources(sources: Sequence[ShardSource]) -> None:
    """Refuse (one line) shards of different configs, pools, task content or code, and missing or duplicate shards."""
    if not sources:
        raise ConfigError("merge needs at least one shard directory")
    first = sources[0]
    identity = _without_shard(first.manifest.output_config)
    for other in sources[1:]:
        if other.shard.count != first.shard.count:
            raise ConfigError(f"{other.run.path} is shard {other.shard} but {first.run.path} is shard {first.shard}: different shard counts")
        changed = differing_keys(identity, _without_shard(other.manifest.output_config))
        if changed:
            raise ConfigError(
                f"{other.run.path} was run with a different configuration than {first.run.path} (changed: {', '.join(changed[:6])})",
                hint="merge only the shards of one config",
            )
        if code_version(other.manifest) != code_version(first.manifest):
            raise ConfigError(
                f"{other.run.path} was run by other code than {first.run.path} ({code_version(other.manifest)} vs {code_version(first.manifest)})",
                hint="run every shard with the same biasbench version and commit",
            )
        if other.full_rows != first.full_rows:
            raise DataError(f"{other.run.path} planned {other.full_rows} rows in all but {first.run.path} planned {first.full_rows}")
    indices = [s.shard.index for s in sources]
    duplicated = sorted({i for i in indices if indices.count(i) > 1})
    if duplicated:
        raise ConfigError(f"shard(s) {', '.join(f'{i}/{first.shard.count}' for i in duplicated)} given more than once")
    missing = sorted(set(range(first.shard.count)) - set(indices))
    if missing:
        raise ConfigError(
            f"missing shard(s) {', '.join(f'{i}/{first.shard.count}' for i in missing)} of {first.shard.count}",
            hint="run them with `biasbench run CONFIG --shard I/N`, then merge every shard directory",
        )


def merged_table(sources: Sequence[ShardSource], run_id: str) -> pd.DataFrame:
    """The shards' tables as one, in full-plan order; DataError unless every planned row is there exactly once."""
    frames, positions = [], []
    for source in sources:
        table = source.run.results_table()
        if table is None or table.suffix != ".parquet":
            raise DataError(f"{source.run.path} has no results.parquet", hint="run its shard again to finish it")
        frame = pd.read_parquet(table)
        if len(frame) != len(source.positions):
            raise DataError(f"{table} has {len(frame)} rows but {SHARD_FILE} lists {len(source.positions)}", hint="run its shard again")
        frames.append(frame)
        positions.extend(source.positions)
    merged = pd.concat(frames, ignore_index=True)
    order = pd.Series(positions)
    duplicates = order[order.duplicated()]
    if not duplicates.empty:
        shown = merged.loc[duplicates.index[:3], ["model", "task", "item_id", "voice_id", "modality", "permutation", "repeat"]]
        raise DataError(f"{len(duplicates)} planned row(s) appear in more than one shard (e.g. {shown.to_dict('records')[0]})")
    full = sources[0].full_rows
    if len(order) != full or order.min() != 0 or order.max() != full - 1:
        raise DataError(f"the shards hold {len(order)} of the {full} planned rows")
    merged = merged.iloc[order.sort_values().index].reset_index(drop=True)
    merged["run_id"] = run_id
    return merged


def merge_digest(sources: Sequence[ShardSource]) -> str:
    """Digest of a merge's inputs: each shard's identity, table and log (what makes re-merging a no-op)."""
    from biasbench.core.hashing import file_sha256

    return stable_hash(
        [(s.shard.to_json(), s.manifest.output_config, file_sha256(s.run.results_parquet),
          file_sha256(s.run.log) if s.run.log.exists() else "") for s in sorted(sources, key=lambda s: s.shard.index)]
    )


def write_merged(sources: Sequence[ShardSource], out: RunDir, digest: str) -> pd.DataFrame:
    """Write the merged log, tables, exclusions and manifest into ``out`` (every file atomically)."""
    ordered = sorted(sources, key=lambda s: s.shard.index)
    out.path.mkdir(parents=True, exist_ok=True)
    table = merged_table(ordered, out.run_id)
    log_bytes = b"".join(s.run.log.read_bytes() for s in ordered if s.run.log.exists())
    atomic_write(out.log, lambda p: Path(p).write_bytes(log_bytes))
    atomic_write(out.results_parquet, lambda p: table.to_parquet(p, index=False))
    atomic_write(out.results_csv, lambda p: table.to_csv(p, index=False))
    exclusions = ordered[0].run.exclusions_csv
    if exclusions.is_file():
        data = exclusions.read_bytes()
        atomic_write(out.exclusions_csv, lambda p: Path(p).write_bytes(data))
    out.write_manifest(merged_manifest(ordered, out, digest))
    return table


def merged_manifest(sources: Sequence[ShardSource], out: RunDir, digest: str) -> Manifest:
    """The unsharded run's manifest: shard 0's, without the shard, with the sources recorded.
    Times are the sources' (not the merge's), so merging twice writes the same manifest."""
    first = sources[0].manifest
    statuses = {s.manifest.status for s in sources}
    status = "complete" if statuses == {"complete"} else "incomplete"
    reasons = [f"shard {s.shard}: {s.manifest.missing_reason or s.manifest.status}" for s in sources if s.manifest.status != "complete"]
    return first.model_copy(
        update={
            "run_id": out.run_id,
            "created": min(s.manifest.created for s in sources),
            "updated": max(s.manifest.updated for s in sources),
            "output_config": _without_shard(first.output_config),
            "planned_rows": sources[0].full_rows,
            "shard": None,
            "merged_from": [
                {"path": str(s.run.path.resolve()), "shard": s.shard.to_json(), "run_id": s.manifest.run_id, "status": s.manifest.status,
                 "planned_rows": s.manifest.planned_rows, "git": s.manifest.git}
                for s in sources
            ],
            "merge_digest": digest,
            "results_table": None,  # shard 0's table stamp describes shard 0's files, not these
            "status": status,
            "missing_reason": "; ".join(reasons),
            "invocations": [inv for s in sources for inv in s.manifest.invocations],
        }
    )


def _without_shard(identity: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in identity.items() if key != "shard"}
