"""Divergence-test validation: false-alarm rate with nothing planted, power with a planted gendered
occupation preference that keeps the mean BLS % women equal (biasbench.scoring.divergence_validation).

Acceptance: false-alarm rate (any detection in the family: gender, race, cell; Holm) <= 5%.

    python benchmarks/validate_divergence.py [--null 500] [--planted 100] [--voices-per-cell 3] [--strength 1.0] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

from biasbench.scoring.divergence_validation import DivergenceDesign, validate_divergence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null", type=int, default=500, help="experiments with nothing planted")
    parser.add_argument("--planted", type=int, default=100, help="experiments with the planted preference")
    parser.add_argument("--voices-per-cell", type=int, default=3)
    parser.add_argument("--items", type=int, default=12)
    parser.add_argument("--perm", type=int, default=199)
    parser.add_argument("--strength", type=float, default=1.0, help="planted share mixed into the null distribution")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    design = DivergenceDesign(voices_per_cell=args.voices_per_cell, n_items=args.items, n_perm=args.perm, strength=args.strength)
    start = time.perf_counter()
    result = validate_divergence(design, args.null, args.planted, seed=args.seed)
    low, high = result["false_alarm_ci"]
    plow, phigh = result["power_ci"]
    print(f"false-alarm rate: {result['false_alarm_rate']:.3f} ({result['false_alarms']}/{result['n_null']}; 95% CI {low:.3f}-{high:.3f})")
    print(f"power (gender, planted): {result['power']:.3f} ({result['detections']}/{result['n_planted']}; 95% CI {plow:.3f}-{phigh:.3f})")
    print(f"planted mean % women gap (female - male voices): {result['planted_mean_pct_women_gap']:+.2f} points")
    verdict = "n/a (no null experiments)" if not args.null else ("PASS" if result["false_alarm_rate"] <= 0.05 else "FAIL")
    print(f"acceptance (false-alarm rate <= 0.05): {verdict}; {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
