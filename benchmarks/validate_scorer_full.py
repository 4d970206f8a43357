"""The full validation of the headline's decisions (issue 11 acceptance figures).

    python benchmarks/validate_scorer_full.py [--null-runs 400] [--seed 0]

For 2 × 3 × 3 and 2 × 3 × 5 pools (voice SD 0.03–0.08 on the probability scale, item difficulty,
100–1,500 items): the headline false-alarm rate under the null with its Monte-Carlo upper 95% bound,
power for a 12 pp race gap (voice SD 0.05, 200 items), power curves per axis and for a single cell,
and the coverage of every CI kind the report prints. Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from biasbench.scoring.validation import FULL_SETTINGS, report_lines, validate_divergence_check, validate_scorer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null-runs", type=int, default=FULL_SETTINGS.null_runs)
    parser.add_argument("--curve-runs", type=int, default=FULL_SETTINGS.curve_runs)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = replace(FULL_SETTINGS, null_runs=args.null_runs, curve_runs=args.curve_runs)
    print(f"settings: {settings}", flush=True)
    start = time.perf_counter()
    reports = validate_scorer(settings, seed=args.seed,
                              progress=lambda line: print(f"  {line} ({time.perf_counter() - start:.0f} s)", flush=True))
    divergence = validate_divergence_check(settings, seed=args.seed)
    for line in report_lines(reports, divergence):
        print(line)
    print(f"wall time: {time.perf_counter() - start:.1f} s")
    return 0 if all(r.passed for r in reports) and (divergence is None or divergence.passed) else 1


if __name__ == "__main__":
    sys.exit(main())
