"""Merge a finetune's LoRA adapter into the base weights: a plain checkpoint any server can load
(vLLM's Qwen2-Audio model does not take LoRA adapters in every version; a merged folder always works)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from biasbench.core.deps import require
from biasbench.core.errors import DataError
from biasbench.debias.trainer import ADAPTER_DIR, read_training_manifest


def merge_adapter(finetune_dir: Path, out_dir: Path, *, dtype: str = "auto", echo: Callable[[str], None] = print) -> Path:
    """Write base model + adapter (merged) and the processor to ``out_dir``; returns ``out_dir``."""
    transformers = require("transformers", "finetune", purpose="merging a LoRA adapter")
    peft = require("peft", "finetune", purpose="merging a LoRA adapter")
    manifest = read_training_manifest(finetune_dir)
    adapter = Path(finetune_dir) / manifest.get("adapter", ADAPTER_DIR)
    base, revision = manifest["base_model"], manifest.get("revision")
    try:
        processor = transformers.AutoProcessor.from_pretrained(base, revision=revision)
        model = transformers.Qwen2AudioForConditionalGeneration.from_pretrained(base, revision=revision, dtype=dtype)
    except OSError as exc:
        raise DataError(f"cannot load the base model '{base}': {str(exc).splitlines()[0]}") from None
    merged = peft.PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    out_dir = Path(out_dir)
    merged.save_pretrained(str(out_dir))
    processor.save_pretrained(str(out_dir))
    provenance = {"base_model": base, "revision": revision, "adapter": str(adapter), "train_voices": manifest.get("train_voices", [])}
    (out_dir / "biasbench_merge.json").write_text(json.dumps(provenance, indent=2), encoding="utf-8")
    echo(f"merged {adapter} into {base}: {out_dir}")
    return out_dir
