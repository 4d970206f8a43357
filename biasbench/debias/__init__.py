"""Debiasing: spoken instruction data rendered through a pool's train voices, LoRA finetunes of
Qwen2-Audio, before/after comparisons on held-out voices, and export of a run as a spoken dataset."""
