"""Scoring speed: 1,000,000 result rows, group metrics + 1,000-replicate two-way cluster bootstrap,
against fairlearn MetricFrame(n_boot=1000) on the same rows; and scoring at scale (``--rows``).

    python benchmarks/bench_scoring.py [--items 14042] [--models 3] [--fairlearn-boots 5 10] [--full]
    python benchmarks/bench_scoring.py --rows 1000000 5000000 [--profile 1000000] [--keep DIR]

``--rows``: for each N, a realistic run directory of about N rows (benchmarks/scale_rows.py: MMLU-like
multiple-choice rows with the tasks' real details, 10% BBQ rows with its metrics) is written to disk,
then a fresh Python process runs ``score_run`` on it (every table, n_boot 1000) and reports its wall
time and peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``): building the rows is not measured.

fairlearn takes far too long with 1,000 replicates, so it runs on *all* the rows with two small
replicate counts (default 5 and 10) and its time at 1,000 replicates is extrapolated linearly in
the replicate count (each replicate is an independent resample: fit time = a + b · n_boot). The
output says so. Both sides compute the same groupings (gender, race, gender × race, voice) per model.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from dataclasses import replace

import numpy as np
import pandas as pd

from biasbench.scoring.rundata import run_data
from biasbench.scoring.score import ScoringOptions, score_data
from biasbench.scoring.simulation import PlantedDesign, simulate_rows


def build_rows(n_items: int, n_models: int, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """n_items × 24 voices × n_models rows, with 57 subjects and 4 latin-square rotations."""
    design = replace(PlantedDesign(), n_items=n_items)
    frames = []
    for m in range(n_models):
        rows = simulate_rows(design, seed + m)
        rows["model"] = f"model{m}"
        frames.append(rows)
    frame = pd.concat(frames, ignore_index=True)
    item_index = frame["item_id"].str.slice(1).astype(int).to_numpy()
    voice_index = frame["voice_id"].str.rsplit("-", n=1).str[-1].astype(int).to_numpy()
    frame["item_group"] = np.array([f"subject{k:02d}" for k in range(57)])[item_index % 57]
    frame["permutation"] = (item_index + voice_index) % 4
    manifest = design.manifest()
    manifest["models"] = [{"name": f"model{m}", "capabilities": {"calibration": True}} for m in range(n_models)]
    return frame, manifest


def fairlearn_time(frame: pd.DataFrame, n_boot: int, seed: int) -> float:
    """Seconds for MetricFrame(n_boot) by gender, race, gender × race and voice, for every model."""
    from fairlearn.metrics import MetricFrame

    def accuracy(y_true, y_pred):
        return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))

    start = time.perf_counter()
    for _, rows in frame.groupby("model", sort=True):
        y_true = np.ones(len(rows))
        y_pred = (rows["outcome"] == "correct").to_numpy(dtype=float)
        for features in (rows["gender"], rows["race"], rows[["gender", "race"]], rows["voice_id"]):
            MetricFrame(metrics={"accuracy": accuracy}, y_true=y_true, y_pred=y_pred, sensitive_features=features,
                        n_boot=n_boot, ci_quantiles=[0.025, 0.975], random_state=seed)
    return time.perf_counter() - start


SCORE_CHILD = """
import cProfile, pstats, resource, sys, time
from pathlib import Path
from biasbench.scoring.score import score_run
run_dir, n_boot, profile = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
start = time.perf_counter()
if profile:
    profiler = cProfile.Profile()
    profiler.runcall(score_run, run_dir, n_boot=n_boot)
else:
    score_run(run_dir, n_boot=n_boot)
wall = time.perf_counter() - start
print(f"RESULT wall_s={wall:.2f} peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}", flush=True)
if profile:
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
"""


def score_in_child(run_dir: Path, n_boot: int, profile: bool = False) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, output) of ``score_run(run_dir)`` in a fresh Python process."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", SCORE_CHILD, str(run_dir), str(n_boot), "1" if profile else "0"],
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"scoring failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    fields = dict(part.split("=") for part in line.split()[1:])
    return float(fields["wall_s"]), float(fields["peak_rss_mb"]), done.stdout


def scale(rows: list[int], n_boot: int, keep: Path | None, profile: set[int], old_format: bool = False) -> None:
    """Write a run of each size and score it in a fresh process; print time and peak RSS."""
    from scale_rows import write_run

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    for n in rows:
        with tempfile.TemporaryDirectory() as tmp:
            folder = (keep or Path(tmp)) / f"run_{n}{'_old' if old_format else ''}"
            if not (folder / "results.parquet").is_file():
                start = time.perf_counter()
                written = write_run(folder, n, typed_details=not old_format)
                print(f"rows {written:,}: built and written in {time.perf_counter() - start:.1f} s (not measured)")
            wall, rss, output = score_in_child(folder, n_boot, profile=n in profile)
            print(f"rows {n:,}: score_run (every table, n_boot {n_boot}) in a fresh process: {wall:.1f} s, peak RSS {rss:,.0f} MB "
                  f"(load average {os.getloadavg()[0]:.2f}; goal at 5M rows: <= 150 s, <= 3,072 MB)", flush=True)
            if n in profile:
                print(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", help="score realistic run directories of these sizes in a fresh process")
    parser.add_argument("--profile", type=int, nargs="*", default=(), help="sizes (of --rows) to profile with cProfile")
    parser.add_argument("--keep", type=Path, help="keep the run directories here (reused when present)")
    parser.add_argument("--old-format", action="store_true", help="tables as written before the typed detail columns (details JSON only)")
    parser.add_argument("--items", type=int, default=14042)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--fairlearn-boots", type=int, nargs=2, default=(5, 10), help="two small n_boot values fairlearn runs with")
    parser.add_argument("--full", action="store_true", help="also time every score table (headline claims, flips, tests, ...)")
    args = parser.parse_args()
    if args.rows:
        scale(args.rows, args.n_boot, args.keep, set(args.profile), args.old_format)
        return

    frame, manifest = build_rows(args.items, args.models)
    data = run_data(frame, manifest)
    print(f"rows: {len(frame):,} ({args.items} items × 24 voices × {args.models} models)")

    start = time.perf_counter()
    tables = score_data(data, ScoringOptions(n_boot=args.n_boot, seed=0), analyses=("group_metrics", "gaps"))
    ours = time.perf_counter() - start
    n_metrics = len(tables.tables["group_metrics"])
    print(f"biasbench: group metrics ({n_metrics:,} rows: overall, gender, race, cell, voice, subject, rotation × 4 metrics) "
          f"+ gaps, {args.n_boot}-replicate two-way cluster bootstrap: {ours:.2f} s (goal <= 30 s)")

    k1, k2 = args.fairlearn_boots
    t1, t2 = fairlearn_time(frame, k1, 0), fairlearn_time(frame, k2, 0)
    slope = (t2 - t1) / (k2 - k1)
    fl_full = t1 + slope * (args.n_boot - k1)
    print(f"fairlearn MetricFrame, accuracy by gender, race, gender×race, voice, all {len(frame):,} rows: "
          f"n_boot={k1}: {t1:.1f} s, n_boot={k2}: {t2:.1f} s ({slope:.2f} s per replicate); "
          f"extrapolated linearly to n_boot={args.n_boot}: {fl_full:.0f} s")
    print(f"speed-up: {fl_full / ours:.0f}× (goal >= 10×)")

    if args.full:
        start = time.perf_counter()
        score_data(data, ScoringOptions(n_boot=args.n_boot, seed=0))
        print(f"every table (headline claims, flips, permutation test, Cochran's Q, TOST, power, position): {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        score_data(data, ScoringOptions(n_boot=args.n_boot, seed=0), analyses=("headline",))
        print(f"headline claims alone (family-wise permutation tests + simultaneous CIs): {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
