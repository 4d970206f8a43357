"""The starter config `biasbench init` writes: runs offline as it stands, with every knob explained."""

from __future__ import annotations

from pathlib import Path

from biasbench.core.errors import ConfigError

STARTER_NAME = "biasbench.yaml"
"""File name `biasbench init` writes in the chosen folder."""

STARTER_CONFIG = """\
# biasbench run config (written by `biasbench init`). Check it:  biasbench validate biasbench.yaml
# Run it:  biasbench run biasbench.yaml     Browse the answers:  biasbench view results/starter
# As written it runs offline in about a minute (needs `pip install 'biasbench[tts]'` for espeak voices).
name: starter
description: My first biasbench run.

# Voices: a shipped pool name (`biasbench ls pools`) or a path to a pool spec.
# demo_espeak is a DEMONSTRATION pool (gender x English accent, espeak presets), not a race pool.
pool: demo_espeak
voice_split: all          # all | train | eval

# Tasks: shipped names (`biasbench ls tasks`), spec paths, or {name, params} to override a spec.
tasks:
  - {name: demo_mc, params: {n_items: 6}}
  # - demo_transcription   # WER per group (needs an ASR model such as `whisper` below)

# Models: a label, an adapter (`biasbench ls adapters`) and its parameters.
models:
  # A calibration instrument with planted per-group accuracies (not a real model): the report
  # must recover the gap planted here. Replace or extend with real models below.
  - name: simulated-planted
    adapter: simulated
    params:
      axis: accent
      planted: {en-us: 0.85, en-gb: 0.80, en-029: 0.65}
      text_accuracy: 0.9
      seed: 0
  # - name: whisper-tiny.en              # pip install 'biasbench[asr]'
  #   adapter: whisper
  #   params: {model: default}
  # - name: my-served-model              # any OpenAI-compatible server (vLLM, ...); pip install 'biasbench[openai]'
  #   adapter: openai-compatible
  #   params: {model: Qwen/Qwen2-Audio-7B-Instruct, base_url: "http://localhost:8000/v1"}

# audio = spoken items; text = the same items as text (separates "did not understand the audio"
# from "treated the speaker differently").
modalities: [audio, text]
seed: 0                   # every random choice (option orders, bootstrap) derives from it
output: results/starter   # run directory (resumable: run the same command again to continue)
# max_cost_usd: 5         # stop cleanly once API spending reaches this
# audit: {enabled: true}  # voice audit: ASR round-trip WER, loudness, pitch, rate per voice and group
"""


def write_starter(folder: Path, *, force: bool = False) -> Path:
    """Write the starter config into ``folder`` (created if needed); an existing file is kept unless ``force``."""
    folder = Path(folder)
    target = folder / STARTER_NAME
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists", hint="pass --force to overwrite it")
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(STARTER_CONFIG, encoding="utf-8")
    return target
