"""Sharding overhead: N shards + merge against one run of the same config, and the row equality check.

Every run is a separate `biasbench` process (as a Slurm array task would be) with its own run directory
and clip cache (no shared cache: each shard synthesizes its own items' clips). The config is the
quickstart's shape, kept offline and small: the demo espeak pool, `demo_mc` with ``--items`` items,
the `simulated` model, audio and text. Prints each wall time, the total shard time (sum of shard
processes: the machine time a cluster pays), the elapsed time (shards ``--parallel`` at a time) + merge,
their ratios to the single run, and whether the merged `results.parquet` equals the single run's
(ignoring run id, latency and `cached`) and the `scores/` tables are identical.

    python benchmarks/bench_shard.py [--shards 4] [--parallel 1] [--items 40] [--report]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

IGNORED = ["run_id", "latency_s", "cached"]


def write_config(folder: Path, items: int, report: bool) -> Path:
    config = {
        "name": "bench-shard",
        "pool": "demo_espeak",
        "tasks": [{"name": "demo_mc", "params": {"n_items": items}}],
        "models": [{"name": "sim", "adapter": "simulated",
                    "params": {"axis": "accent", "planted": {"en-us": 0.9, "en-gb": 0.8, "en-029": 0.6}, "seed": 0}}],
        "modalities": ["audio", "text"],
        "seed": 0,
        "report": report,
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def biasbench(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "biasbench", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> None:
    _, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(process.args)} exited {process.returncode}: {err.strip().splitlines()[-1] if err.strip() else ''}")


def timed(*args: str) -> float:
    start = time.perf_counter()
    finish(biasbench(*args))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=1, help="shards run at once")
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--report", action="store_true", help="also write report.xlsx (single run and merge)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-shard-") as tmp:
        folder = Path(tmp)
        config = write_config(folder, args.items, args.report)
        single = timed("run", str(config), "--out", str(folder / "single"), "--quiet")
        print(f"single run: {single:.2f} s")
        shard_times: list[float] = []
        started = time.perf_counter()
        for first in range(0, args.shards, args.parallel):
            wave = range(first, min(first + args.parallel, args.shards))
            begun = time.perf_counter()
            processes = [biasbench("run", str(config), "--out", str(folder / f"shard{i}"), "--shard", f"{i}/{args.shards}", "--quiet") for i in wave]
            for process in processes:  # each shard's time: from its wave's start to its own end
                finish(process)
                shard_times.append(time.perf_counter() - begun)
        shards_elapsed = time.perf_counter() - started
        merge = timed("merge", *(str(folder / f"shard{i}") for i in range(args.shards)), "--out", str(folder / "merged"))
        print(f"{args.shards} shards ({args.parallel} at a time): {shards_elapsed:.2f} s elapsed "
              f"(each: {', '.join(f'{t:.2f}' for t in shard_times)} s); merge + score: {merge:.2f} s")
        print(f"ratio (shards elapsed + merge) / single: {(shards_elapsed + merge) / single:.2f}x")
        print(f"ratio (sum of shard processes + merge) / single: {(sum(shard_times) + merge) / single:.2f}x")
        one = pd.read_parquet(folder / "single" / "results.parquet").drop(columns=IGNORED)
        merged = pd.read_parquet(folder / "merged" / "results.parquet").drop(columns=IGNORED)
        rows_equal = one.equals(merged)
        tables = sorted(p.name for p in (folder / "single" / "scores").glob("*.parquet"))
        scores_equal = tables == sorted(p.name for p in (folder / "merged" / "scores").glob("*.parquet")) and all(
            pd.read_parquet(folder / "single" / "scores" / t).equals(pd.read_parquet(folder / "merged" / "scores" / t)) for t in tables
        )
        print(f"rows: {len(one)} single, {len(merged)} merged; rows equal: {rows_equal}; scores/ tables equal ({len(tables)}): {scores_equal}")
        if not (rows_equal and scores_equal):
            raise SystemExit(1)


if __name__ == "__main__":
    main()
