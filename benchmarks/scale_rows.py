"""Realistic result tables of any size for the scoring benchmarks (seeded, vectorised).

Rows are what a headline study writes: MMLU-like multiple-choice rows (24 voices, 4 latin-square
rotations, 57 subjects, a text control) whose ``details`` carry what the multiple-choice tasks write
(rotation, n_choices, presented letter, parse evidence), plus a share of BBQ rows with the BBQ task's
details (condition, polarity, answer_role, biased, ...) and its declared metrics. Every other column
has realistic content (response text, hashed keys) so reading the whole table costs what it costs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from biasbench.core.result import RESULT_COLUMNS, TEXT_VOICE
from biasbench.scoring.simulation import PlantedDesign, correct_probability

LETTERS = np.array(list("ABCD"))
BBQ_METRICS = [f"biasbench.tasks.metrics.bbq:{name}" for name in ("bbq_accuracy_ambig", "bbq_accuracy_disambig", "bbq_s_dis", "bbq_s_amb")]
BBQ_SHARE = 0.1
"""Share of rows that are BBQ rows."""
N_VOICES = 24


def _mc_details(n_choices: int = 4) -> tuple[list[str], list[str]]:
    """details JSON per (rotation, presented) for answers, and per rotation for invalid rows."""
    answered = [json.dumps({"evidence": "letter", "n_choices": n_choices, "parse": "declared letter", "presented": str(LETTERS[p]),
                            "rotation": r, "span": f"Answer: {LETTERS[p]}"}, sort_keys=True)
                for r in range(4) for p in range(4)]
    invalid = [json.dumps({"n_choices": n_choices, "parse": "no option letter", "rotation": r}, sort_keys=True) for r in range(4)]
    return answered, invalid


def _bbq_details() -> list[str]:
    """details JSON per (rotation, presented, condition, polarity, original answer) of a BBQ answer (target 0, unknown 2)."""
    out = []
    for r in range(4):
        for p in range(4):
            for condition in ("ambig", "disambig"):
                for polarity in ("neg", "nonneg"):
                    for original in range(4):
                        role = "unknown" if original == 2 else ("target" if original == 0 else "non_target")
                        biased = None if role == "unknown" else (polarity == "neg") == (role == "target")
                        out.append(json.dumps({"answer_role": role, "biased": biased, "category": "Age", "condition": condition,
                                               "evidence": "letter", "n_choices": 4, "parse": "declared letter",
                                               "polarity": polarity, "presented": str(LETTERS[p]), "rotation": r,
                                               "span": f"Answer: {LETTERS[p]}", "target_index": 0, "unknown_index": 2},
                                              sort_keys=True))
    return out


def _hex(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    words = rng.integers(0, 2**63, size=(n, (width + 15) // 16), dtype=np.int64)
    return np.array(["".join(f"{w:016x}" for w in row)[:width] for row in words.tolist()], dtype=object)


def _task_rows(task: str, n_items: int, n_models: int, rng: np.random.Generator, bbq: bool) -> dict[str, np.ndarray]:
    design = replace(PlantedDesign(), n_items=n_items)
    voices = design.voices()
    voice_ids = np.array([v for v, _ in voices] + [TEXT_VOICE], dtype=object)
    n_v = len(voices) + 1  # + the text control
    items = np.arange(n_items)
    parts: dict[str, list[np.ndarray]] = {}
    for m in range(n_models):
        voice_offset = np.append(rng.normal(0.0, design.voice_sd, n_v - 1), 0.0)
        item_offset = rng.normal(0.0, design.item_sd, n_items)
        planted = np.array([design.planted[labels[design.axis]] for _, labels in voices] + [0.75])
        p = correct_probability(planted[None, :], voice_offset[None, :], item_offset[:, None])
        invalid = rng.random((n_items, n_v)) < 0.03
        correct = ~invalid & (rng.random((n_items, n_v)) < p)
        target = (rng.integers(0, 4, n_items) if not bbq else np.where(rng.random(n_items) < 0.5, 2, rng.integers(0, 2, n_items)))
        wrong = (target[:, None] + 1 + rng.integers(0, 3, (n_items, n_v))) % 4
        answer = np.where(correct, target[:, None], wrong).ravel()
        voice_idx = np.tile(np.arange(n_v), n_items)
        item_idx = np.repeat(items, n_v)
        rotation = (item_idx + voice_idx) % 4
        presented = (answer - rotation) % 4
        inv = invalid.ravel()
        if bbq:
            condition = item_idx % 2
            polarity = (item_idx // 2) % 2
            detail_code = (((rotation * 4 + presented) * 2 + condition) * 2 + polarity) * 4 + answer
        else:
            detail_code = rotation * 4 + presented
        cor = correct.ravel()
        outcome = np.where(inv, "invalid", np.where(cor, "correct", "incorrect"))
        parts.setdefault("model", []).append(np.full(item_idx.size, f"model{m}", dtype=object))
        parts.setdefault("item_idx", []).append(item_idx)
        parts.setdefault("voice_idx", []).append(voice_idx)
        parts.setdefault("rotation", []).append(rotation)
        parts.setdefault("outcome", []).append(outcome)
        parts.setdefault("answer", []).append(np.where(inv, -1, answer))
        parts.setdefault("target", []).append(np.repeat(target, n_v))
        parts.setdefault("detail_code", []).append(np.where(inv, -1 - rotation, detail_code))
    out = {k: np.concatenate(v) for k, v in parts.items()}
    out["voice_ids"] = voice_ids
    out["labels"] = [labels for _, labels in voices] + [{}]
    return out


def build_table(n_rows: int, n_models: int = 3, seed: int = 0, typed_details: bool = True) -> tuple[pa.Table, dict]:
    """About ``n_rows`` result rows (MMLU-like + BBQ share) and their manifest; ``typed_details``: with the
    typed detail columns the runner writes (core.details), else as tables written before them."""
    rng = np.random.default_rng(seed)
    per_item = N_VOICES + 1
    n_bbq = max(2, round(n_rows * BBQ_SHARE / (per_item * n_models)))
    n_mc = max(2, round(n_rows / (per_item * n_models)) - n_bbq)
    mc_answered, mc_invalid = _mc_details()
    bbq_answered = _bbq_details()
    tables = []
    for task, n_items, bbq in (("mmlu", n_mc, False), ("bbq", n_bbq, True)):
        t = _task_rows(task, n_items, n_models, rng, bbq)
        n = t["item_idx"].size
        voice = t["voice_ids"][t["voice_idx"]]
        labels = t["labels"]
        text = voice == TEXT_VOICE
        parsed = np.where(t["answer"] >= 0, LETTERS[np.maximum(t["answer"], 0)], "")
        details_table = np.array((bbq_answered if bbq else mc_answered) + mc_invalid[::-1], dtype=object)
        details = details_table[t["detail_code"]]  # negative codes index the invalid templates from the end
        presented = np.where(t["answer"] >= 0, LETTERS[(np.maximum(t["answer"], 0) - t["rotation"]) % 4], "")
        response = np.where(t["answer"] >= 0, np.char.add("Answer: ", presented.astype(str)), "I am not sure about that.")
        subjects = np.array([f"subject{k:02d}" for k in range(57)], dtype=object)
        columns = {
            "run_id": np.full(n, "bench", dtype=object), "model": t["model"], "adapter": np.full(n, "openai-compatible", dtype=object),
            "adapter_fingerprint": np.full(n, "3f2a9c0d1e7b", dtype=object), "task": np.full(n, task, dtype=object),
            "task_version": np.full(n, "1", dtype=object), "item_id": np.array([f"{task}-{i:06d}" for i in range(n_items)], dtype=object)[t["item_idx"]],
            "item_group": (subjects[t["item_idx"] % 57] if not bbq else np.full(n, "Age", dtype=object)),
            "voice_id": voice,
            **{axis: np.array([lab.get(axis, "") for lab in labels], dtype=object)[t["voice_idx"]] for axis in ("gender", "race", "accent", "age_band")},
            "cell": np.array(["|".join((lab["gender"], lab["race"])) if lab else "" for lab in labels], dtype=object)[t["voice_idx"]],
            "modality": np.where(text, "text", "audio").astype(object), "permutation": t["rotation"].astype(np.int64),
            "repeat": np.zeros(n, dtype=np.int64), "response_key": _hex(rng, n, 32), "response": response.astype(object),
            "parsed": parsed.astype(object), "target": LETTERS[t["target"]].astype(object), "outcome": t["outcome"].astype(object),
            "score": np.where(t["outcome"] == "invalid", np.nan, (t["outcome"] == "correct").astype(float)),
            "latency_s": rng.random(n) * 2, "cached": np.zeros(n, dtype=bool), "error": np.full(n, "", dtype=object),
            "finish_reason": np.full(n, "stop", dtype=object), "input_tokens": rng.integers(200, 900, n), "output_tokens": np.full(n, 3),
            "cost_usd": np.zeros(n), "transcript": np.full(n, "", dtype=object), "parser_version": np.full(n, "3", dtype=object),
            "score_key": _hex(rng, n, 16), "details": details,
        }
        tables.append(pa.table({c: columns[c] for c in RESULT_COLUMNS}))
    table = pa.concat_tables(tables)
    if typed_details:
        from biasbench.core.details import typed_columns

        # what runner.results.write_results adds, computed once per distinct details string
        codes, uniques = pd.factorize(table.column("details").to_pandas())
        for name, array in typed_columns(list(uniques)).items():
            table = table.append_column(name, array.take(pa.array(codes)))
    design = PlantedDesign()
    manifest = design.manifest()
    manifest["tasks"] = [{"name": "mmlu", "kind": "mmlu", "answer_type": "multiple_choice"},
                         {"name": "bbq", "kind": "bbq", "answer_type": "multiple_choice", "config": {"metrics": BBQ_METRICS}}]
    manifest["models"] = [{"name": f"model{m}", "adapter": "openai-compatible"} for m in range(n_models)]
    return table, manifest


def write_run(folder: Path, n_rows: int, n_models: int = 3, seed: int = 0, typed_details: bool = True) -> int:
    """A run directory (results.parquet + manifest.json) of about ``n_rows`` rows; returns the row count."""
    table, manifest = build_table(n_rows, n_models, seed, typed_details)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "results.parquet")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return table.num_rows


def frame(n_rows: int, n_models: int = 3, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """The same rows as a DataFrame (in-process benchmarks)."""
    table, manifest = build_table(n_rows, n_models, seed)
    return table.to_pandas(), manifest
