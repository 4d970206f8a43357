"""Batched vs per-item generation throughput of the qwen2-audio adapter.

Builds the tiny random Qwen2-Audio (CPU here; pass --model for a real checkpoint on a GPU), speaks
--requests short questions with espeak-ng, and answers them once with batch_size 1 and once with
--batch-size, checking both give identical text. Prints requests/s for each and the speed-up.

    python benchmarks/bench_batching.py [--requests 32] [--batch-size 8] [--model PATH_OR_HUB_ID --device-map cuda:0]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from biasbench.adapters.qwen2_audio import Qwen2AudioAdapter  # noqa: E402
from biasbench.core.messages import GenerationParams  # noqa: E402
from biasbench.testing.requests import make_request  # noqa: E402
from biasbench.testing.speech import audio_part, speak  # noqa: E402
from biasbench.testing.tiny_models import build_tiny_qwen2_audio  # noqa: E402

QUESTIONS = (
    "Which planet is closest to the sun?",
    "What is the capital of France?",
    "How many legs does a spider have?",
    "Which gas do plants take in from the air?",
    "What is the boiling point of water at sea level?",
    "Who wrote the play Romeo and Juliet?",
    "What is the largest ocean on Earth?",
    "How many minutes are in an hour?",
)
VOICES = ("en-us", "en-gb", "en-029", "en-us+f3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--model", default=None, help="checkpoint (default: a tiny random model built now)")
    parser.add_argument("--device-map", default=None)
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = args.model or str(build_tiny_qwen2_audio(folder / "tiny", seed=0))
        params = GenerationParams(max_new_tokens=args.max_new_tokens)
        requests = [
            make_request(
                "Answer the spoken question in one word.",
                audio_part(speak(QUESTIONS[i % len(QUESTIONS)], voice=VOICES[i % len(VOICES)]), folder, f"q{i}"),
                params=params,
            )
            for i in range(args.requests)
        ]
        results = {}
        for size in (1, args.batch_size):
            adapter = Qwen2AudioAdapter.from_params({"model": model, "batch_size": size, "device_map": args.device_map, "dtype": args.dtype})
            adapter.load()
            adapter.generate(requests[:size])  # warm-up
            start = time.perf_counter()
            answers = [r for i in range(0, len(requests), size) for r in adapter.generate(requests[i : i + size])]
            results[size] = (time.perf_counter() - start, [a.text for a in answers])
            adapter.close()
    (t1, single), (tb, batched) = results[1], results[args.batch_size]
    n = args.requests
    print(f"model={'tiny random Qwen2-Audio' if args.model is None else args.model} requests={n} max_new_tokens={args.max_new_tokens} cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    print(f"per-item  (batch 1): {t1:7.2f} s  {n / t1:7.2f} req/s")
    print(f"batched (batch {args.batch_size}): {tb:7.2f} s  {n / tb:7.2f} req/s")
    print(f"speed-up: {t1 / tb:.2f}x; identical outputs: {single == batched}")
    return 0 if single == batched else 1


if __name__ == "__main__":
    raise SystemExit(main())
