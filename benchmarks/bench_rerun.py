"""Re-running a finished run: 0 TTS calls, 0 model calls, ≤ 5% of the cold run's wall time.

Runs `biasbench run CONFIG --out DIR` twice in fresh processes (cold, then warm into the same DIR)
and prints both wall times, the warm invocation's call counts and the ratio, measured in one run.

    python benchmarks/bench_rerun.py [--config configs/quickstart.yaml]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_run(config: Path, out: Path) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "biasbench", "run", str(config), "--out", str(out), "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "quickstart.yaml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cold = timed_run(args.config, out)
        warm = timed_run(args.config, out)
        invocations = json.loads((out / "manifest.json").read_text())["invocations"]
    first, last = invocations[0], invocations[-1]
    print(f"config: {args.config}")
    print(f"cold run : {cold:7.2f} s wall  ({first['tts_calls']} TTS calls, {first['model_calls']} model calls)")
    print(f"re-run   : {warm:7.2f} s wall  ({last['tts_calls']} TTS calls, {last['model_calls']} model calls)")
    ratio = warm / cold
    print(f"ratio    : {ratio:.3f} (target ≤ 0.05) -> {'PASS' if ratio <= 0.05 and last['tts_calls'] == last['model_calls'] == 0 else 'FAIL'}")


if __name__ == "__main__":
    main()
