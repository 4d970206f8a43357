"""Opening cached clips (what a resume does for every clip) and their size on disk, FLAC vs WAV.

    python benchmarks/bench_audio_cache.py [--clips 5000] [--seconds 6] [--repeats 3] [--real 6]

Stores --clips clips of --seconds each (a tone plus noise, 16 kHz) in a FLAC cache and a WAV cache, then
opens every clip (``AudioCache.get``) with the default check (sidecar + file size) and with
``verify=True`` (sidecar + sha256 of the whole file: the work every open did before, and what
``--verify-cache`` does), best of --repeats, warm page cache. Sizes are measured on --real clips of the
espeak demo pool (speech compresses; noise does not), when espeak is installed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from biasbench.core.audio import Audio
from biasbench.voices.cache import AudioCache


def _clip(index: int, seconds: float) -> Audio:
    rng = np.random.default_rng(index)
    t = np.arange(int(16_000 * seconds)) / 16_000
    return Audio((0.3 * np.sin(2 * np.pi * (150 + index % 200) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32), 16_000)


def _fill(cache: AudioCache, keys: list[str], seconds: float) -> float:
    started = time.perf_counter()
    for index, key in enumerate(keys):
        cache.put(key, _clip(index, seconds))
    return time.perf_counter() - started


def _open_all(root: Path, keys: list[str], verify: bool, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        cache = AudioCache(root, verify=verify)
        started = time.perf_counter()
        found = sum(cache.get(key) is not None for key in keys)
        best = min(best, time.perf_counter() - started)
        assert found == len(keys), f"{len(keys) - found} clips not found"
    return best


def _real_sizes(count: int) -> tuple[int, int] | None:
    """Bytes of ``count`` espeak clips stored as WAV and as FLAC (None without espeak)."""
    try:
        import espeakng_loader  # noqa: F401
    except ImportError:
        return None
    from biasbench.voices.spec import load_pool
    from biasbench.voices.synthesis import synthesize

    pool = load_pool("demo_espeak")
    texts = ["Which of these is the capital of France? A: Paris. B: Lyon. C: Marseille. D: Nice."]
    sizes = []
    with tempfile.TemporaryDirectory() as folder:
        for audio_format in ("wav", "flac"):
            cache = AudioCache(Path(folder) / audio_format, audio_format=audio_format)
            result = synthesize(pool.voices[:count], texts, cache, tts_params={"espeak": {"engine": "library"}}, workers=1)
            sizes.append(sum(Path(part.path).stat().st_size for part in result.clips.values()))
    return sizes[0], sizes[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--real", type=int, default=6, help="espeak clips for the size comparison (0: skip)")
    args = parser.parse_args()
    keys = [f"{index:064x}" for index in range(args.clips)]
    print(f"{args.clips} clips of {args.seconds:g} s (16 kHz), best of {args.repeats}, warm page cache")
    with tempfile.TemporaryDirectory() as folder:
        for audio_format in ("wav", "flac"):
            root = Path(folder) / audio_format
            store_s = _fill(AudioCache(root, audio_format=audio_format), keys, args.seconds)
            stored = sum(p.stat().st_size for p in (root / "audio").rglob(f"*.{audio_format}"))
            rehash = _open_all(root, keys, True, args.repeats)
            size_only = _open_all(root, keys, False, args.repeats)
            print(
                f"{audio_format}: store {store_s:.2f} s ({1000 * store_s / args.clips:.2f} ms/clip), {stored / 1e6:.1f} MB; "
                f"open with re-hash (before / --verify-cache) {rehash:.3f} s ({1000 * rehash / args.clips:.3f} ms/clip); "
                f"open by size {size_only:.3f} s ({1000 * size_only / args.clips:.3f} ms/clip); {rehash / size_only:.1f}x faster"
            )
    if args.real:
        sizes = _real_sizes(args.real)
        if sizes is None:
            print("real clips: skipped (espeak-ng not installed: pip install 'biasbench[tts]')")
        else:
            wav, flac = sizes
            print(f"{args.real} espeak clips: WAV {wav / 1e3:.0f} kB, FLAC {flac / 1e3:.0f} kB (FLAC/WAV {flac / wav:.2f})")


if __name__ == "__main__":
    main()
