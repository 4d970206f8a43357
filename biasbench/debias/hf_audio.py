"""Audio columns of Hugging Face `datasets`: WAV bytes embedded at write time, decoded without torchcodec."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping

from biasbench.core.audio import MODEL_SAMPLE_RATE, Audio
from biasbench.core.deps import require
from biasbench.core.errors import DataError


def audio_feature(sample_rate: int = MODEL_SAMPLE_RATE, *, decode: bool = True) -> Any:
    """``datasets.Audio`` at ``sample_rate`` (decoding needs ``torchcodec`` in datasets >= 4)."""
    datasets = require("datasets", "finetune", purpose="writing spoken datasets")
    return datasets.Audio(sampling_rate=sample_rate, decode=decode)


def embedded_clip(path: str | Path, name: str) -> dict[str, Any]:
    """An Audio cell holding the file's bytes, so the saved dataset does not point into a cache."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"audio file not found: {path}")
    return {"bytes": path.read_bytes(), "path": name}


def decode_clip(value: Mapping[str, Any], target_rate: int = MODEL_SAMPLE_RATE) -> Audio:
    """Samples of an undecoded Audio cell (``{'bytes', 'path'}``) at ``target_rate``."""
    import soundfile as sf

    data = value.get("bytes")
    try:
        if data:
            samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        elif value.get("path"):
            samples, rate = sf.read(str(value["path"]), dtype="float32", always_2d=True)
        else:
            raise DataError("an audio cell has neither bytes nor a path")
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise DataError(f"unreadable audio in dataset cell '{value.get('path')}': {exc}") from None
    return Audio(samples.mean(axis=1), int(rate)).resampled(target_rate)


def undecoded(dataset: Any, column: str = "audio") -> Any:
    """``dataset`` with ``column`` cast to undecoded Audio (rows give bytes; see :func:`decode_clip`)."""
    feature = dataset.features[column]
    return dataset.cast_column(column, audio_feature(feature.sampling_rate or MODEL_SAMPLE_RATE, decode=False))
